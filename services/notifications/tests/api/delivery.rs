//! One email per booking and kind, whatever happens to the events that ask for it.

use switchboard::proto::notifications::v1::notifications_rpc::{
    SEND_CANCELLATION, SEND_CONFIRMATION,
};
use switchboard::proto::notifications::v1::{DeliveryState, NotificationKind};
use switchboard::store::{Collection, Transaction};

use notifications::record::{Kind, NotificationRecord, State, notification_id};

use crate::helpers::{PATIENCE, World, booking_id, cancelled, confirmed};

#[tokio::test]
async fn a_confirmed_booking_sends_one_email_and_lists_it_sent() {
    let world = World::start().await;
    let _app = world.start_notifications(true).await;
    let ada = world.create_user("ada@example.org", "Ada Lovelace").await;
    let booking = booking_id();

    let (_, sequence) = world.publish(&confirmed(&booking, &ada.id)).await;

    let mails = world.smtp.wait_for(1, PATIENCE).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["ada@example.org".to_string()]);
    assert_eq!(mail.mail_from, "bookings@switchboard.local");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your booking is confirmed")
    );
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{booking}.confirmed@notifications.switchboard>"))
    );
    assert_eq!(
        mail.header("To").as_deref(),
        Some("\"Ada Lovelace\" <ada@example.org>")
    );
    let body = mail.body();
    for part in [
        "Hello Ada Lovelace,".to_string(),
        format!("Booking: {booking}"),
        "Show: show-7".into(),
        "Seats: 2".into(),
        "Paid: 45.00".into(),
    ] {
        assert!(body.contains(&part), "{part:?} in {body}");
    }

    let id = format!("{booking}.confirmed");
    let listed = world.until_notification(&id, DeliveryState::Sent).await;
    assert_eq!(listed.booking_id, booking);
    assert_eq!(listed.kind(), NotificationKind::BookingConfirmed);
    assert_eq!(listed.to, "ada@example.org");
    assert_eq!(listed.subject, "Your booking is confirmed");
    assert_eq!(listed.body.replace("\r\n", "\n"), body);
    assert!(listed.created_at.is_some());

    world.until_handled(SEND_CONFIRMATION, sequence).await;
    assert_eq!(world.smtp.received().len(), 1, "one email");
}

#[tokio::test]
async fn redeliveries_copies_and_repeated_announcements_send_one_email() {
    let world = World::start().await;
    let _app = world.start_notifications(true).await;
    let ada = world.create_user("ada@example.org", "Ada").await;
    let booking = booking_id();
    let event = confirmed(&booking, &ada.id);
    // The first attempt is refused for now (451): the event is delivered again.
    world.smtp.defer_next(1);

    let (entry, first) = world.publish(&event).await;
    let mails = world.smtp.wait_for(1, PATIENCE).await;
    world.until_handled(SEND_CONFIRMATION, first).await;
    assert_eq!(world.smtp.deferred(), 1, "the first attempt was refused");
    assert_eq!(mails.len(), 1);

    // A copy under another Nats-Msg-Id (same Sb-Message-Id), and the same outcome
    // announced again as a new event (another event id, same booking).
    let copy = world
        .publish_entry(&entry, &uuid::Uuid::now_v7().to_string())
        .await;
    let (_, again) = world.publish(&event).await;
    assert!(again > copy && copy > first);
    world.until_handled(SEND_CONFIRMATION, again).await;

    assert_eq!(world.smtp.received().len(), 1, "still one email");
    let listed = world.notifications_of(&booking).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].state(), DeliveryState::Sent);
}

#[tokio::test]
async fn a_cancelled_booking_sends_one_cancellation_with_the_reason() {
    let world = World::start().await;
    let _app = world.start_notifications(true).await;
    let bob = world.create_user("bob@example.org", "Bob").await;
    let booking = booking_id();
    let event = cancelled(&booking, &bob.id, "the payment was declined");

    let (entry, first) = world.publish(&event).await;
    let copy = world
        .publish_entry(&entry, &uuid::Uuid::now_v7().to_string())
        .await;

    let mails = world.smtp.wait_for(1, PATIENCE).await;
    world
        .until_handled(SEND_CANCELLATION, copy.max(first))
        .await;
    assert_eq!(world.smtp.received().len(), 1, "one email for both copies");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["bob@example.org".to_string()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your booking was cancelled")
    );
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{booking}.cancelled@notifications.switchboard>"))
    );
    let body = mail.body();
    assert!(body.contains("Hello Bob,"), "{body}");
    assert!(body.contains(&format!("Booking: {booking}")), "{body}");
    assert!(body.contains("Reason: the payment was declined"), "{body}");

    let listed = world
        .until_notification(&format!("{booking}.cancelled"), DeliveryState::Sent)
        .await;
    assert_eq!(listed.kind(), NotificationKind::BookingCancelled);
}

#[tokio::test]
async fn an_unknown_user_is_recorded_undeliverable_and_no_email_is_sent() {
    let world = World::start().await;
    let _app = world.start_notifications(true).await;
    let booking = booking_id();

    let (entry, first) = world.publish(&confirmed(&booking, "no-such-user")).await;
    let listed = world
        .until_notification(
            &format!("{booking}.confirmed"),
            DeliveryState::Undeliverable,
        )
        .await;
    let copy = world
        .publish_entry(&entry, &uuid::Uuid::now_v7().to_string())
        .await;
    world
        .until_handled(SEND_CONFIRMATION, copy.max(first))
        .await;

    assert_eq!(listed.to, "", "no recipient");
    assert!(listed.body.starts_with("Hello,"), "{}", listed.body);
    assert!(world.smtp.received().is_empty(), "no email");
    assert_eq!(world.notifications_of(&booking).await, vec![listed]);
}

#[tokio::test]
async fn a_recipient_the_mail_server_refuses_for_good_is_undeliverable() {
    let world = World::start().await;
    let _app = world.start_notifications(true).await;
    let gone = world.create_user("gone@example.org", "Gone").await;
    world.smtp.refuse_recipient("gone@example.org");
    let booking = booking_id();

    let (_, sequence) = world.publish(&confirmed(&booking, &gone.id)).await;

    world
        .until_notification(
            &format!("{booking}.confirmed"),
            DeliveryState::Undeliverable,
        )
        .await;
    world.until_handled(SEND_CONFIRMATION, sequence).await;
    assert!(world.smtp.received().is_empty(), "no email");
}

#[tokio::test]
async fn without_smtp_url_notifications_are_recorded_and_not_sent() {
    let world = World::start().await;
    let _app = world.start_notifications(false).await;
    let ada = world.create_user("ada@example.org", "Ada").await;
    let booking = booking_id();

    let (_, sequence) = world.publish(&confirmed(&booking, &ada.id)).await;

    let listed = world
        .until_notification(&format!("{booking}.confirmed"), DeliveryState::Recorded)
        .await;
    world.until_handled(SEND_CONFIRMATION, sequence).await;
    assert_eq!(listed.to, "ada@example.org");
    assert!(listed.body.contains("Paid: 45.00"), "{}", listed.body);
    assert!(world.smtp.received().is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_send_cut_short_is_sent_again_as_recorded_with_the_same_message_id() {
    let world = World::start().await;
    let ada = world.create_user("ada@example.org", "Ada").await;
    let booking = booking_id();
    // An earlier process recorded the notification and died while sending it.
    let id = notification_id(&booking, Kind::Confirmed);
    let before = NotificationRecord {
        booking_id: booking.clone(),
        kind: Kind::Confirmed,
        to: "ada@example.org".into(),
        to_name: "Ada".into(),
        subject: "Your booking is confirmed".into(),
        body: "Hello Ada,\n\nthe text of the first attempt.\n".into(),
        state: State::Sending,
        created_at_ms: 1_700_000_000_000,
    };
    {
        let store = world.notifications_store().await;
        let notifications = Collection::new(store.clone(), notifications::COLLECTION);
        let tx = notifications
            .insert(Transaction::new(), &id, &before)
            .expect("a record");
        store.commit(tx).await.expect("recorded");
    }
    let _app = world.start_notifications(true).await;

    let (_, sequence) = world.publish(&confirmed(&booking, &ada.id)).await;

    let mails = world.smtp.wait_for(1, PATIENCE).await;
    world.until_handled(SEND_CONFIRMATION, sequence).await;
    assert_eq!(world.smtp.received().len(), 1);
    let mail = &mails[0];
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{booking}.confirmed@notifications.switchboard>"))
    );
    assert_eq!(
        mail.header("Date").as_deref(),
        Some("Tue, 14 Nov 2023 22:13:20 +0000"),
        "the date of the first attempt"
    );
    assert!(
        mail.body().contains("the text of the first attempt"),
        "the recorded text, not a new one: {}",
        mail.body()
    );
    world.until_notification(&id, DeliveryState::Sent).await;
}
