//! The delivery flow both consumers share: record the notification `SENDING`, send the
//! mail, mark it `SENT` with the event's inbox record — or find that an earlier delivery
//! got further, and go on from there. The crate's documentation explains each step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use switchboard::proto::users::v1::{GetUserRequest, UsersClient, get_user_reply};
use switchboard::store::{Collection, StoreError, Transaction, Versioned};
use switchboard::{EventContext, ServiceError, wire};
use tokio::sync::OwnedMutexGuard;

use crate::compose::About;
use crate::mailer::{Mailer, SendError, recipient};
use crate::record::{NotificationRecord, State, notification_id};

/// The longest booking id accepted.
const MAX_BOOKING_ID: usize = 128;

/// Beyond this many notification ids in the turn table, entries nobody holds are swept.
const TURNS_SWEEP: usize = 1024;

/// The notifications collection, the mailer and the turns of the notifications being
/// worked on in this process.
pub(super) struct Notifier {
    notifications: Collection<NotificationRecord>,
    mailer: Option<Mailer>,
    turns: Turns,
}

impl Notifier {
    pub(super) fn new(
        notifications: Collection<NotificationRecord>,
        mailer: Option<Mailer>,
    ) -> Self {
        Self {
            notifications,
            mailer,
            turns: Turns::default(),
        }
    }

    pub(super) fn notifications(&self) -> &Collection<NotificationRecord> {
        &self.notifications
    }

    /// Sends the notification `about` calls for, unless an earlier delivery did.
    pub(super) async fn notify(
        &self,
        ctx: EventContext,
        about: About<'_>,
    ) -> Result<(), ServiceError> {
        check(&about)?;
        let id = notification_id(about.booking_id(), about.kind());
        // Copies of an event in flight here at once go one after the other.
        let _turn = self.turns.take(&id).await;
        let (record, resumed) = match self.notifications.get(&id).await? {
            Some(record) => (record, true),
            None => match self.record(&ctx, &about, &id).await? {
                Some(found) => found,
                None => return Ok(()),
            },
        };
        self.settle(&ctx, record, resumed).await
    }

    /// The first delivery: looks the recipient up and records the notification. Returns
    /// the record to settle: the `SENDING` one it stored (`false`), or the one found in
    /// its place (`true`). An undeliverable notification is recorded with the event's
    /// inbox record: `None`, nothing more to do.
    async fn record(
        &self,
        ctx: &EventContext,
        about: &About<'_>,
        id: &str,
    ) -> Result<Option<(Versioned<NotificationRecord>, bool)>, ServiceError> {
        let request = GetUserRequest {
            id: about.user_id().to_owned(),
        };
        // A failed lookup fails the delivery: the event comes again after the backoff.
        let user = match UsersClient::new(ctx.bus()).get(request).await? {
            get_user_reply::Outcome::Found(user) => Some(user),
            get_user_reply::Outcome::NotFound(_) => None,
        };
        let deliverable = user
            .as_ref()
            .is_some_and(|user| recipient(&user.display_name, &user.email).is_some());
        let (to, to_name) = user
            .map(|user| (user.email, user.display_name))
            .unwrap_or_default();
        let record = NotificationRecord {
            booking_id: about.booking_id().to_owned(),
            kind: about.kind(),
            body: about.body(Some(to_name.as_str())),
            to,
            to_name,
            subject: about.subject().to_owned(),
            state: if deliverable {
                State::Sending
            } else {
                State::Undeliverable
            },
            created_at_ms: wire::now_millis(),
        };
        let tx = self.notifications.insert(Transaction::new(), id, &record)?;
        if deliverable {
            // Recorded before anything is sent, on its own: the send is not part of any
            // transaction.
            return match self.notifications.store().commit(tx).await {
                Ok(()) => {
                    let stored = Versioned {
                        id: id.to_owned(),
                        version: 1,
                        value: record,
                    };
                    Ok(Some((stored, false)))
                }
                Err(StoreError::AlreadyExists { .. }) => Ok(Some((self.existing(id).await?, true))),
                Err(error) => Err(error.into()),
            };
        }
        match ctx.commit(tx).await {
            Ok(()) => {
                tracing::warn!(
                    notification = id,
                    user_id = about.user_id(),
                    "undeliverable: the user does not exist or has no usable address"
                );
                Ok(None)
            }
            // Another delivery recorded the notification first: go on from its record.
            Err(StoreError::AlreadyExists { collection, .. })
                if collection == self.notifications.name() =>
            {
                Ok(Some((self.existing(id).await?, true)))
            }
            // The inbox: another delivery of this event finished first.
            Err(StoreError::AlreadyExists { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Finishes the notification `record` (`resumed`: recorded by an earlier delivery):
    /// nothing to send once it is final; otherwise sends (again) and marks the outcome in
    /// the transaction that writes the inbox.
    async fn settle(
        &self,
        ctx: &EventContext,
        record: Versioned<NotificationRecord>,
        resumed: bool,
    ) -> Result<(), ServiceError> {
        if record.value.state.is_final() {
            return finish(ctx, Transaction::new()).await;
        }
        if resumed {
            tracing::info!(
                notification = record.id,
                delivery = ctx.delivery(),
                "an earlier attempt stopped while sending: sending again with the same Message-ID"
            );
        }
        let state = match &self.mailer {
            None => State::Recorded,
            Some(mailer) => match mailer.send(&record.id, &record.value).await {
                Ok(()) => State::Sent,
                Err(SendError::Rejected(reason)) => {
                    tracing::warn!(notification = record.id, %reason, "undeliverable: refused for good");
                    State::Undeliverable
                }
                Err(error @ SendError::Failed(_)) => return Err(ServiceError::internal(error)),
            },
        };
        let settled = NotificationRecord {
            state,
            ..record.value
        };
        let tx =
            self.notifications
                .replace(Transaction::new(), &record.id, record.version, &settled)?;
        // A version conflict (a replica settled it meanwhile) fails this delivery; the next
        // one finds the record final.
        finish(ctx, tx).await?;
        tracing::info!(notification = record.id, state = ?state, "notification settled");
        Ok(())
    }

    /// The record that took `id` before us.
    async fn existing(&self, id: &str) -> Result<Versioned<NotificationRecord>, ServiceError> {
        self.notifications.get(id).await?.ok_or_else(|| {
            ServiceError::internal(format!("notification {id} exists and then does not"))
        })
    }
}

/// Commits `tx` with the event's inbox record.
async fn finish(ctx: &EventContext, tx: Transaction) -> Result<(), ServiceError> {
    match ctx.commit(tx).await {
        // The inbox record exists: another delivery of this event finished first, which
        // counts as done (it is the only insert in `tx`).
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Refuses an event that cannot name a notification (400: dead-lettered at once, as no
/// delivery can do better).
fn check(about: &About<'_>) -> Result<(), ServiceError> {
    let booking_id = about.booking_id();
    if booking_id.is_empty() {
        return Err(ServiceError::invalid_field("booking_id", "is required"));
    }
    // It becomes the left part of a Message-ID.
    let usable = booking_id.len() <= MAX_BOOKING_ID
        && booking_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !usable {
        return Err(ServiceError::invalid_field(
            "booking_id",
            format!("must be 1 to {MAX_BOOKING_ID} letters, digits, `-` or `_`"),
        ));
    }
    if about.user_id().trim().is_empty() {
        return Err(ServiceError::invalid_field("user_id", "is required"));
    }
    Ok(())
}

/// One lock per notification id being worked on in this process.
#[derive(Default)]
struct Turns {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// Holding the turn of one notification id.
struct Turn<'a> {
    turns: &'a Turns,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for the turn of `id`.
    async fn take(&self, id: &str) -> Turn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            match locks.get(id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if locks.len() >= TURNS_SWEEP {
                        locks.retain(|_, lock| lock.strong_count() > 0);
                    }
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(id.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        Turn {
            turns: self,
            id: id.to_owned(),
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self
            .turns
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if locks
            .get(&self.id)
            .is_some_and(|lock| lock.strong_count() == 0)
        {
            locks.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    use std::time::Duration;

    use super::*;
    use switchboard::proto::bookings::v1::BookingConfirmed;

    fn confirmed(booking_id: &str, user_id: &str) -> BookingConfirmed {
        BookingConfirmed {
            booking_id: booking_id.into(),
            user_id: user_id.into(),
            show_id: "s".into(),
            seats: 1,
            amount_cents: 100,
        }
    }

    #[test]
    fn events_that_cannot_name_a_notification_are_refused_as_bad() {
        for (booking, user) in [
            ("", "u"),
            ("b", ""),
            ("a b", "u"),
            ("x@y", "u"),
            ("a.b", "u"),
        ] {
            let event = confirmed(booking, user);
            let error = check(&About::Confirmed(&event)).err();
            assert!(
                error.is_some_and(|e| e.code() == switchboard::ErrorCode::BadRequest),
                "{booking:?}/{user:?}"
            );
        }
        let event = confirmed("0190a8c2-7d1e-7c3a-9f00-1b2c3d4e5f60", "u");
        assert!(check(&About::Confirmed(&event)).is_ok());
    }

    /// Whether `future` is still pending after one poll.
    async fn pending<F: Future>(mut future: Pin<&mut F>) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
    }

    #[tokio::test]
    async fn turns_of_one_id_wait_for_each_other_and_are_forgotten_once_done() {
        let turns = Turns::default();

        let first = turns.take("b.confirmed").await;
        let mut other = Box::pin(turns.take("b.cancelled"));
        let mut second = Box::pin(turns.take("b.confirmed"));
        assert!(!pending(other.as_mut()).await, "another id does not wait");
        assert!(
            pending(second.as_mut()).await,
            "a second turn of the same id waits"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the turn passes on");
        drop((second, other));

        assert!(turns.locks.lock().expect("not poisoned").is_empty());
    }
}
