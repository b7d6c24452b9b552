//! What a notification says: its subject and text for each booking outcome, in words a
//! customer reads (lines kept short, so the mail travels as plain 7-bit text).

use switchboard::proto::bookings::v1::{BookingCancelled, BookingConfirmed};

use crate::record::Kind;

/// The event a notification is about.
#[derive(Debug, Clone, Copy)]
pub enum About<'a> {
    /// A confirmed booking.
    Confirmed(&'a BookingConfirmed),
    /// A cancelled booking.
    Cancelled(&'a BookingCancelled),
}

impl About<'_> {
    /// The booking.
    pub fn booking_id(&self) -> &str {
        match self {
            About::Confirmed(event) => &event.booking_id,
            About::Cancelled(event) => &event.booking_id,
        }
    }

    /// The user who booked: the recipient.
    pub fn user_id(&self) -> &str {
        match self {
            About::Confirmed(event) => &event.user_id,
            About::Cancelled(event) => &event.user_id,
        }
    }

    /// Which notification of the booking this is.
    pub fn kind(&self) -> Kind {
        match self {
            About::Confirmed(_) => Kind::Confirmed,
            About::Cancelled(_) => Kind::Cancelled,
        }
    }

    /// The subject line.
    pub fn subject(&self) -> &'static str {
        match self {
            About::Confirmed(_) => "Your booking is confirmed",
            About::Cancelled(_) => "Your booking was cancelled",
        }
    }

    /// The text, addressed to `name` (the user's display name, when known).
    pub fn body(&self, name: Option<&str>) -> String {
        let greeting = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => format!("Hello {name},"),
            None => "Hello,".to_owned(),
        };
        match self {
            About::Confirmed(event) => format!(
                "{greeting}\n\
                 \n\
                 your booking is confirmed.\n\
                 \n\
                 Booking: {}\n\
                 Show: {}\n\
                 Seats: {}\n\
                 Paid: {}\n\
                 \n\
                 Enjoy the show!\n",
                event.booking_id,
                event.show_id,
                event.seats,
                amount(event.amount_cents),
            ),
            About::Cancelled(event) => format!(
                "{greeting}\n\
                 \n\
                 your booking was cancelled. Nothing is held or charged for it.\n\
                 \n\
                 Booking: {}\n\
                 Show: {}\n\
                 Reason: {}\n",
                event.booking_id,
                event.show_id,
                one_line(&event.reason),
            ),
        }
    }
}

/// An amount in cents as units and cents: `1250` → `12.50`.
pub fn amount(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `text` on one line (a reason is the bookings service's words, not ours), or a stand-in
/// when there is none.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "not given".to_owned()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_from_cents() {
        assert_eq!(amount(0), "0.00");
        assert_eq!(amount(5), "0.05");
        assert_eq!(amount(1250), "12.50");
        assert_eq!(amount(123_456), "1234.56");
    }

    #[test]
    fn a_confirmation_names_the_booking_show_seats_amount_and_the_user() {
        let event = BookingConfirmed {
            booking_id: "b-1".into(),
            user_id: "u-1".into(),
            show_id: "s-9".into(),
            seats: 3,
            amount_cents: 4500,
        };
        let about = About::Confirmed(&event);

        let body = about.body(Some("Ada"));

        assert_eq!(about.subject(), "Your booking is confirmed");
        for part in [
            "Hello Ada,",
            "Booking: b-1",
            "Show: s-9",
            "Seats: 3",
            "Paid: 45.00",
        ] {
            assert!(body.contains(part), "{part:?} in {body}");
        }
        assert_eq!(about.kind(), Kind::Confirmed);
    }

    #[test]
    fn a_cancellation_gives_the_reason_on_one_line() {
        let event = BookingCancelled {
            booking_id: "b-2".into(),
            user_id: "u-1".into(),
            show_id: "s-9".into(),
            reason: "the payment\nwas declined".into(),
        };
        let about = About::Cancelled(&event);

        let body = about.body(None);

        assert_eq!(about.subject(), "Your booking was cancelled");
        assert!(body.starts_with("Hello,\n"), "{body}");
        assert!(
            body.contains("Reason: the payment was declined\n"),
            "{body}"
        );
        assert!(body.contains("Booking: b-2"), "{body}");
    }
}
