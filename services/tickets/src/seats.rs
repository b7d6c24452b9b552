//! What every change of a reservation shares: the two collections, the per-show lock,
//! the transaction that moves a hold's seats out of its show's `reserved` count, and the
//! rule for retrying a change that lost a race.
//!
//! A change is decided on what was read and committed with version checks on the
//! reservation and its show, so a decision taken on stale counts never commits. Within a
//! process, the changes of one show queue behind its lock ([`ShowLocks`]) and rarely
//! conflict; across replicas they meet in the store, where the loser's transaction fails
//! (`VersionConflict`, or `AlreadyExists` for a reservation inserted meanwhile) and is
//! read and decided again, at most [`MAX_ATTEMPTS`] times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use switchboard::ServiceError;
use switchboard::store::{Collection, Store, StoreError, Transaction, Versioned};
use switchboard::wire;

use crate::record::{ReservationRecord, ShowRecord, Status};

/// The collection show records live in.
pub const SHOWS: &str = "shows";
/// The collection reservation records live in (the record id is the booking id).
pub const RESERVATIONS: &str = "reservations";
/// Reads and decisions of one change before it gives up on a show that keeps changing
/// under it (only other replicas can make it change: this process holds the show's lock).
pub const MAX_ATTEMPTS: u32 = 10;

/// The service's state, shared by the handlers and the expiry worker.
pub struct Seats {
    shows: Collection<ShowRecord>,
    reservations: Collection<ReservationRecord>,
    locks: ShowLocks,
    hold: Duration,
}

impl Seats {
    /// The shows and reservations of `store`; a reservation holds its seats for `hold`.
    pub fn new(store: Arc<dyn Store>, hold: Duration) -> Self {
        Self {
            shows: Collection::new(store.clone(), SHOWS),
            reservations: Collection::new(store, RESERVATIONS),
            locks: ShowLocks::default(),
            hold,
        }
    }

    /// Creates the indexes: reservations by `state`, for the expiry worker.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        self.reservations.ensure_index("state", false).await
    }

    /// The shows.
    pub fn shows(&self) -> &Collection<ShowRecord> {
        &self.shows
    }

    /// The reservations.
    pub fn reservations(&self) -> &Collection<ReservationRecord> {
        &self.reservations
    }

    /// When a hold made at `now_ms` expires.
    pub fn expires_at(&self, now_ms: i64) -> i64 {
        let hold = i64::try_from(self.hold.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_add(hold)
    }

    /// Waits for the exclusive right to change the seats of show `show_id` in this
    /// process, held until the guard is dropped.
    pub async fn lock(&self, show_id: &str) -> ShowGuard<'_> {
        self.locks.lock(show_id).await
    }

    /// The transaction that ends the hold `held` as `to` (CONFIRMED, RELEASED or
    /// EXPIRED): the reservation in its new state and its show with the seats moved out
    /// of `reserved` (into `sold` when confirmed), both at the versions read. Returns it
    /// with the reservation as it will be stored, or `None` when the reservation is no
    /// longer as `held` says (changed since it was read: read it again and decide again).
    /// Call it holding the show's lock.
    ///
    /// The show is read before the reservation is read again: every change of a hold
    /// changes its show in the same commit, so a reservation still at `held`'s version
    /// after the show was read means the show's counts include its seats.
    pub async fn end_hold(
        &self,
        held: &Versioned<ReservationRecord>,
        to: Status,
    ) -> Result<Option<(Transaction, Versioned<ReservationRecord>)>, ServiceError> {
        let show_id = &held.value.show_id;
        let Some(mut show) = self.shows.get(show_id).await? else {
            return Err(ServiceError::internal(format!(
                "reservation {} holds seats of show {show_id}, which does not exist",
                held.id
            )));
        };
        let current = self.reservations.get(&held.id).await?;
        if current.is_none_or(|current| current.version != held.version) {
            return Ok(None);
        }
        let seats = held.value.seats;
        show.value.reserved = show.value.reserved.checked_sub(seats).ok_or_else(|| {
            ServiceError::internal(format!(
                "show {show_id} counts {} reserved seats, fewer than reservation {} holds",
                show.value.reserved, held.id
            ))
        })?;
        if to == Status::Confirmed {
            show.value.sold = show.value.sold.saturating_add(seats);
        }
        let mut after = held.clone();
        after.value.state = to;
        after.value.changed_at_ms = wire::now_millis();
        after.version += 1;
        let tx =
            self.reservations
                .replace(Transaction::new(), &held.id, held.version, &after.value)?;
        let tx = self
            .shows
            .replace(tx, &show.id, show.version, &show.value)?;
        Ok(Some((tx, after)))
    }
}

/// Whether a failed commit lost a race on a show or a reservation (changed or inserted
/// by someone else since it was read), so reading and deciding again may succeed.
/// Failures on anything else — in particular the idempotency record a replica running
/// the same keyed command committed first — are not retried: the runtime answers those.
pub fn contended(error: &StoreError) -> bool {
    match error {
        StoreError::VersionConflict { collection, .. }
        | StoreError::AlreadyExists { collection, .. }
        | StoreError::NotFound { collection, .. } => {
            collection == SHOWS || collection == RESERVATIONS
        }
        _ => false,
    }
}

/// Before attempt `attempt` (0-based) of a change: nothing before the first, then a short
/// random pause growing with the attempts, so two replicas that collided do not collide
/// again in step.
pub async fn pause(attempt: u32) {
    if attempt > 0 {
        let ceiling = 2 * u64::from(attempt);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=ceiling))).await;
    }
}

/// What a change answers when its show kept changing for [`MAX_ATTEMPTS`] attempts.
pub fn gave_up() -> ServiceError {
    ServiceError::conflict("the show kept changing while its seats were being changed; try again")
}

/// One async lock per show being changed in this process. Entries live as long as
/// somebody holds or waits for them.
#[derive(Default)]
pub struct ShowLocks {
    held: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl ShowLocks {
    /// Waits for the lock of `show_id`.
    pub async fn lock(&self, show_id: &str) -> ShowGuard<'_> {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            match held.get(show_id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    held.insert(show_id.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        ShowGuard {
            locks: self,
            show_id: show_id.to_string(),
            guard: Some(lock.lock_owned().await),
        }
    }

    /// How many shows have a lock entry (for tests of the clean-up).
    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no show has a lock entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The exclusive right to change one show's seats in this process; dropping it lets the
/// next change in, and forgets the show's lock once nobody waits for it.
pub struct ShowGuard<'a> {
    locks: &'a ShowLocks,
    show_id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for ShowGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        if held
            .get(&self.show_id)
            .is_some_and(|lock| lock.strong_count() == 0)
        {
            held.remove(&self.show_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_show_lock_excludes_and_is_forgotten_once_free() {
        let locks = ShowLocks::default();
        let first = locks.lock("a").await;
        let other_show = locks.lock("b").await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(waiting.is_err(), "a second holder of one show must wait");
        drop(other_show);
        assert_eq!(locks.len(), 1);
        drop(first);
        assert!(locks.is_empty());
        let again = tokio::time::timeout(Duration::from_secs(5), locks.lock("a")).await;
        assert!(again.is_ok(), "a freed show can be locked again");
    }

    #[test]
    fn only_races_on_shows_and_reservations_are_retried() {
        let conflict = |collection: &str| StoreError::VersionConflict {
            collection: collection.into(),
            id: "x".into(),
        };
        assert!(contended(&conflict(SHOWS)));
        assert!(contended(&StoreError::AlreadyExists {
            collection: RESERVATIONS.into(),
            id: "b".into()
        }));
        assert!(!contended(&StoreError::AlreadyExists {
            collection: "_idempotency".into(),
            id: "k".into()
        }));
        assert!(!contended(&StoreError::NotADocument));
    }
}
