//! The naming rule of subjects, shared by the code generator (`build.rs` includes this
//! file) and by run-time users of the descriptors (the gateway), so both always agree.

use heck::ToSnakeCase;

/// The subject of rpc `rpc` (its name in the proto, e.g. `GetMany`) of the service in proto
/// package `package` (e.g. `users.v1`): `users.v1.get_many`.
pub fn rpc_subject(package: &str, rpc: &str) -> String {
    format!("{package}.{}", rpc.to_snake_case())
}

/// The NATS service name of proto package `package`: the package without its trailing
/// `.v<major>` (`users.v1` → `users`), or `None` when the package is not `<name>.v<major>`.
pub fn service_name(package: &str) -> Option<&str> {
    let (name, major) = package.rsplit_once('.')?;
    let major_ok =
        major.len() > 1 && major.starts_with('v') && major[1..].chars().all(|c| c.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (major_ok && name_ok).then_some(name)
}
