//! Logs, traces and metrics set-up, in one place. Libraries only open `tracing` spans, emit
//! `tracing` events and record `metrics` samples; binaries call [`init`] once (through
//! [`crate::startup::load_or_exit`]), applications call [`shutdown`] when they stop, and
//! the Prometheus recorder is installed on first use of [`metrics_handle`].

mod json;
pub mod propagation;
pub mod spans;
mod traces;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::settings::{Env, SettingsError};

pub use traces::{DEFAULT_MAX_QUEUE, OtlpProtocol, SamplerSetting, TraceSettings, shutdown};

/// How logs are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default; what log collectors want).
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

impl LogFormat {
    /// Reads `LOG_FORMAT` (`json` or `text`, default `json`).
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        match env
            .string("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => Ok(LogFormat::Json),
            Some("text") => Ok(LogFormat::Text),
            Some(other) => Err(SettingsError::Invalid {
                var: "LOG_FORMAT",
                value: other.to_string(),
                reason: "expected `json` or `text`".into(),
            }),
        }
    }
}

/// What [`init`] installs: `LOG_FORMAT` and the `RUST_LOG` filter directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// How lines are written.
    pub format: LogFormat,
    /// `tracing` filter directives (`RUST_LOG`, default `info`), already validated.
    pub directives: String,
}

impl LogSettings {
    /// Reads `LOG_FORMAT` and `RUST_LOG`; directives that do not parse are an error, so a
    /// typo does not silently change what is logged.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let format = LogFormat::from_env(env)?;
        let directives = env.string("RUST_LOG").unwrap_or_else(|| "info".into());
        if let Err(error) = EnvFilter::try_new(&directives) {
            return Err(SettingsError::Invalid {
                var: "RUST_LOG",
                value: directives,
                reason: error.to_string(),
            });
        }
        Ok(Self { format, directives })
    }
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG`, and every span at INFO
/// or above recorded for OpenTelemetry whatever `RUST_LOG` says (a quieter log must not
/// cut traces). Must run inside the Tokio runtime (the exporter's connections live on it).
/// Calling it twice keeps the first subscriber.
pub fn init(logs: &LogSettings, traces: &TraceSettings) -> Result<(), String> {
    let filter = EnvFilter::try_new(&logs.directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match logs.format {
        LogFormat::Json => json::JsonLines::default().boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    let tracer = traces::tracer(traces)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Nothing here reads OpenTelemetry's own current context (`Context::current`): a
        // span's context comes from its `tracing` span. Entering a span then costs nothing
        // more than `tracing`'s own bookkeeping.
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
            metadata.is_span() && *metadata.level() <= tracing::Level::INFO
        }));
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(spans)
        .try_init();
    if installed.is_err() {
        tracing::debug!("a global subscriber was already installed");
    }
    Ok(())
}

/// How often buffered histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Latency buckets, in seconds, for every duration histogram.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's Prometheus recorder, installed on first use. Metrics are process-wide, so
/// everything in one process (a test binary, say) shares it.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match installed {
                Ok(handle) => {
                    // Histograms buffer samples until upkeep folds them in; without it
                    // memory grows between scrapes. A plain thread: there may be no runtime.
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                #[allow(clippy::disallowed_methods)]
                                // A dedicated thread, not a runtime worker.
                                std::thread::sleep(UPKEEP_INTERVAL);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(error) = spawned {
                        tracing::warn!(%error, "no metrics upkeep thread");
                    }
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "no Prometheus recorder; /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// An error and its causes on one line, `error: cause: cause`, for a log field or a
/// message that must stay one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        line.push_str(": ");
        line.push_str(&source.to_string());
        cause = source.source();
    }
    line
}
