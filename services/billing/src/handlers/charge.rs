//! `Billing.Charge`: charges a customer for a booking, at most once per booking.
//!
//! The faults in force apply first, to every Charge: overloaded refuses it with 503
//! before the store is touched, latency delays it. Then a booking that already has a
//! record is answered from it (a repeat gets the same charge; a declined one its reason;
//! a refunded or voided booking is declined), and a new one is charged or — by the
//! injected decline rate — declined, and the decision stored. A Refund that stored a
//! VOIDED record first makes the insert fail; the record is read again and answers.

use switchboard::proto::billing::v1::{ChargeRequest, Declined, charge_reply::Outcome};
use switchboard::store::{Collection, Transaction, Versioned};
use switchboard::{Context, ErrorCode, ServiceError, wire};

use super::{MAX_ATTEMPTS, gave_up, raced, require, require_service_or_admin};
use crate::faults::Faults;
use crate::record::{ChargeRecord, Status};

/// Why an injected decline declined, as a customer may read it.
const CARD_DECLINED: &str = "card declined";
/// Why a booking refunded or voided before its Charge is declined.
const CANCELLED: &str = "the booking was cancelled";

pub(super) async fn handle(
    charges: &Collection<ChargeRecord>,
    faults: Faults,
    ctx: Context,
    request: ChargeRequest,
) -> Result<Outcome, ServiceError> {
    require_service_or_admin(&ctx)?;
    require("booking_id", &request.booking_id)?;
    require("customer_id", &request.customer_id)?;
    if request.amount_cents < 1 {
        return Err(ServiceError::invalid_field(
            "amount_cents",
            "must be at least 1 cent",
        ));
    }
    if faults.overloaded {
        return Err(ServiceError::new(
            ErrorCode::Overloaded,
            "billing is overloaded",
        ));
    }
    if !faults.latency.is_zero() {
        // The injected fault itself: a slow payment provider.
        tokio::time::sleep(faults.latency).await;
    }
    for _ in 0..MAX_ATTEMPTS {
        if let Some(existing) = charges.get(&request.booking_id).await? {
            return Ok(answer(&existing));
        }
        let now = wire::now_millis();
        let declined = faults.declines();
        let record = ChargeRecord {
            customer_id: request.customer_id.clone(),
            amount_cents: request.amount_cents,
            state: if declined {
                Status::Declined
            } else {
                Status::Charged
            },
            decline_reason: declined.then(|| CARD_DECLINED.to_string()),
            charged_at_ms: (!declined).then_some(now),
            refunded_at_ms: None,
            created_at_ms: now,
        };
        let tx = charges.insert(Transaction::new(), &request.booking_id, &record)?;
        let reply = answer(&Versioned {
            id: request.booking_id.clone(),
            version: 1,
            value: record,
        });
        match ctx.commit(tx, &reply).await {
            Ok(()) => return Ok(reply),
            // A concurrent Charge or Refund of this booking stored its record first.
            Err(error) if raced(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(gave_up())
}

/// What the booking's stored charge answers to a Charge.
fn answer(record: &Versioned<ChargeRecord>) -> Outcome {
    let declined = |reason: &str| {
        Outcome::Declined(Declined {
            booking_id: record.id.clone(),
            reason: reason.to_string(),
        })
    };
    match record.value.state {
        Status::Charged => Outcome::Charged(ChargeRecord::to_wire(record)),
        Status::Declined => declined(
            record
                .value
                .decline_reason
                .as_deref()
                .unwrap_or(CARD_DECLINED),
        ),
        Status::Refunded | Status::Voided => declined(CANCELLED),
    }
}
