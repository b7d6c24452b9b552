//! What the `notifications` binary is configured with: the service's own settings, the
//! mail server (`SMTP_URL`) and the sender (`SMTP_FROM`).

use std::fmt;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use switchboard::service::ServiceSettings;
use switchboard::settings::{Env, SettingsError};
use switchboard::store;

/// The sender when `SMTP_FROM` is unset.
pub const DEFAULT_FROM: &str = "Switchboard <bookings@switchboard.local>";

/// Everything the `notifications` binary is configured with.
#[derive(Debug, Clone)]
pub struct NotificationsSettings {
    /// NATS, the runtime, the store and token verification, as every service.
    pub service: ServiceSettings,
    /// The mail server (`SMTP_URL`); without one, notifications are recorded, not sent.
    pub smtp: Option<SmtpSettings>,
    /// The sender of every notification (`SMTP_FROM`, default [`DEFAULT_FROM`]).
    pub from: Mailbox,
}

impl NotificationsSettings {
    /// Reads the service's settings, `SMTP_URL` and `SMTP_FROM` from `env`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let smtp = match env.string("SMTP_URL") {
            None => None,
            Some(url) => {
                Some(SmtpSettings::from_url(url.trim()).map_err(|reason| {
                    SettingsError::Invalid {
                        var: "SMTP_URL",
                        // The URL may carry the mail account's password: only its
                        // scheme is repeated.
                        value: store::redacted_url(url.trim()),
                        reason,
                    }
                })?)
            }
        };
        let from = env
            .string("SMTP_FROM")
            .unwrap_or_else(|| DEFAULT_FROM.to_owned());
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| SettingsError::Invalid {
                var: "SMTP_FROM",
                value: from.clone(),
                reason: format!("expected an address like {DEFAULT_FROM:?}: {e}"),
            })?;
        Ok(Self {
            service: ServiceSettings::from_env(crate::SERVICE, env)?,
            smtp,
            from,
        })
    }
}

/// A mail server, from an `SMTP_URL` lettre accepts
/// (`AsyncSmtpTransport::from_url`):
///
/// - `smtps://user:pass@host[:port]`: TLS from the first byte (default port 465);
/// - `smtp://user:pass@host[:port]?tls=required`: STARTTLS, refusing a server without it
///   (default port 587);
/// - `smtp://user:pass@host[:port]?tls=opportunistic`: STARTTLS when offered (587);
/// - `smtp://host[:port]`: **no encryption at all** (default port 25): only for a relay on
///   the same host or network, and the tests.
///
/// Credentials are optional and percent-encoded; a path (`/name`) sets the `EHLO` name.
/// Certificates are checked against the webpki roots compiled in.
#[derive(Clone)]
pub struct SmtpSettings {
    builder: AsyncSmtpTransportBuilder,
    redacted: String,
}

impl SmtpSettings {
    /// Parses `url`; the reason it cannot be used otherwise (never the URL itself).
    pub fn from_url(url: &str) -> Result<Self, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
            format!(
                "expected smtp://[user:pass@]host[:port][?tls=required|opportunistic] or \
                 smtps://[user:pass@]host[:port]: {e}"
            )
        })?;
        Ok(Self {
            builder,
            redacted: store::redacted_url(url),
        })
    }

    /// The URL as it may be logged: its scheme only.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The transport's builder, as the URL configured it.
    pub(crate) fn builder(&self) -> AsyncSmtpTransportBuilder {
        self.builder.clone()
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &self.redacted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NotificationsSettings, SettingsError> {
        NotificationsSettings::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn without_smtp_url_nothing_is_sent_and_the_sender_has_a_default() {
        let settings = parse(&[]).expect("the defaults are valid");

        assert!(settings.smtp.is_none());
        assert_eq!(settings.from.to_string(), DEFAULT_FROM);
        assert_eq!(settings.service.store_url, "sqlite://data/notifications.db");
    }

    #[test]
    fn the_smtp_url_forms_lettre_knows_are_accepted() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.org",
            "smtp://user:p%40ss@mail.example.org:587?tls=required",
            "smtp://mail.example.org?tls=opportunistic",
            "smtps://user:hunter2@mail.example.org",
            "smtps://mail.example.org:465/client.example.org",
        ] {
            let settings = parse(&[("SMTP_URL", url)]).unwrap_or_else(|e| panic!("{url}: {e}"));
            let smtp = settings.smtp.expect("SMTP is configured");
            assert!(!format!("{smtp:?}").contains("hunter2"), "{smtp:?}");
        }
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_repeating_its_password() {
        for url in [
            "http://user:hunter2@mail.example.org",
            "smtp://user:hunter2@mail.example.org:99999",
            "smtp://user:hunter2@mail.example.org?tls=sometimes",
            "smtp://",
            "mail.example.org",
        ] {
            let error = parse(&[("SMTP_URL", url)])
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            let message = error.to_string();
            assert!(
                matches!(
                    error,
                    SettingsError::Invalid {
                        var: "SMTP_URL",
                        ..
                    }
                ),
                "{url}: {error:?}"
            );
            assert!(!message.contains("hunter2"), "{url}: {message}");
        }
    }

    #[test]
    fn the_sender_must_be_an_address() {
        let settings =
            parse(&[("SMTP_FROM", "Box Office <tickets@example.org>")]).expect("a named address");
        assert_eq!(settings.from.email.to_string(), "tickets@example.org");

        let error = parse(&[("SMTP_FROM", "not an address")]).err();
        assert!(
            matches!(
                error,
                Some(SettingsError::Invalid {
                    var: "SMTP_FROM",
                    ..
                })
            ),
            "{error:?}"
        );
    }
}
