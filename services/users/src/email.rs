//! A validated, normalised email address.

use std::fmt;

/// The longest address SMTP allows (RFC 5321: 254 characters).
const MAX_LENGTH: usize = 254;
/// The longest local part (before the `@`) SMTP allows.
const MAX_LOCAL_LENGTH: usize = 64;

/// An email address that passed validation, trimmed and lower-cased so that uniqueness
/// is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validates and normalises `input`, saying what is wrong when it is not an address.
    pub fn parse(input: &str) -> Result<Self, String> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required".into());
        }
        if email.len() > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must contain an @".into());
        };
        if local.is_empty() || local.len() > MAX_LOCAL_LENGTH {
            return Err(format!(
                "the part before the @ must be 1 to {MAX_LOCAL_LENGTH} characters"
            ));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err("the part before the @ contains characters an address cannot have".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err("the domain after the @ is not a valid host name".into());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_and_normalises_addresses() {
        let email = Email::parse("  Ada.Lovelace+notes@Example.ORG ").map_err(|e| e.to_string());
        assert_eq!(
            email.as_ref().map(Email::as_str),
            Ok("ada.lovelace+notes@example.org")
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "plain",
            "@example.org",
            "ada@",
            "ada@localhost",
            "ada@@example.org",
            "ada lovelace@example.org",
            "ada..l@example.org",
            "ada@-example.org",
            "ada@example..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
