//! The SMTP side: a notification record as a mail, and handing it to the mail server.
//!
//! Every mail of one notification is the same mail: its `Message-ID` is made from the
//! notification's id ([`message_id`]) and its `Date` is when the notification was
//! recorded, so a mail sent again after an attempt whose outcome was lost can be dropped
//! by the mail system as the copy it is.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::response::Category;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use switchboard::wire;

use crate::record::NotificationRecord;
use crate::settings::SmtpSettings;

/// The domain part of every notification's `Message-ID`.
pub const MESSAGE_ID_DOMAIN: &str = "notifications.switchboard";

/// How long one SMTP command may take: lettre's default (60 s) is longer than an event
/// handler's deadline (`SB_CONSUMER_ACK_WAIT_SECS`, 30 s by default), which would cut the
/// send off without a reason in the log.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Message-ID` of the mail of notification `id`: `<id@notifications.switchboard>`.
pub fn message_id(id: &str) -> String {
    format!("<{id}@{MESSAGE_ID_DOMAIN}>")
}

/// The recipient `name <email>`, or `None` when `email` is not an address a mail can be
/// sent to.
pub fn recipient(name: &str, email: &str) -> Option<Mailbox> {
    let address = email.trim().parse::<Address>().ok()?;
    let name = name.trim();
    Some(Mailbox::new(
        (!name.is_empty()).then(|| name.to_owned()),
        address,
    ))
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The mail server refused the recipient or the message for good (a 55x reply), or
    /// the mail cannot be written: no attempt will do better.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Anything else (unreachable, a 4xx reply, a refused login, a timeout): a later
    /// attempt may succeed.
    #[error("the mail server did not take the mail: {0}")]
    Failed(#[source] lettre::transport::smtp::Error),
}

/// Hands notifications to the configured mail server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for the server of `smtp`, sending as `from`.
    pub fn new(smtp: &SmtpSettings, from: Mailbox) -> Self {
        Self {
            transport: smtp.builder().timeout(Some(COMMAND_TIMEOUT)).build(),
            from,
        }
    }

    /// The mail of notification `id`, as [`Self::send`] sends it.
    pub fn message(&self, id: &str, record: &NotificationRecord) -> Result<Message, SendError> {
        let to = recipient(&record.to_name, &record.to)
            .ok_or_else(|| SendError::Rejected(format!("{:?} is not a mail address", record.to)))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(record.subject.clone())
            .message_id(Some(message_id(id)))
            .date(wire::from_unix_millis(
                u64::try_from(record.created_at_ms).unwrap_or(0),
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(record.body.clone())
            .map_err(|e| SendError::Rejected(format!("the mail cannot be written: {e}")))
    }

    /// Sends the mail of notification `id` and waits for the server to accept it.
    pub async fn send(&self, id: &str, record: &NotificationRecord) -> Result<(), SendError> {
        let message = self.message(id, record)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error)
                if error.is_permanent()
                    && error
                        .status()
                        .is_some_and(|code| code.category == Category::MailSystem) =>
            {
                Err(SendError::Rejected(error.to_string()))
            }
            Err(error) => Err(SendError::Failed(error)),
        }
    }
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, State};

    fn record(to: &str) -> NotificationRecord {
        NotificationRecord {
            booking_id: "0190-b".into(),
            kind: Kind::Confirmed,
            to: to.into(),
            to_name: "Ada Lovelace".into(),
            subject: "Your booking is confirmed".into(),
            body: "Hello Ada,\n".into(),
            state: State::Sending,
            created_at_ms: 1_700_000_000_000,
        }
    }

    fn mailer() -> Mailer {
        let smtp = SmtpSettings::from_url("smtp://127.0.0.1:2525").expect("a URL");
        Mailer::new(
            &smtp,
            crate::settings::DEFAULT_FROM.parse().expect("an address"),
        )
    }

    #[test]
    fn every_mail_of_a_notification_is_the_same_mail() {
        let record = record("ada@example.org");

        let first = mailer()
            .message("0190-b.confirmed", &record)
            .expect("a mail");
        let again = mailer()
            .message("0190-b.confirmed", &record)
            .expect("a mail");

        let text = String::from_utf8(first.formatted()).expect("text");
        assert_eq!(first.formatted(), again.formatted());
        assert!(
            text.contains("Message-ID: <0190-b.confirmed@notifications.switchboard>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("To: \"Ada Lovelace\" <ada@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("Date: Tue, 14 Nov 2023 22:13:20"), "{text}");
    }

    #[test]
    fn a_record_without_an_address_is_rejected_before_sending() {
        let error = mailer().message("x.confirmed", &record("")).err();

        assert!(matches!(error, Some(SendError::Rejected(_))), "{error:?}");
    }
}
