//! `Billing.GetCharge`: the charge of one booking, for administrators and services.

use switchboard::proto::billing::v1::{
    ChargeNotFound, GetChargeRequest, get_charge_reply::Outcome,
};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use super::{require, require_service_or_admin};
use crate::record::ChargeRecord;

pub(super) async fn handle(
    charges: &Collection<ChargeRecord>,
    ctx: Context,
    request: GetChargeRequest,
) -> Result<Outcome, ServiceError> {
    require_service_or_admin(&ctx)?;
    require("booking_id", &request.booking_id)?;
    Ok(match charges.get(&request.booking_id).await? {
        Some(charge) => Outcome::Found(ChargeRecord::to_wire(&charge)),
        None => Outcome::NotFound(ChargeNotFound {
            booking_id: request.booking_id,
        }),
    })
}
