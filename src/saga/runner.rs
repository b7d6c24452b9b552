//! [`SagaRunner`]: starts sagas in a handler's transaction and drives them in a worker —
//! forward, or back through the compensations — under a lease in the store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::{
    Announcer, Saga, SagaEvent, SagaSettings, SagaState, SagaStatus, StepCall, StepOutcome,
    is_transient,
};
use crate::bus::{BusError, TraceContext};
use crate::service::{Context, RuntimeSettings, ServiceError, WorkerContext};
use crate::store::{Collection, Store, StoreError, Transaction, Versioned};
use crate::telemetry::{propagation, spans};
use crate::wire;

/// First wait after a failed attempt; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs the sagas of one [`Saga`] declaration for a service: cheap to clone, shared by
/// the handler that starts sagas and the worker that drives them.
pub struct SagaRunner<S: Saga> {
    inner: Arc<Inner<S>>,
}

impl<S: Saga> Clone for SagaRunner<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S: Saga> {
    saga: S,
    records: Collection<SagaState<S::Data>>,
    settings: SagaSettings,
    /// This replica's name: the owner of the leases it takes.
    instance: Arc<str>,
    /// Sagas started here, to drive at once rather than at the next sweep.
    kick: mpsc::UnboundedSender<String>,
    /// The other end, taken by the worker.
    kicked: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

/// Why one pass over a saga stopped early (it is taken up again later).
#[derive(Debug, thiserror::Error)]
enum DriveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("announcing the transition failed: {0}")]
    Announce(ServiceError),
}

impl<S: Saga> SagaRunner<S> {
    /// A runner of `saga` keeping its records in `collection` of `store`, with the saga
    /// settings and replica name of `runtime`. Call [`Self::ensure_indexes`] before
    /// serving, and run [`Self::worker`] as one of the service's workers.
    pub fn new(
        saga: S,
        store: Arc<dyn Store>,
        collection: &str,
        runtime: &RuntimeSettings,
    ) -> Self {
        let (kick, kicked) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                saga,
                records: Collection::new(store, collection),
                settings: runtime.saga.clone(),
                instance: Arc::from(runtime.instance_id.as_str()),
                kick,
                kicked: Mutex::new(Some(kicked)),
            }),
        }
    }

    /// Creates the index the sweep reads by.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        self.inner.records.ensure_index("done", false).await
    }

    /// The saga records' collection, for the owner's own reads (a record's id is the
    /// saga's id).
    pub fn records(&self) -> &Collection<SagaState<S::Data>> {
        &self.inner.records
    }

    /// The saga `id` as stored.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned<SagaState<S::Data>>>, StoreError> {
        self.inner.records.get(id).await
    }

    /// Adds the start of saga `id` over `data` to `tx` (its record, held by this replica,
    /// and what [`Saga::announce`] announces for it), continuing `ctx`'s trace. Commit
    /// `tx` (with `ctx.commit`), then call [`Self::kick`].
    pub fn begin(
        &self,
        ctx: &Context,
        tx: Transaction,
        id: &str,
        data: S::Data,
    ) -> Result<(Transaction, SagaState<S::Data>), ServiceError> {
        let inner = &self.inner;
        let now = wire::now_millis();
        let traceparent = propagation::traceparent(&tracing::Span::current())
            .or_else(|| ctx.trace().map(|trace| trace.traceparent.clone()));
        let state = SagaState {
            saga: inner.saga.name().to_owned(),
            status: SagaStatus::Running,
            step: 0,
            current: inner
                .saga
                .steps()
                .first()
                .map(|step| step.name().to_owned()),
            data,
            reason: None,
            done: false,
            deadline_ms: now + millis(inner.settings.deadline),
            lease_owner: inner.instance.to_string(),
            lease_until_ms: now + millis(inner.settings.lease),
            last_error: None,
            history: Vec::new(),
            revision: 1,
            traceparent,
            created_ms: now,
            updated_ms: now,
        };
        let tx = inner.records.insert(tx, id, &state)?;
        let announcer = Announcer {
            service: ctx.service,
            trace: ctx.trace().cloned(),
        };
        let tx = inner.saga.announce(id, &state, tx, &announcer)?;
        Ok((tx, state))
    }

    /// Drives saga `id` now (after the transaction [`Self::begin`] filled committed).
    pub fn kick(&self, id: &str) {
        // Only fails once the worker is gone (the service is stopping): the saga is then
        // resumed by whichever replica sweeps it first.
        let _ = self.inner.kick.send(id.to_owned());
    }

    /// The worker to run beside the service's endpoints
    /// ([`crate::ServiceDefinition::worker`]): drives the sagas started here, and at start
    /// and every [`SagaSettings::sweep`] takes up those nobody drives; at the stop, lets
    /// each saga in hand finish its current call, commit, and hand its lease back.
    pub fn worker(
        &self,
    ) -> impl FnOnce(WorkerContext) -> futures::future::BoxFuture<'static, ()> + use<S> {
        let runner = self.clone();
        move |ctx| Box::pin(runner.run(ctx))
    }

    async fn run(self, ctx: WorkerContext) {
        let Some(mut kicked) = self.inner.kicked.lock().ok().and_then(|mut k| k.take()) else {
            tracing::error!(
                saga = self.inner.saga.name(),
                "the saga worker runs only once"
            );
            return;
        };
        let active: Arc<Mutex<HashSet<String>>> = Arc::default();
        let permits = Arc::new(Semaphore::new(self.inner.settings.concurrency));
        let mut tasks = JoinSet::new();
        let mut sweep = tokio::time::interval(self.inner.settings.sweep);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopping = ctx.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                () = &mut stopping => break,
                Some(id) = kicked.recv() => {
                    self.spawn(&mut tasks, &ctx, &active, &permits, id);
                }
                _ = sweep.tick() => {
                    match self.orphans().await {
                        Ok(ids) => for id in ids {
                            self.spawn(&mut tasks, &ctx, &active, &permits, id);
                        },
                        Err(error) => tracing::warn!(
                            saga = self.inner.saga.name(), %error, "cannot look for sagas to resume"
                        ),
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Drives `id` on a task of its own unless this replica already does.
    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        ctx: &WorkerContext,
        active: &Arc<Mutex<HashSet<String>>>,
        permits: &Arc<Semaphore>,
        id: String,
    ) {
        let fresh = active
            .lock()
            .map(|mut set| set.insert(id.clone()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let runner = self.clone();
        let ctx = ctx.clone();
        let active = active.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            if let Ok(_permit) = permits.acquire_owned().await {
                let driven = metrics::gauge!("sb_sagas_driven", "saga" => runner.inner.saga.name());
                driven.increment(1.0);
                runner.drive(&ctx, &id).await;
                driven.decrement(1.0);
            }
            if let Ok(mut set) = active.lock() {
                set.remove(&id);
            }
        });
    }

    /// The unfinished sagas this replica may drive: its own, and those whose lease ran out.
    async fn orphans(&self) -> Result<Vec<String>, StoreError> {
        let records = &self.inner.records;
        let now = wire::now_millis();
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let query = records
                .query()
                .where_eq("done", false)
                .after(after)
                .limit(1000);
            let page = records.find(query).await?;
            ids.extend(
                page.records
                    .into_iter()
                    .filter(|r| self.may_take(&r.value, now))
                    .map(|r| r.id),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// Whether this replica may drive `state` at `now`.
    fn may_take(&self, state: &SagaState<S::Data>, now: i64) -> bool {
        !state.done && (*state.lease_owner == *self.inner.instance || state.lease_until_ms <= now)
    }

    /// Drives saga `id` as far as it goes: to its end, until the lease is lost, or until
    /// the service stops (then the lease is handed back). Store failures pause and retry.
    async fn drive(&self, ctx: &WorkerContext, id: &str) {
        let mut failures = 0;
        loop {
            match self.drive_once(ctx, id).await {
                Ok(()) => return,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(saga = self.inner.saga.name(), id, %error, "saga paused");
                    if !backoff(ctx, failures).await {
                        return;
                    }
                }
            }
        }
    }

    async fn drive_once(&self, ctx: &WorkerContext, id: &str) -> Result<(), DriveError> {
        let inner = &self.inner;
        let Some(mut current) = inner.records.get(id).await? else {
            return Ok(());
        };
        let now = wire::now_millis();
        if !self.may_take(&current.value, now) {
            return Ok(());
        }
        // A lease this replica still holds (the one `begin` gave it) needs no write; the
        // loop below renews it when it runs short. Taking another's expired lease moves the
        // version, so a replica still driving the saga loses it at its next write.
        let held =
            *current.value.lease_owner == *inner.instance && current.value.lease_until_ms > now;
        if !held {
            current = match self.save(current, |_| {}).await {
                Ok(taken) => taken,
                Err(StoreError::VersionConflict { .. }) => return Ok(()),
                Err(error) => return Err(error.into()),
            };
        }
        let trace = current
            .value
            .traceparent
            .clone()
            .map(|traceparent| TraceContext {
                traceparent,
                tracestate: None,
                baggage: None,
            });
        let announcer = Announcer {
            service: ctx.service(),
            trace: trace.clone(),
        };
        let steps = inner.saga.steps();
        let mut attempts = 0;
        // Whether the current step may have had its effect without this pass knowing: a
        // step this pass did not start may have been sent by the replica before.
        let mut in_doubt = true;
        loop {
            if ctx.is_stopping() {
                // Handed back: whichever replica sweeps it next takes it at once.
                self.save(current, |state| state.lease_until_ms = 0)
                    .await
                    .ok();
                return Ok(());
            }
            let state = &current.value;
            let now = wire::now_millis();
            if state.lease_until_ms - now < millis(inner.settings.step_timeout) * 3 / 2 {
                current = match self.save(current, |_| {}).await {
                    Ok(renewed) => renewed,
                    Err(StoreError::VersionConflict { .. }) => return Ok(()),
                    Err(error) => return Err(error.into()),
                };
                continue;
            }
            let index = state.step as usize;
            let saga = inner.saga.name();
            // The span of this pass's decision; the transition it leads to is committed in
            // it too, so the events the transition announces belong to the saga's trace.
            let span;
            let next = match state.status {
                SagaStatus::Completed | SagaStatus::Cancelled => return Ok(()),
                SagaStatus::Running if index >= steps.len() => {
                    span = step_span(saga, "saga", "complete", id, 0, &trace);
                    Next::Complete
                }
                SagaStatus::Running => {
                    let step = &steps[index];
                    if now > state.deadline_ms && !step.retried_past_deadline() {
                        let why = match &state.last_error {
                            Some(code) => {
                                format!("{} did not succeed in time ({code})", step.name())
                            }
                            None => format!("{} did not succeed in time", step.name()),
                        };
                        span = step_span(saga, step.name(), "give_up", id, attempts, &trace);
                        Next::Undo {
                            from: index + usize::from(in_doubt),
                            reason: why,
                            outcome: "timed_out",
                        }
                    } else {
                        attempts += 1;
                        let call = self.call(ctx, id, step.name(), "", attempts).await;
                        span = step_span(saga, step.name(), "run", id, attempts, &trace);
                        let result = step.run(&call, &state.data).instrument(span.clone()).await;
                        match result {
                            Ok(StepOutcome::Done(data)) => Next::Forward(data),
                            Ok(StepOutcome::Failed(reason)) => Next::Undo {
                                from: index,
                                reason,
                                outcome: "failed",
                            },
                            Err(error) if is_transient(&error) => {
                                spans::failed(&span, error.error_type());
                                in_doubt |= !not_handled(&error);
                                Next::Retry(error)
                            }
                            Err(error) => {
                                spans::failed(&span, error.error_type());
                                in_doubt |= !not_handled(&error);
                                tracing::error!(saga = inner.saga.name(), id, step = step.name(), %error, "step failed for good");
                                let reason =
                                    format!("{} failed ({})", step.name(), error.code().name());
                                Next::Undo {
                                    from: index + usize::from(in_doubt),
                                    reason,
                                    outcome: "failed",
                                }
                            }
                        }
                    }
                }
                SagaStatus::Compensating if index == 0 => {
                    span = step_span(saga, "saga", "cancel", id, 0, &trace);
                    Next::Cancel
                }
                SagaStatus::Compensating => {
                    let step = &steps[index - 1];
                    attempts += 1;
                    let call = self.call(ctx, id, step.name(), ":undo", attempts).await;
                    span = step_span(saga, step.name(), "compensate", id, attempts, &trace);
                    match step
                        .compensate(&call, &state.data)
                        .instrument(span.clone())
                        .await
                    {
                        Ok(()) => Next::Undone,
                        Err(error) => {
                            spans::failed(&span, error.error_type());
                            if !is_transient(&error) {
                                tracing::error!(saga = inner.saga.name(), id, step = step.name(), %error, "compensation refused; retrying");
                            }
                            Next::Retry(error)
                        }
                    }
                }
            };
            if let Next::Retry(error) = &next {
                metrics::counter!(
                    "sb_saga_retries_total",
                    "saga" => saga,
                    "step" => current.value.current.clone().unwrap_or_default(),
                    "error" => error.error_type()
                )
                .increment(1);
                current.value.last_error = Some(error.error_type().to_owned());
                // Stopping ends the wait early; the top of the loop hands the lease back.
                backoff(ctx, attempts).await;
                continue;
            }
            let step_name = |i: usize| steps.get(i).map(|s| s.name().to_owned());
            let event = |step: Option<String>, outcome: &str| SagaEvent {
                step: step.unwrap_or_default(),
                outcome: outcome.to_owned(),
                attempts,
                at_ms: wire::now_millis(),
            };
            // What the transition counts as, once committed.
            let (counted_step, outcome) = match &next {
                Next::Forward(_) => (step_name(index), "done"),
                Next::Complete => (None, "completed"),
                Next::Undo { outcome, .. } => (step_name(index), *outcome),
                Next::Undone => (step_name(index - 1), "compensated"),
                Next::Cancel => (None, "cancelled"),
                Next::Retry(_) => continue,
            };
            let mut state = current.value.clone();
            match next {
                Next::Forward(data) => {
                    state.history.push(event(step_name(index), "done"));
                    state.data = data;
                    state.step += 1;
                    state.current = step_name(index + 1);
                }
                Next::Complete => {
                    state.status = SagaStatus::Completed;
                    state.current = None;
                    state.done = true;
                }
                Next::Undo {
                    from,
                    reason,
                    outcome,
                } => {
                    state.history.push(event(step_name(index), outcome));
                    state.status = SagaStatus::Compensating;
                    state.step = u32::try_from(from).unwrap_or(u32::MAX);
                    state.reason = Some(reason);
                    state.current = from.checked_sub(1).and_then(step_name);
                }
                Next::Undone => {
                    state
                        .history
                        .push(event(step_name(index - 1), "compensated"));
                    state.step -= 1;
                    state.current = (index - 1).checked_sub(1).and_then(step_name);
                }
                Next::Cancel => {
                    state.status = SagaStatus::Cancelled;
                    state.current = None;
                    state.done = true;
                }
                Next::Retry(_) => continue,
            }
            attempts = 0;
            in_doubt = false;
            current = match self
                .transition(current, state, &announcer)
                .instrument(span)
                .await
            {
                Ok(next) => next,
                Err(DriveError::Store(StoreError::VersionConflict { .. })) => return Ok(()),
                Err(error) => return Err(error),
            };
            metrics::counter!(
                "sb_saga_transitions_total",
                "saga" => saga,
                "step" => counted_step.unwrap_or_default(),
                "outcome" => outcome
            )
            .increment(1);
            if current.value.done {
                tracing::info!(saga = inner.saga.name(), id, status = ?current.value.status, reason = current.value.reason, "saga ended");
                return Ok(());
            }
        }
    }

    /// The call of attempt `attempt` of `step` (`suffix` "" for the action, ":undo" for the
    /// compensation): the service's token, the key, a deadline within the lease.
    async fn call(
        &self,
        ctx: &WorkerContext,
        id: &str,
        step: &str,
        suffix: &str,
        attempt: u32,
    ) -> StepCall {
        let bus = match ctx.credentials().token().await {
            Ok(Some(token)) => ctx.bus().with_bearer_token(&token),
            Ok(None) => ctx.bus().clone(),
            Err(error) => {
                tracing::warn!(%error, "no service token: the step calls anonymously");
                ctx.bus().clone()
            }
        };
        StepCall {
            bus,
            saga_id: id.to_owned(),
            key: format!("{}:{id}:{step}{suffix}", self.inner.saga.name()),
            deadline: SystemTime::now() + self.inner.settings.step_timeout,
            attempt,
        }
    }

    /// Replaces the saga `current` by `state`, with what the saga announces for it, renewing
    /// the lease in the same write.
    async fn transition(
        &self,
        current: Versioned<SagaState<S::Data>>,
        mut state: SagaState<S::Data>,
        announcer: &Announcer,
    ) -> Result<Versioned<SagaState<S::Data>>, DriveError> {
        let inner = &self.inner;
        self.hold(&mut state);
        state.last_error = None;
        state.revision += 1;
        let tx = inner
            .records
            .replace(Transaction::new(), &current.id, current.version, &state)?;
        let tx = inner
            .saga
            .announce(&current.id, &state, tx, announcer)
            .map_err(DriveError::Announce)?;
        inner.records.store().commit(tx).await?;
        Ok(Versioned {
            id: current.id,
            version: current.version + 1,
            value: state,
        })
    }

    /// Writes the saga with `change` applied and the lease taken or renewed by this replica.
    async fn save(
        &self,
        current: Versioned<SagaState<S::Data>>,
        change: impl FnOnce(&mut SagaState<S::Data>),
    ) -> Result<Versioned<SagaState<S::Data>>, StoreError> {
        let mut state = current.value;
        self.hold(&mut state);
        change(&mut state);
        let records = &self.inner.records;
        let tx = records.replace(Transaction::new(), &current.id, current.version, &state)?;
        records.store().commit(tx).await?;
        Ok(Versioned {
            id: current.id,
            version: current.version + 1,
            value: state,
        })
    }

    /// Marks `state` held by this replica for another lease, and changed now.
    fn hold(&self, state: &mut SagaState<S::Data>) {
        let now = wire::now_millis();
        state.lease_owner = self.inner.instance.to_string();
        state.lease_until_ms = now + millis(self.inner.settings.lease);
        state.updated_ms = now;
    }
}

/// What a pass decided to do next.
enum Next<D> {
    /// The step is done, with this data.
    Forward(D),
    /// Every step is done.
    Complete,
    /// Undo the steps before `from`, for `reason`; the current step ended with `outcome`.
    Undo {
        from: usize,
        reason: String,
        outcome: &'static str,
    },
    /// The last step left to undo is undone.
    Undone,
    /// Nothing left to undo.
    Cancel,
    /// Try again after a pause.
    Retry(BusError),
}

/// The span of one attempt of a step's action or compensation, in the saga's trace.
fn step_span(
    saga: &'static str,
    step: &'static str,
    action: &'static str,
    id: &str,
    attempt: u32,
    trace: &Option<TraceContext>,
) -> tracing::Span {
    let span = spans::saga_step(saga, step, action, id, attempt);
    if let Some(trace) = trace {
        propagation::continue_from(&span, trace);
    }
    span
}

/// Whether a failed call certainly had no effect: it was never sent (no responders, an
/// open circuit, a deadline already past) or the service refused it before its handler ran
/// (overloaded, unauthorized, a 4xx answer other than 409). A timeout, a transport
/// failure, a 409 (an earlier attempt still running), a 5xx or an undecodable reply leave
/// the outcome in doubt.
fn not_handled(error: &BusError) -> bool {
    match error {
        BusError::NoResponders { .. }
        | BusError::CircuitOpen { .. }
        | BusError::DeadlineExpired { .. }
        | BusError::Overloaded { .. }
        | BusError::Unauthorized { .. } => true,
        BusError::Service { code, .. } => *code < 500 && *code != 409,
        _ => false,
    }
}

/// Waits before attempt `attempt + 1` (50 ms doubling to 2 s, with jitter); false when the
/// service started stopping meanwhile.
async fn backoff(ctx: &WorkerContext, attempt: u32) -> bool {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(6))
        .min(MAX_BACKOFF);
    let wait = base / 2 + base.mul_f64(fastrand::f64() / 2.0);
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = ctx.stopping() => false,
    }
}

/// `duration` in whole milliseconds, saturating.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
