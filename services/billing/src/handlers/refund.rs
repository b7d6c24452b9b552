//! `Billing.Refund`: gives a booking's charge back (the compensation of Charge). Never
//! faulted: a compensation must be able to succeed.
//!
//! A charged booking becomes REFUNDED. A booking with no record gets a VOIDED one, so a
//! Charge arriving after its compensation is declined. Declined, refunded and voided
//! bookings are answered unchanged: there is nothing to give back.

use switchboard::proto::billing::v1::{RefundRequest, refund_reply::Outcome};
use switchboard::store::{Collection, Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use super::{MAX_ATTEMPTS, gave_up, raced, require, require_service_or_admin};
use crate::record::{ChargeRecord, Status};

pub(super) async fn handle(
    charges: &Collection<ChargeRecord>,
    ctx: Context,
    request: RefundRequest,
) -> Result<Outcome, ServiceError> {
    require_service_or_admin(&ctx)?;
    require("booking_id", &request.booking_id)?;
    for _ in 0..MAX_ATTEMPTS {
        let (tx, after) = match charges.get(&request.booking_id).await? {
            None => {
                let voided = ChargeRecord::voided();
                let tx = charges.insert(Transaction::new(), &request.booking_id, &voided)?;
                let after = Versioned {
                    id: request.booking_id.clone(),
                    version: 1,
                    value: voided,
                };
                (tx, after)
            }
            Some(mut charged) if charged.value.state == Status::Charged => {
                charged.value.state = Status::Refunded;
                charged.value.refunded_at_ms = Some(wire::now_millis());
                let tx = charges.replace(
                    Transaction::new(),
                    &charged.id,
                    charged.version,
                    &charged.value,
                )?;
                charged.version += 1;
                (tx, charged)
            }
            Some(unchanged) => return Ok(Outcome::Refunded(ChargeRecord::to_wire(&unchanged))),
        };
        let refunded = Outcome::Refunded(ChargeRecord::to_wire(&after));
        match ctx.commit(tx, &refunded).await {
            Ok(()) => return Ok(refunded),
            // A concurrent Charge or Refund of this booking got there first: read again.
            Err(error) if raced(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(gave_up())
}
