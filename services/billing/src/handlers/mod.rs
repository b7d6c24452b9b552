//! The `BillingHandler`: one file per rpc, each a function over the charges collection
//! (and, for Charge and SetFaults, the faults in force).

mod charge;
mod get_charge;
mod list_charges;
mod refund;
mod set_faults;

use std::sync::RwLock;

use switchboard::auth::{ADMIN_ROLE, SERVICE_ROLE};
use switchboard::proto::billing::v1::{
    BillingHandler, ChargeRequest, GetChargeRequest, ListChargesReply, ListChargesRequest,
    RefundRequest, SetFaultsReply, SetFaultsRequest, charge_reply, get_charge_reply, refund_reply,
};
use switchboard::store::{Collection, StoreError};
use switchboard::{Context, ServiceError};

use crate::faults::Faults;
use crate::record::ChargeRecord;

/// Reads and decisions of one Charge or Refund before it gives up on a record that keeps
/// changing under it (only a concurrent Charge or Refund of the same booking changes it).
const MAX_ATTEMPTS: usize = 5;

/// The billing service's handler: state shared by every request.
pub struct Billing {
    charges: Collection<ChargeRecord>,
    faults: RwLock<Faults>,
    fault_injection: bool,
}

impl Billing {
    /// A handler over the `charges` collection, injecting `faults` into Charge;
    /// `fault_injection` says whether SetFaults may change them.
    pub fn new(charges: Collection<ChargeRecord>, faults: Faults, fault_injection: bool) -> Self {
        Self {
            charges,
            faults: RwLock::new(faults),
            fault_injection,
        }
    }

    /// The faults in force now.
    fn faults(&self) -> Faults {
        *self.faults.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl BillingHandler for Billing {
    async fn charge(
        &self,
        ctx: Context,
        request: ChargeRequest,
    ) -> Result<charge_reply::Outcome, ServiceError> {
        charge::handle(&self.charges, self.faults(), ctx, request).await
    }

    async fn refund(
        &self,
        ctx: Context,
        request: RefundRequest,
    ) -> Result<refund_reply::Outcome, ServiceError> {
        refund::handle(&self.charges, ctx, request).await
    }

    async fn get_charge(
        &self,
        ctx: Context,
        request: GetChargeRequest,
    ) -> Result<get_charge_reply::Outcome, ServiceError> {
        get_charge::handle(&self.charges, ctx, request).await
    }

    async fn list_charges(
        &self,
        ctx: Context,
        request: ListChargesRequest,
    ) -> Result<ListChargesReply, ServiceError> {
        list_charges::handle(&self.charges, ctx, request).await
    }

    async fn set_faults(
        &self,
        ctx: Context,
        request: SetFaultsRequest,
    ) -> Result<SetFaultsReply, ServiceError> {
        set_faults::handle(&self.faults, self.fault_injection, ctx, request)
    }
}

/// Refuses an empty id field.
fn require(field: &str, value: &str) -> Result<(), ServiceError> {
    if value.trim().is_empty() {
        return Err(ServiceError::invalid_field(field, "is required"));
    }
    Ok(())
}

/// The caller when it holds the `service` role (the bookings saga) or `admin`: 403
/// otherwise, 401 when anonymous.
fn require_service_or_admin(ctx: &Context) -> Result<(), ServiceError> {
    let identity = ctx.require_identity()?;
    if identity
        .roles
        .iter()
        .any(|role| role == SERVICE_ROLE || role == ADMIN_ROLE)
    {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!(
            "this requires the `{SERVICE_ROLE}` or `{ADMIN_ROLE}` role"
        )))
    }
}

/// Whether a failed commit lost a race on the booking's charge record (stored or changed
/// by a concurrent Charge or Refund since it was read), so reading again decides it.
/// Anything else — in particular the idempotency record of a replica that ran the same
/// keyed command first — is for the runtime to answer.
fn raced(error: &StoreError) -> bool {
    match error {
        StoreError::AlreadyExists { collection, .. }
        | StoreError::VersionConflict { collection, .. }
        | StoreError::NotFound { collection, .. } => collection == crate::COLLECTION,
        _ => false,
    }
}

/// What a Charge or Refund answers when the booking's record kept changing.
fn gave_up() -> ServiceError {
    ServiceError::conflict("the booking's charge kept changing; try again")
}
