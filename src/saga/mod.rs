//! Sagas: work that spans services, as a sequence of steps each paired with the step that
//! undoes it, driven to an end whatever crashes on the way.
//!
//! A service declares a saga in Rust: a type implementing [`Saga`] (its name, its data,
//! its [`Step`]s in order, and the events each transition announces), and runs it with a
//! [`SagaRunner`]. A handler starts a saga with [`SagaRunner::begin`], which adds the
//! saga's record to the handler's transaction; once committed, the runner drives it in the
//! background:
//!
//! - each step's action is a typed rpc call carrying the idempotency key
//!   `<saga>:<id>:<step>` ([`StepCall::options`]), so a retried or resumed step has its
//!   effect once;
//! - a step that fails with a domain outcome ([`StepOutcome::Failed`]) makes the saga undo
//!   the finished steps in reverse order and end [`SagaStatus::Cancelled`] with the reason;
//! - a transient failure (timeout, no responders, overloaded, circuit open) is retried with
//!   backoff until the saga's deadline; past it, the saga undoes the finished steps and
//!   the one in doubt (whose effect is unknown) — so a compensation must tolerate an action
//!   that never ran, and make one that arrives late fail;
//! - a step marked [`Step::retried_past_deadline`] (a pivot, such as selling the seats
//!   that are already paid for) is retried until it is decided either way;
//! - compensations are retried until they succeed, each visible in the saga's record.
//!
//! Every transition commits the saga's record together with the events the saga announces
//! for it (the outbox), in one transaction. The record holds a lease: the replica that
//! commits a transition holds the saga for [`SagaSettings::lease`]; every replica looks for
//! sagas whose lease ran out (at start, then every [`SagaSettings::sweep`]) and takes them
//! over, and a replica restarted under the same `SB_INSTANCE_ID` resumes its own at once.
//! A replica that lost its lease finds out at its next commit (the record's version moved)
//! and stops.
//!
//! - this file: what a saga declares ([`Saga`], [`Step`], [`StepOutcome`], [`StepCall`],
//!   [`Announcer`]) and its stored state ([`SagaState`]);
//! - [`runner`]: [`SagaRunner`], which starts, drives, resumes and takes over sagas;
//! - `settings.rs`: [`SagaSettings`] (`SB_SAGA_*`).

mod runner;
mod settings;

use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bus::{Bus, BusError, CallOptions, TraceContext};
use crate::service::ServiceError;
use crate::store::Transaction;
use crate::wire::Event;

pub use runner::SagaRunner;
pub use settings::SagaSettings;

/// A saga: its steps in order, the data they work on, and what each transition announces.
pub trait Saga: Send + Sync + 'static {
    /// What the steps work on, stored with the saga's state; a step's action may return
    /// it changed (e.g. with the amount a reservation priced).
    type Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    /// The saga's name: the prefix of its steps' idempotency keys, in logs and spans.
    fn name(&self) -> &'static str;

    /// The steps, in the order they run; undone in reverse.
    fn steps(&self) -> &[Box<dyn Step<Self::Data>>];

    /// Adds what saga `id` in `state` (as it is after a transition, its start included)
    /// announces to `tx`, the transaction that commits the transition; `announcer`
    /// announces the owning service's events.
    fn announce(
        &self,
        id: &str,
        state: &SagaState<Self::Data>,
        tx: Transaction,
        announcer: &Announcer,
    ) -> Result<Transaction, ServiceError>;
}

/// What a step's action concluded, when the service it called answered.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome<D> {
    /// Done: the saga goes on with this data.
    Done(D),
    /// Refused for a domain reason (sold out, declined), in words the user may read: the
    /// saga undoes the finished steps and is cancelled with this reason.
    Failed(String),
}

/// One step of a saga: an action and the compensation that undoes it.
#[async_trait::async_trait]
pub trait Step<D>: Send + Sync + 'static {
    /// The step's name (`reserve_seats`): part of its idempotency keys, so it must not
    /// change while sagas are in flight.
    fn name(&self) -> &'static str;

    /// Does the step's work, calling with [`StepCall::options`]. A transient error is
    /// retried (same key); any other error undoes the saga.
    async fn run(&self, call: &StepCall, data: &D) -> Result<StepOutcome<D>, BusError>;

    /// Undoes the step's work. Retried until it returns `Ok`, so it must be idempotent,
    /// succeed when the action never ran, and make a late action fail.
    async fn compensate(&self, call: &StepCall, data: &D) -> Result<(), BusError>;

    /// Whether transient failures are retried past the saga's deadline until the step is
    /// decided (a pivot: undoing it in doubt would be wrong). Default: no.
    fn retried_past_deadline(&self) -> bool {
        false
    }
}

/// What a step's action or compensation calls with: a bus acting as the owning service,
/// continuing the saga's trace, and the options that make the call once per step.
#[derive(Debug, Clone)]
pub struct StepCall {
    bus: Bus,
    saga_id: String,
    key: String,
    deadline: SystemTime,
    attempt: u32,
}

impl StepCall {
    /// The bus, carrying the service's own token.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// The saga's id.
    pub fn saga_id(&self) -> &str {
        &self.saga_id
    }

    /// `<saga>:<id>:<step>` for an action, `<saga>:<id>:<step>:undo` for a compensation.
    pub fn idempotency_key(&self) -> &str {
        &self.key
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The options every call of the step must use: its idempotency key, the attempt's
    /// deadline, and a single attempt — the saga retries, and must see each attempt's own
    /// failure to know whether the step may have had its effect.
    pub fn options(&self) -> CallOptions {
        CallOptions::default()
            .idempotency_key(self.key.clone())
            .deadline(self.deadline)
            .single_attempt()
    }
}

/// Announces the owning service's events in a saga's transition.
#[derive(Debug, Clone)]
pub struct Announcer {
    service: &'static str,
    trace: Option<TraceContext>,
}

impl Announcer {
    /// Adds the announcement of `event` to `tx` (see [`crate::Context::announce`]).
    pub fn announce<E: Event>(
        &self,
        tx: Transaction,
        event: &E,
    ) -> Result<Transaction, ServiceError> {
        Ok(tx.publish(crate::service::announcement(
            self.service,
            event,
            self.trace.as_ref(),
        )?))
    }
}

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// Running its steps forward.
    Running,
    /// Undoing its finished steps.
    Compensating,
    /// Every step is done.
    Completed,
    /// Every finished step is undone; `reason` says why.
    Cancelled,
}

/// One thing that happened to a saga, kept in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaEvent {
    /// The step.
    pub step: String,
    /// `done`, `failed`, `timed_out`, `compensated`.
    pub outcome: String,
    /// Attempts it took.
    pub attempts: u32,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A saga's stored state: the record in the owning service's collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SagaState<D> {
    /// The saga's name ([`Saga::name`]).
    pub saga: String,
    /// Where it stands.
    pub status: SagaStatus,
    /// Running: the index of the next step to run. Compensating: how many steps are
    /// still to undo (step `step - 1` next). Completed: the number of steps. Cancelled: 0.
    pub step: u32,
    /// The step running or being undone, when there is one.
    pub current: Option<String>,
    /// What the steps work on.
    pub data: D,
    /// Why it was cancelled (or is being undone).
    pub reason: Option<String>,
    /// Whether it has ended (indexed: the sweep looks for `false`).
    pub done: bool,
    /// When its steps must be done by, in milliseconds since the Unix epoch.
    pub deadline_ms: i64,
    /// The replica holding it (`SB_INSTANCE_ID`).
    pub lease_owner: String,
    /// Until when, in milliseconds since the Unix epoch.
    pub lease_until_ms: i64,
    /// The code of the last transient failure of the current step, if any.
    pub last_error: Option<String>,
    /// What happened so far, in order.
    pub history: Vec<SagaEvent>,
    /// 1 at the start, one more with every transition (never with a lease renewal): what a
    /// follower compares to know which of two states is the later.
    #[serde(default)]
    pub revision: u64,
    /// The trace of the request that started it: every step continues it.
    pub traceparent: Option<String>,
    /// When it started, in milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

impl<D> SagaState<D> {
    /// Whether the step at `index` has finished (and is not yet undone).
    pub fn finished(&self, index: usize) -> bool {
        match self.status {
            SagaStatus::Running | SagaStatus::Compensating => index < self.step as usize,
            SagaStatus::Completed => true,
            SagaStatus::Cancelled => false,
        }
    }
}

/// Whether another attempt of a failed call may succeed: nobody answered, the callee or
/// the breaker turned it away, the token was refused (it is renewed on the next attempt),
/// or the call met an earlier attempt with the same key still running (409). A service's
/// other answers (400, 403, 404, a malformed reply) are final.
pub fn is_transient(error: &BusError) -> bool {
    match error {
        BusError::Service { code, .. } => *code >= 500 || matches!(*code, 408 | 409 | 429),
        BusError::Decode { .. } | BusError::MissingOutcome { .. } => false,
        _ => true,
    }
}
