//! The expiry worker: every sweep interval, finds the HELD reservations whose time has run
//! out and expires them — the reservation becomes EXPIRED and its seats leave the show's
//! `reserved` count in one transaction, under the show's lock, like every other change.
//!
//! Every replica sweeps; two replicas expiring one hold meet on the version checks, and
//! the loser reads it again and finds nothing left to do.

use std::sync::Arc;
use std::time::Duration;

use switchboard::ServiceError;
use switchboard::service::WorkerContext;
use switchboard::wire;

use crate::record::Status;
use crate::seats::{self, MAX_ATTEMPTS, Seats};

/// Held reservations read per page.
const PAGE: u32 = 500;

/// Sweeps every `every` until the service stops.
pub async fn run(seats: Arc<Seats>, every: Duration, ctx: WorkerContext) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = ctx.stopping() => return,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            () = ctx.stopping() => return,
            swept = sweep(&seats) => match swept {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "expired holds past their time"),
                Err(error) => tracing::warn!(%error, "could not expire holds; trying again next sweep"),
            },
        }
    }
}

/// One pass over the held reservations: expires those past their time; returns how many.
pub async fn sweep(seats: &Seats) -> Result<usize, ServiceError> {
    let reservations = seats.reservations();
    let mut expired = 0;
    let mut after = None;
    loop {
        let page = reservations
            .find(
                reservations
                    .query()
                    .where_eq("state", Status::Held.as_str())
                    .after(after)
                    .limit(PAGE),
            )
            .await?;
        let now = wire::now_millis();
        for held in page.records.iter().filter(|r| r.value.is_due(now)) {
            if expire(seats, &held.id).await? {
                expired += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(expired),
        }
    }
}

/// Expires the reservation of `booking_id` if it is still a hold past its time; returns
/// whether it did.
pub async fn expire(seats: &Seats, booking_id: &str) -> Result<bool, ServiceError> {
    for attempt in 0..MAX_ATTEMPTS {
        seats::pause(attempt).await;
        let Some(found) = seats.reservations().get(booking_id).await? else {
            return Ok(false);
        };
        if !found.value.is_due(wire::now_millis()) {
            return Ok(false);
        }
        let _show = seats.lock(&found.value.show_id).await;
        let Some((tx, _)) = seats.end_hold(&found, Status::Expired).await? else {
            continue; // Changed since it was read: read it again.
        };
        match seats.reservations().store().commit(tx).await {
            Ok(()) => return Ok(true),
            // Confirmed, released or expired since it was read: read again.
            Err(error) if seats::contended(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(seats::gave_up())
}
