//! `Tickets.CreateShow`: puts a show on sale with all its seats free.

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::tickets::v1::{CreateShowRequest, create_show_reply::Outcome};
use switchboard::store::{Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use crate::record::ShowRecord;
use crate::seats::Seats;

/// The longest name accepted, in characters.
const MAX_NAME: usize = 200;
/// The most seats a show may have.
const MAX_CAPACITY: u32 = 1_000_000;

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: CreateShowRequest,
) -> Result<Outcome, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    let name = request.name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME {
        return Err(ServiceError::invalid_field(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if !(1..=MAX_CAPACITY).contains(&request.capacity) {
        return Err(ServiceError::invalid_field(
            "capacity",
            format!("must be 1 to {MAX_CAPACITY} seats"),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let show = ShowRecord {
        name: name.to_string(),
        capacity: request.capacity,
        reserved: 0,
        sold: 0,
        price_cents: request.price_cents,
        created_at_ms: wire::now_millis(),
    };
    let tx = seats.shows().insert(Transaction::new(), &id, &show)?;
    let created = Outcome::Created(ShowRecord::to_wire(&Versioned {
        id,
        version: 1,
        value: show,
    }));
    ctx.commit(tx, &created).await?;
    Ok(created)
}
