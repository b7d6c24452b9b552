//! `Tickets.Confirm`: sells a booking's held seats for good.
//!
//! A hold still within its time becomes CONFIRMED and its seats move from the show's
//! `reserved` count to `sold` in the same transaction. A hold past its time that the
//! expiry worker has not reached yet is expired here instead (its seats go back on sale)
//! and answered `closed`, as it would be a moment later: the hold time is a promise to
//! the other buyers too. A booking with no reservation gets a RELEASED tombstone, so
//! nothing can be reserved for it afterwards.

use switchboard::proto::tickets::v1::{ConfirmSeatsRequest, confirm_seats_reply::Outcome};
use switchboard::store::{Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use super::{closed, require, require_saga};
use crate::record::{ReservationRecord, Status};
use crate::seats::{self, MAX_ATTEMPTS, Seats};

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: ConfirmSeatsRequest,
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
            let refused = Outcome::Closed(closed(&Versioned {
                id: request.booking_id.clone(),
                version: 1,
                value: tombstone,
            }));
            match ctx.commit(tx, &refused).await {
                Ok(()) => return Ok(refused),
                // Reserved (or closed) meanwhile: decide on what is there now.
                Err(error) if seats::contended(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        };
        match found.value.state {
            Status::Confirmed => {
                return Ok(Outcome::Confirmed(ReservationRecord::to_wire(&found)));
            }
            Status::Released | Status::Expired => return Ok(Outcome::Closed(closed(&found))),
            Status::Held => {}
        }
        let _show = seats.lock(&found.value.show_id).await;
        let due = found.value.is_due(wire::now_millis());
        let to = if due {
            Status::Expired
        } else {
            Status::Confirmed
        };
        let Some((tx, after)) = seats.end_hold(&found, to).await? else {
            continue; // Changed since it was read: read it again.
        };
        let reply = if due {
            Outcome::Closed(closed(&after))
        } else {
            Outcome::Confirmed(ReservationRecord::to_wire(&after))
        };
        match ctx.commit(tx, &reply).await {
            Ok(()) => return Ok(reply),
            // Released or expired since it was read, or its show changed: read again.
            Err(error) if seats::contended(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(seats::gave_up())
}
