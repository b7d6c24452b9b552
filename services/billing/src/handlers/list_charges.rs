//! `Billing.ListCharges`: charges ordered by booking id, one page at a time, for
//! administrators and services.

use switchboard::proto::billing::v1::{ListChargesReply, ListChargesRequest};
use switchboard::proto::switchboard::v1::PageInfo;
use switchboard::store::{self, Collection};
use switchboard::{Context, ServiceError};

use super::require_service_or_admin;
use crate::record::ChargeRecord;

pub(super) async fn handle(
    charges: &Collection<ChargeRecord>,
    ctx: Context,
    request: ListChargesRequest,
) -> Result<ListChargesReply, ServiceError> {
    require_service_or_admin(&ctx)?;
    let page = request.page.unwrap_or_default();
    let after = Some(page.after).filter(|a| !a.is_empty());
    let found = charges
        .find(
            charges
                .query()
                .after(after)
                .limit(store::page_size(page.limit)),
        )
        .await?;
    Ok(ListChargesReply {
        charges: found.records.iter().map(ChargeRecord::to_wire).collect(),
        page: Some(PageInfo {
            next: found.next.unwrap_or_default(),
        }),
    })
}
