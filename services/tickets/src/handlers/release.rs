//! `Tickets.Release`: gives a booking's held seats back (the compensation of Reserve).
//!
//! A held reservation becomes RELEASED and its seats leave the show's `reserved` count in
//! the same transaction. A booking with no reservation gets a RELEASED tombstone holding
//! no seats, so a Reserve arriving after its compensation is refused. Released and expired
//! reservations are answered unchanged; sold seats are not given back.

use switchboard::proto::tickets::v1::{ReleaseSeatsRequest, release_seats_reply::Outcome};
use switchboard::store::{Transaction, Versioned};
use switchboard::{Context, ServiceError};

use super::{require, require_saga};
use crate::record::{ReservationRecord, Status};
use crate::seats::{self, MAX_ATTEMPTS, Seats};

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: ReleaseSeatsRequest,
) -> Result<Outcome, ServiceError> {
    require_saga(&ctx)?;
    require("booking_id", &request.booking_id)?;
    for attempt in 0..MAX_ATTEMPTS {
        seats::pause(attempt).await;
        let Some(found) = seats.reservations().get(&request.booking_id).await? else {
            let tombstone = ReservationRecord::tombstone();
            let tx =
                seats
                    .reservations()
                    .insert(Transaction::new(), &request.booking_id, &tombstone)?;
            let released = Outcome::Released(ReservationRecord::to_wire(&Versioned {
                id: request.booking_id.clone(),
                version: 1,
                value: tombstone,
            }));
            match ctx.commit(tx, &released).await {
                Ok(()) => return Ok(released),
                // Reserved (or closed) meanwhile: decide on what is there now.
                Err(error) if seats::contended(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        };
        match found.value.state {
            Status::Confirmed => {
                return Ok(Outcome::AlreadyConfirmed(ReservationRecord::to_wire(
                    &found,
                )));
            }
            Status::Released | Status::Expired => {
                return Ok(Outcome::Released(ReservationRecord::to_wire(&found)));
            }
            Status::Held => {}
        }
        let _show = seats.lock(&found.value.show_id).await;
        let Some((tx, released)) = seats.end_hold(&found, Status::Released).await? else {
            continue; // Changed since it was read: read it again.
        };
        let released = Outcome::Released(ReservationRecord::to_wire(&released));
        match ctx.commit(tx, &released).await {
            Ok(()) => return Ok(released),
            // Confirmed or expired since it was read, or its show changed: read again.
            Err(error) if seats::contended(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(seats::gave_up())
}
