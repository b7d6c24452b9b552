//! `Billing.SetFaults`: changes the faults injected into Charge, in this replica. Only an
//! administrator may, and only while `BILLING_FAULT_INJECTION` is on.

use std::sync::RwLock;

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::billing::v1::{SetFaultsReply, SetFaultsRequest};
use switchboard::{Context, ServiceError};

use crate::faults::Faults;

pub(super) fn handle(
    faults: &RwLock<Faults>,
    fault_injection: bool,
    ctx: Context,
    request: SetFaultsRequest,
) -> Result<SetFaultsReply, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    if !fault_injection {
        return Err(ServiceError::forbidden(
            "fault injection is disabled (set BILLING_FAULT_INJECTION=true to allow SetFaults)",
        ));
    }
    let wanted = Faults::from_wire(request.faults.as_ref())?;
    *faults.write().unwrap_or_else(|p| p.into_inner()) = wanted;
    tracing::warn!(
        decline_rate = wanted.decline_rate,
        latency_ms = wanted.latency.as_millis(),
        overloaded = wanted.overloaded,
        "injected faults changed"
    );
    Ok(SetFaultsReply {
        faults: Some(wanted.to_wire()),
    })
}
