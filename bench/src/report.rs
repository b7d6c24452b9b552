//! What every benchmark does the same way around its own fixture: the warm-up and the
//! sequential phase of a round, the figures of one measured subject (a pairing or a
//! target), the rounds with their progress lines, and the formatting of tables and
//! verdicts.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::task::JoinSet;

use crate::cpu::{Clocks, Snapshot};
use crate::options::Options;
use crate::stats::{Load, Summary, micros};

/// What a benchmark measures (a pairing of `bus`, a target of `gateway`).
pub trait Subject: Copy + PartialEq + 'static {
    /// Every subject with its name on the command line (`--only`), in the order a round
    /// with `--breakdown` measures them.
    const NAMES: &'static [(Self, &'static str)];
    /// What a round measures without `--breakdown` or `--only`, in order.
    const DEFAULT: &'static [Self];

    /// Its name in tables and progress lines.
    fn label(self) -> &'static str;

    /// The subject `--only` calls `name`.
    fn named(name: &str) -> Result<Self> {
        let name = name.trim();
        match Self::NAMES.iter().find(|(_, n)| *n == name) {
            Some(&(subject, _)) => Ok(subject),
            None => {
                let known: Vec<&str> = Self::NAMES.iter().map(|(_, n)| *n).collect();
                anyhow::bail!("unknown name {name:?}: use one of {}", known.join(", "))
            }
        }
    }
}

/// Sends one request and checks its answer.
pub trait Call {
    /// One request and its answer, checked.
    async fn call(&mut self) -> Result<()>;
}

/// The figures of one subject in one round.
#[derive(Debug, Clone, Copy)]
pub struct Measurement<S> {
    /// What was measured.
    pub subject: S,
    /// Latencies of requests sent one at a time.
    pub sequential: Summary,
    /// The throughput phase: requests completed (`load.latency.count`), how long it took,
    /// its latencies and CPU time per request.
    pub load: Load,
}

impl<S> Measurement<S> {
    /// Requests per second of the throughput phase.
    pub fn throughput(&self) -> f64 {
        self.load.latency.count as f64 / self.load.elapsed.as_secs_f64()
    }
}

/// The measurement of `subject` in one round.
pub fn find<S: Subject>(measurements: &[Measurement<S>], subject: S) -> Option<&Measurement<S>> {
    measurements.iter().find(|m| m.subject == subject)
}

/// The warm-up and the sequential phase of a round: `options.warmup` requests through
/// each worker, then `options.requests` through every worker one at a time, the workers
/// taking turns request by request so that drift in machine load hits all of them alike.
/// Returns each worker's sequential latencies.
pub async fn warm_up_then_sequential<S: Subject, W: Call>(
    workers: &mut [W],
    subjects: &[S],
    options: &Options<S>,
) -> Result<Vec<Summary>> {
    for (worker, subject) in workers.iter_mut().zip(subjects) {
        for _ in 0..options.warmup {
            worker
                .call()
                .await
                .with_context(|| format!("warming up {}", subject.label()))?;
        }
    }
    let mut samples = vec![Vec::with_capacity(options.requests); workers.len()];
    for _ in 0..options.requests {
        for (worker, samples) in workers.iter_mut().zip(&mut samples) {
            let started = Instant::now();
            worker.call().await.context("sequential phase")?;
            samples.push(started.elapsed());
        }
    }
    samples
        .iter_mut()
        .map(|samples| Summary::of(samples).context("no sequential samples"))
        .collect()
}

/// The throughput phase of a round: `under_load(index, subject)` for each subject in turn,
/// paired with the subject's `sequential` latencies from the same round.
pub async fn throughput_phase<S: Subject>(
    subjects: &[S],
    sequential: Vec<Summary>,
    mut under_load: impl AsyncFnMut(usize, S) -> Result<Load>,
) -> Result<Vec<Measurement<S>>> {
    let mut measurements = Vec::with_capacity(subjects.len());
    for (index, (&subject, sequential)) in subjects.iter().zip(sequential).enumerate() {
        let load = under_load(index, subject)
            .await
            .with_context(|| format!("throughput of {}", subject.label()))?;
        measurements.push(Measurement {
            subject,
            sequential,
            load,
        });
    }
    Ok(measurements)
}

/// One requester of the throughput phase: calls through `worker` until `end`, and returns
/// the latency of each call.
pub async fn until(worker: &mut impl Call, end: Instant) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(16_384);
    while Instant::now() < end {
        let sent = Instant::now();
        worker.call().await?;
        samples.push(sent.elapsed());
    }
    Ok(samples)
}

/// The throughput phase's figures once its requesters finish: every requester's samples,
/// the time since `started`, and the CPU time per request since `cpu_before`.
pub async fn collect(
    mut requesters: JoinSet<Result<Vec<Duration>>>,
    started: Instant,
    clocks: &Clocks,
    cpu_before: &Snapshot,
) -> Result<Load> {
    let mut samples = Vec::new();
    while let Some(joined) = requesters.join_next().await {
        samples.extend(joined.context("a requester task failed")??);
    }
    let elapsed = started.elapsed();
    let (bench_cpu, server_cpu) = clocks.now().per_request(cpu_before, samples.len());
    Ok(Load {
        elapsed,
        latency: Summary::of(&mut samples).context("no samples under load")?,
        bench_cpu,
        server_cpu,
    })
}

/// Runs `options.rounds` rounds with `round`, printing a progress line per subject to
/// stderr (`width`: the label column); returns every round's measurements.
pub async fn rounds<S: Subject>(
    options: &Options<S>,
    width: usize,
    mut round: impl AsyncFnMut() -> Result<Vec<Measurement<S>>>,
) -> Result<Vec<Vec<Measurement<S>>>> {
    let mut rounds = Vec::with_capacity(options.rounds);
    for number in 1..=options.rounds {
        let measurements = round().await.with_context(|| format!("round {number}"))?;
        for m in &measurements {
            eprintln!(
                "  round {number}: {:<width$} seq p50 {:>7.1} us  load {:>9.0} req/s",
                m.subject.label(),
                micros(m.sequential.p50),
                m.throughput()
            );
        }
        rounds.push(measurements);
    }
    Ok(rounds)
}

/// The header and rule lines of a benchmark's table: the round, the subject (`what`, in a
/// column `width` wide), the benchmark's own columns (`middle` and its rule `middle_rule`),
/// then the throughput phase's latencies and CPU time.
pub fn print_header(what: &str, width: usize, middle: &str, middle_rule: &str) {
    println!();
    println!(
        "| round | {what:<width$} | {middle} | load p50 µs | load p99 µs | CPU µs/req bench | CPU µs/req nats |"
    );
    println!(
        "|------:|-{:-<width$}-|{middle_rule}|------------:|------------:|-----------------:|----------------:|",
        ""
    );
}

/// One row of a benchmark's table (see [`print_header`]): `middle` holds the benchmark's
/// own cells.
pub fn print_row<S: Subject>(round: usize, width: usize, m: &Measurement<S>, middle: &str) {
    println!(
        "| {round:>5} | {:<width$} | {middle} | {:>11.1} | {:>11.1} | {:>16} | {:>15} |",
        m.subject.label(),
        micros(m.load.latency.p50),
        micros(m.load.latency.p99),
        cpu(m.load.bench_cpu),
        cpu(m.load.server_cpu),
    );
}

/// CPU time per request in microseconds, or `-` when `/proc` could not tell.
pub fn cpu(per_request: Option<Duration>) -> String {
    per_request.map_or_else(|| "-".into(), |d| format!("{:.1}", micros(d)))
}

/// PASS or MISS.
pub fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Probe {
        A,
        B,
    }

    impl Subject for Probe {
        const NAMES: &'static [(Self, &'static str)] = &[(Probe::A, "a"), (Probe::B, "b")];
        const DEFAULT: &'static [Self] = &[Probe::B];

        fn label(self) -> &'static str {
            match self {
                Probe::A => "a",
                Probe::B => "b",
            }
        }
    }

    /// Counts its calls; fails from call number `fail_at` on.
    struct Counter {
        calls: usize,
        fail_at: usize,
    }

    impl Call for Counter {
        async fn call(&mut self) -> Result<()> {
            self.calls += 1;
            anyhow::ensure!(self.calls < self.fail_at, "call {} failed", self.calls);
            Ok(())
        }
    }

    fn measurement(subject: Probe, count: usize, elapsed: Duration) -> Result<Measurement<Probe>> {
        let mut samples = vec![Duration::from_micros(10); count];
        let summary = Summary::of(&mut samples).context("samples")?;
        Ok(Measurement {
            subject,
            sequential: summary,
            load: Load {
                elapsed,
                latency: summary,
                bench_cpu: None,
                server_cpu: None,
            },
        })
    }

    #[tokio::test]
    async fn every_worker_is_warmed_up_then_measured_in_turn() -> Result<()> {
        let mut options = Options::<Probe>::with_defaults(3, 5);
        options.rounds = 1;
        let mut workers = [
            Counter {
                calls: 0,
                fail_at: usize::MAX,
            },
            Counter {
                calls: 0,
                fail_at: usize::MAX,
            },
        ];
        let summaries =
            warm_up_then_sequential(&mut workers, &[Probe::A, Probe::B], &options).await?;
        assert_eq!(summaries.len(), 2);
        assert!(summaries.iter().all(|s| s.count == 5));
        assert!(workers.iter().all(|w| w.calls == 8));
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_warm_up_names_its_subject() {
        let options = Options::<Probe>::with_defaults(3, 5);
        let mut workers = [Counter {
            calls: 0,
            fail_at: 2,
        }];
        let error = warm_up_then_sequential(&mut workers, &[Probe::B], &options)
            .await
            .expect_err("the second call fails");
        assert!(format!("{error:#}").contains("warming up b"), "{error:#}");
    }

    #[test]
    fn only_then_breakdown_then_the_default_choose_the_subjects() {
        let mut options = Options::<Probe>::with_defaults(1, 1);
        assert_eq!(options.chosen(), vec![Probe::B]);
        options.breakdown = true;
        assert_eq!(options.chosen(), vec![Probe::A, Probe::B]);
        options.only = vec![Probe::B, Probe::A];
        assert_eq!(options.chosen(), vec![Probe::B, Probe::A]);
    }

    #[test]
    fn subjects_are_named_on_the_command_line() -> Result<()> {
        assert_eq!(Probe::named(" b")?, Probe::B);
        let error = Probe::named("c").expect_err("no subject is called c");
        assert!(error.to_string().contains("a, b"), "{error}");
        Ok(())
    }

    #[test]
    fn throughput_and_lookup() -> Result<()> {
        let round = vec![
            measurement(Probe::A, 1_000, Duration::from_secs(2))?,
            measurement(Probe::B, 300, Duration::from_secs(3))?,
        ];
        assert_eq!(
            find(&round, Probe::A).map(Measurement::throughput),
            Some(500.0)
        );
        assert_eq!(
            find(&round, Probe::B).map(Measurement::throughput),
            Some(100.0)
        );
        assert!(find(&round[..1], Probe::B).is_none());
        assert_eq!(cpu(None), "-");
        assert_eq!(cpu(Some(Duration::from_nanos(12_340))), "12.3");
        assert_eq!(verdict(true), "PASS");
        assert_eq!(verdict(false), "MISS");
        Ok(())
    }
}
