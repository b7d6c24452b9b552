//! `Tickets.Reserve`: holds seats of a show for a booking, once per booking.
//!
//! The reservation's id is the booking's, so a repeated Reserve finds the first one and
//! answers with it, and a Reserve arriving after the booking was released (or its hold
//! expired) is refused as `closed`. New seats are held only under the show's lock, in one
//! transaction with the show's `reserved` count at the show's version read.

use switchboard::proto::tickets::v1::{
    ReserveSeatsRequest, ShowNotFound, SoldOut, reserve_seats_reply::Outcome,
};
use switchboard::store::{Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use super::{closed, require, require_saga};
use crate::record::{ReservationRecord, Status};
use crate::seats::{self, MAX_ATTEMPTS, Seats};

/// The most seats one booking may hold.
const MAX_SEATS: u32 = 10;

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: ReserveSeatsRequest,
) -> Result<Outcome, ServiceError> {
    require_saga(&ctx)?;
    require("booking_id", &request.booking_id)?;
    require("show_id", &request.show_id)?;
    if !(1..=MAX_SEATS).contains(&request.seats) {
        return Err(ServiceError::invalid_field(
            "seats",
            format!("must be 1 to {MAX_SEATS}"),
        ));
    }
    for attempt in 0..MAX_ATTEMPTS {
        seats::pause(attempt).await;
        let existing = seats.reservations().get(&request.booking_id).await?;
        // The show whose seats change: the request's for a new hold, the reservation's
        // own for a hold that ran out (and expires now).
        let show_id = match &existing {
            None => &request.show_id,
            Some(existing) if existing.value.is_due(wire::now_millis()) => &existing.value.show_id,
            Some(existing) => return Ok(answer_existing(existing)),
        };
        // Held until the transaction commits or fails: no change of this process comes
        // between the show's counts read below and the commit.
        let _show = seats.lock(show_id).await;
        let (tx, reply) = match &existing {
            Some(due) => match seats.end_hold(due, Status::Expired).await? {
                Some((tx, expired)) => (tx, Outcome::Closed(closed(&expired))),
                None => continue, // Changed since it was read: read it again.
            },
            None => match hold(seats, &request).await? {
                Ok(change) => change,
                Err(refused) => return Ok(refused),
            },
        };
        match ctx.commit(tx, &reply).await {
            Ok(()) => return Ok(reply),
            Err(error) if seats::contended(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(seats::gave_up())
}

/// The answer for a booking whose reservation exists (and is not a hold past its time):
/// the reservation when it holds or sold seats, `closed` when released or expired.
fn answer_existing(existing: &Versioned<ReservationRecord>) -> Outcome {
    match existing.value.state {
        Status::Held | Status::Confirmed => Outcome::Reserved(ReservationRecord::to_wire(existing)),
        Status::Released | Status::Expired => Outcome::Closed(closed(existing)),
    }
}

/// The transaction holding the requested seats and its reply — the new reservation and
/// the show's count at the version read — or, when it holds none, the refusal
/// (`not_found`, `sold_out`). Call it holding the show's lock.
async fn hold(
    seats: &Seats,
    request: &ReserveSeatsRequest,
) -> Result<Result<(Transaction, Outcome), Outcome>, ServiceError> {
    let Some(mut show) = seats.shows().get(&request.show_id).await? else {
        return Ok(Err(Outcome::NotFound(ShowNotFound {
            id: request.show_id.clone(),
        })));
    };
    let available = show.value.available();
    if available < request.seats {
        return Ok(Err(Outcome::SoldOut(SoldOut {
            show_id: request.show_id.clone(),
            requested: request.seats,
            available,
        })));
    }
    let now = wire::now_millis();
    let reservation = ReservationRecord {
        show_id: request.show_id.clone(),
        seats: request.seats,
        state: Status::Held,
        price_cents: show.value.price_cents,
        expires_at_ms: Some(seats.expires_at(now)),
        created_at_ms: now,
        changed_at_ms: now,
    };
    show.value.reserved += request.seats;
    let tx = seats
        .reservations()
        .insert(Transaction::new(), &request.booking_id, &reservation)?;
    let tx = seats
        .shows()
        .replace(tx, &show.id, show.version, &show.value)?;
    let reserved = Outcome::Reserved(ReservationRecord::to_wire(&Versioned {
        id: request.booking_id.clone(),
        version: 1,
        value: reservation,
    }));
    Ok(Ok((tx, reserved)))
}
