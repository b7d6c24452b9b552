//! What a handler knows about the request it handles.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::{ADMIN_ROLE, Caller, Identity};
use crate::bus::{Bus, TraceContext};
use crate::service::idempotency::Keyed;
use crate::service::{EncodeReply, ServiceError};
use crate::store::{Store, StoreError, Transaction};
use crate::wire::Event;

/// The request's metadata and a bus whose calls inherit its deadline, token and trace.
#[derive(Clone)]
pub struct Context {
    /// The service handling the request.
    pub(crate) service: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) message_id: String,
    pub(crate) sender: Option<String>,
    pub(crate) caller: Caller,
    pub(crate) deadline: SystemTime,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) bus: Bus,
    /// The service's store, where [`Context::commit`] writes.
    pub(crate) store: Arc<dyn Store>,
    /// Present when the request carries an idempotency key.
    pub(crate) keyed: Option<Arc<Keyed>>,
    /// Where a streaming rpc's replies go; `None` for other rpcs.
    pub(crate) stream: Option<Arc<super::stream::StreamTarget>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("subject", &self.subject)
            .field("message_id", &self.message_id)
            .field("sender", &self.sender)
            .field("caller", &self.caller)
            .field("deadline", &self.deadline)
            .field("idempotency_key", &self.idempotency_key)
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The subject the request arrived on.
    pub fn subject(&self) -> &'static str {
        self.subject
    }

    /// The request's `Sb-Message-Id` (generated here when the sender set none).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The sending service or client (`Sb-Sender`), when it said.
    pub fn sender(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// Who is calling, from the verified bearer token.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The verified caller, or 401 for anonymous requests.
    pub fn require_identity(&self) -> Result<&Identity, ServiceError> {
        match &self.caller {
            Caller::Authenticated(identity) => Ok(identity),
            Caller::Anonymous => Err(ServiceError::unauthorized("a bearer token is required")),
        }
    }

    /// The verified caller when it holds `role`: 403 otherwise (401 when anonymous).
    pub fn require_role(&self, role: &str) -> Result<&Identity, ServiceError> {
        let identity = self.require_identity()?;
        if identity.roles.iter().any(|r| r == role) {
            Ok(identity)
        } else {
            Err(ServiceError::forbidden(format!(
                "this requires the `{role}` role"
            )))
        }
    }

    /// The verified caller when it is `owner` (a user id) or an administrator (the
    /// [`ADMIN_ROLE`] role): 403 otherwise (401 when anonymous).
    pub fn require_owner(&self, owner: &str) -> Result<&Identity, ServiceError> {
        let identity = self.require_identity()?;
        if identity.subject == owner || identity.roles.iter().any(|r| r == ADMIN_ROLE) {
            Ok(identity)
        } else {
            Err(ServiceError::forbidden("this belongs to another user"))
        }
    }

    /// When the caller stops waiting.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }

    /// The `Sb-Idempotency-Key` the command came with.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// The W3C trace context the request came with.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// A bus for downstream calls: they inherit this request's deadline, bearer token and
    /// trace context unless their own options say otherwise.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Adds the announcement of `event` (one of this service's own events) to `tx`: it is
    /// published once `tx` commits (through [`Context::commit`]), and never if it does not.
    /// Its `traceparent` is this request's.
    pub fn announce<E: Event>(
        &self,
        tx: Transaction,
        event: &E,
    ) -> Result<Transaction, ServiceError> {
        Ok(tx.publish(super::events::announcement(
            self.service,
            event,
            self.trace.as_ref(),
        )?))
    }

    /// Commits `tx` to the service's store as this request's effect, `reply` being what
    /// the handler will return. For a command carrying an idempotency key, the command's
    /// record, holding `reply`, is written in the same transaction, so a repeat gets
    /// `reply` even if this process dies before answering, and never runs the command
    /// again. A handler that writes must commit through here to have that guarantee, and
    /// should return the `reply` it committed.
    ///
    /// When a replica running the same command won the race, the commit fails (the
    /// record exists) and the runtime answers with the winner's reply instead of the
    /// handler's error.
    pub async fn commit<R: EncodeReply + ?Sized>(
        &self,
        tx: Transaction,
        reply: &R,
    ) -> Result<(), StoreError> {
        match &self.keyed {
            None => self.store.commit(tx).await,
            Some(keyed) => {
                let (tx, version) = keyed.record_in(tx, &reply.encode_reply());
                self.store.commit(tx).await?;
                keyed.committed(version);
                Ok(())
            }
        }
    }
}
