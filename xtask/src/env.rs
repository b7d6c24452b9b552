//! xtask's one reader of its environment. A variable set to the empty string (or to
//! blanks) counts as unset, as it does for the binaries (`switchboard::settings::Env`):
//! `NATS_SERVER_BIN= cargo xtask test` means "no NATS_SERVER_BIN", not "the file ``".

use std::ffi::OsString;

/// The value of `name`, or `None` when it is unset, empty or only blanks.
#[allow(clippy::disallowed_methods)] // xtask's one reader of its environment.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| is_set(value))
}

/// The value of `name` as an OS string (it may not be UTF-8, e.g. a path), or `None`
/// when it is unset, empty or only blanks.
#[allow(clippy::disallowed_methods)] // xtask's one reader of its environment.
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| value.to_str().is_none_or(is_set))
}

/// Whether a value counts as set: anything but the empty string or blanks.
fn is_set(value: &str) -> bool {
    !value.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::is_set;

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        assert!(!is_set(""));
        assert!(!is_set("  \t"));
        assert!(is_set("/usr/bin/nats-server"));
    }
}
