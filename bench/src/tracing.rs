//! `tracing`: what trace export costs. The gateway benchmark's full path (HTTP → gateway →
//! bus → todos → SQLite, all spans of a real request) is run in child processes of this
//! one — export off, export at sampling 1.0 and at 0.1, taking turns round by round — each
//! child with the telemetry every binary installs, exporting over OTLP/gRPC to a real OTLP
//! receiver in this process.
//!
//! Targets (issue 10): throughput at 0.1 at least 95 % of export off, at 1.0 at least 85 %.

use std::process::Stdio;

use anyhow::{Context as _, Result, bail, ensure};
use switchboard::testing::otlp::OtlpReceiver;

use crate::report::verdict;

/// Throughput at sampling 0.1 must reach this fraction of export off.
const TARGET_AT_TENTH: f64 = 0.95;
/// Throughput at sampling 1.0 must reach this fraction of export off.
const TARGET_AT_ALL: f64 = 0.85;

/// The options: rounds, and what each child's gateway benchmark gets.
#[derive(Debug, Clone)]
pub struct Options {
    rounds: usize,
    /// Passed to `gateway` as they are (`--seconds`, `--concurrency`, …).
    gateway: Vec<String>,
}

/// `--rounds N` (default 3); every other option goes to the gateway benchmark.
pub fn parse_options(args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options {
        rounds: 3,
        gateway: Vec::new(),
    };
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            let value = args.next().context("--rounds needs a value")?;
            options.rounds = value.parse().context("--rounds: a number")?;
            ensure!(options.rounds > 0, "--rounds must be positive");
        } else {
            options.gateway.push(arg);
        }
    }
    Ok(options)
}

/// One configuration of the children.
#[derive(Debug, Clone, Copy)]
struct Config {
    label: &'static str,
    /// Whether the child installs the telemetry every binary installs.
    telemetry: bool,
    /// `OTEL_TRACES_SAMPLER_ARG`; `None`: no endpoint, export off.
    ratio: Option<&'static str>,
}

/// The configurations, export off first: the others are compared with it. The last,
/// with no subscriber at all (what a library user who installs none gets), shows what the
/// always-installed OpenTelemetry layer costs when nothing is exported.
const CONFIGS: [Config; 4] = [
    Config {
        label: "export off",
        telemetry: true,
        ratio: None,
    },
    Config {
        label: "export, sampling 1.0",
        telemetry: true,
        ratio: Some("1.0"),
    },
    Config {
        label: "export, sampling 0.1",
        telemetry: true,
        ratio: Some("0.1"),
    },
    Config {
        label: "no subscriber",
        telemetry: false,
        ratio: None,
    },
];

/// What one child printed for the full path.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    throughput: f64,
    seq_p50: f64,
    load_p99: f64,
    bench_cpu: f64,
    nats_cpu: f64,
}

/// Runs the rounds and prints the table and the verdicts.
pub async fn run(options: Options) -> Result<()> {
    let receiver = OtlpReceiver::start().await;
    println!(
        "tracing: the gateway benchmark's full path in a child process per configuration \
         ({}), {} round(s), exporting over OTLP/gRPC to a receiver in this process; gateway \
         options: {:?}",
        CONFIGS.map(|c| c.label).join(", "),
        options.rounds,
        options.gateway,
    );
    let mut results: Vec<Vec<Figures>> = vec![Vec::new(); CONFIGS.len()];
    for round in 1..=options.rounds {
        for (index, config) in CONFIGS.iter().enumerate() {
            let before = receiver.spans().len();
            let figures = child(&options, *config, &receiver).await?;
            let exported = receiver.spans().len() - before;
            eprintln!(
                "round {round}: {:<22} {:>8.0} req/s, bench CPU {:>6.1} µs/req, {exported} spans received",
                config.label, figures.throughput, figures.bench_cpu
            );
            if config.ratio.is_some() {
                ensure!(
                    exported > 0,
                    "{}: no span reached the receiver",
                    config.label
                );
            }
            results[index].push(figures);
        }
    }
    println!();
    println!(
        "| configuration | req/s (mean) | × off | seq p50 µs | load p99 µs | bench CPU µs/req | nats CPU µs/req |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mean = |figures: &[Figures], pick: fn(&Figures) -> f64| {
        figures.iter().map(pick).sum::<f64>() / figures.len() as f64
    };
    let off = mean(&results[0], |f| f.throughput);
    for (config, figures) in CONFIGS.iter().zip(&results) {
        let throughput = mean(figures, |f| f.throughput);
        println!(
            "| {} | {:.0} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} |",
            config.label,
            throughput,
            throughput / off,
            mean(figures, |f| f.seq_p50),
            mean(figures, |f| f.load_p99),
            mean(figures, |f| f.bench_cpu),
            mean(figures, |f| f.nats_cpu),
        );
    }
    let at_all = mean(&results[1], |f| f.throughput) / off;
    let at_tenth = mean(&results[2], |f| f.throughput) / off;
    println!();
    println!(
        "sampling 1.0: {at_all:.3} × export off (target ≥ {TARGET_AT_ALL}: {})",
        verdict(at_all >= TARGET_AT_ALL)
    );
    println!(
        "sampling 0.1: {at_tenth:.3} × export off (target ≥ {TARGET_AT_TENTH}: {})",
        verdict(at_tenth >= TARGET_AT_TENTH)
    );
    Ok(())
}

/// Runs `bench gateway --only full` as a child with `config`'s telemetry and returns the
/// mean of what it printed.
async fn child(options: &Options, config: Config, receiver: &OtlpReceiver) -> Result<Figures> {
    let exe = std::env::current_exe().context("the bench's own executable")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["gateway", "--only", "full", "--rounds", "1"])
        .args(&options.gateway)
        .env_remove("BENCH_TELEMETRY")
        .env("RUST_LOG", "warn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if config.telemetry {
        command.env("BENCH_TELEMETRY", "1");
    }
    if let Some(ratio) = config.ratio {
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
            .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
            .env("OTEL_TRACES_SAMPLER_ARG", ratio);
    }
    let output = command
        .output()
        .await
        .context("running the gateway benchmark")?;
    if !output.status.success() {
        bail!("the gateway benchmark failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Figures> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT full "))
        .map(|rest| {
            let n: Vec<f64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            Figures {
                throughput: n.first().copied().unwrap_or(f64::NAN),
                seq_p50: n.get(1).copied().unwrap_or(f64::NAN),
                load_p99: n.get(2).copied().unwrap_or(f64::NAN),
                bench_cpu: n.get(3).copied().unwrap_or(f64::NAN),
                nats_cpu: n.get(4).copied().unwrap_or(f64::NAN),
            }
        })
        .collect();
    ensure!(
        !lines.is_empty(),
        "the gateway benchmark printed no result:\n{stdout}"
    );
    Ok(lines[0])
}
