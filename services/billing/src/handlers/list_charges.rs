//! `Billing.ListCharges`: charges ordered by booking id, one page at a time, for
//! administrators and services.

use switchboard::proto::billing::v1::{ListChargesReply, ListChargesRequest};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use super::require_service_or_admin;
use crate::record::ChargeRecord;

pub(super) async fn handle(
    charges: &Collection<ChargeRecord>,
    ctx: Context,
    request: ListChargesRequest,
) -> Result<ListChargesReply, ServiceError> {
    require_service_or_admin(&ctx)?;
    let found = charges
        .find(charges.query().page(request.page.as_ref()))
        .await?;
    Ok(ListChargesReply {
        charges: found.records.iter().map(ChargeRecord::to_wire).collect(),
        page: Some(found.info()),
    })
}
