//! What a service binary is configured with: the runtime's bounds and grace periods, and
//! the whole [`ServiceSettings`] assembled from each part's own settings.

use std::time::Duration;

use crate::auth::AuthSettings;
use crate::bus::BusSettings;
use crate::settings::{Env, SettingsError};
use crate::store::{self, StoreError};

/// Default bound on requests one endpoint works on at once; beyond it requests are
/// refused with 503 rather than queued without limit.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// Default time in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default lifetime of idempotency records.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What a service's event stream keeps, and for how long (`SB_EVENTS_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    /// How long the stream keeps an event (`SB_EVENTS_MAX_AGE_SECS`, default 7 days); a
    /// consumer down for longer misses what expired.
    pub max_age: Duration,
    /// Copies of the stream in a NATS cluster (`SB_EVENTS_REPLICAS`, 1 to 5, default 1).
    pub replicas: usize,
    /// How long JetStream remembers an event id to drop a second publication
    /// (`SB_EVENTS_DUPLICATE_WINDOW_SECS`, default 2 minutes).
    pub duplicate_window: Duration,
    /// `limits` (keep until the age limit, the default) or `interest` (drop an event once
    /// every consumer has acknowledged it) (`SB_EVENTS_RETENTION`).
    pub interest_retention: bool,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 24 * 60 * 60),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            interest_retention: false,
        }
    }
}

/// How a service's durable consumers work (`SB_CONSUMER_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSettings {
    /// Events one consumer (all replicas together) works on at once
    /// (`SB_CONSUMER_MAX_IN_FLIGHT`, default 16).
    pub max_in_flight: usize,
    /// Deliveries of one event before it is dead-lettered (`SB_CONSUMER_MAX_DELIVERIES`,
    /// default 5).
    pub max_deliveries: u32,
    /// Delays before the 1st, 2nd, … redelivery of a failed event; the last repeats
    /// (`SB_CONSUMER_BACKOFF_MS`, comma-separated, default `500,2000,10000`).
    pub backoff: Vec<Duration>,
    /// How long a handler may take before its event is delivered again
    /// (`SB_CONSUMER_ACK_WAIT_SECS`, default 30); also the handler's deadline.
    pub ack_wait: Duration,
    /// Where a consumer created for the first time starts: the stream's first event
    /// (`all`, the default) or only events published from then on (`new`)
    /// (`SB_CONSUMER_START`). An existing consumer keeps its position.
    pub start_at_new: bool,
    /// How long a handled event's inbox record is kept (`SB_INBOX_RETENTION_SECS`, default:
    /// the stream's `SB_EVENTS_MAX_AGE_SECS`): a copy delivered later would run again, and
    /// the stream drops events at that age anyway.
    pub inbox_retention: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            max_in_flight: 16,
            max_deliveries: 5,
            backoff: vec![
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(10),
            ],
            ack_wait: Duration::from_secs(30),
            start_at_new: false,
            inbox_retention: StreamSettings::default().max_age,
        }
    }
}

/// How the outbox relay works (`SB_OUTBOX_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSettings {
    /// How often the relay looks for entries nobody told it about (another replica's,
    /// or ones a failed publish left) (`SB_OUTBOX_SWEEP_MS`, default 5000).
    pub sweep: Duration,
    /// How long published entries are kept before they are pruned
    /// (`SB_OUTBOX_RETENTION_SECS`, default 1 day).
    pub retention: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            sweep: Duration::from_secs(5),
            retention: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// The event half of a service: its stream, its consumers and its outbox relay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventSettings {
    /// The service's event stream (and dead-letter stream).
    pub stream: StreamSettings,
    /// Its durable consumers.
    pub consumer: ConsumerSettings,
    /// Its outbox relay.
    pub outbox: OutboxSettings,
}

impl EventSettings {
    /// Reads the `SB_EVENTS_*`, `SB_CONSUMER_*` and `SB_OUTBOX_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let secs = |var, default: Duration| -> Result<Duration, SettingsError> {
            Ok(Duration::from_secs(env.parse(var, default.as_secs())?))
        };
        let replicas = env.parse("SB_EVENTS_REPLICAS", defaults.stream.replicas)?;
        if !(1..=5).contains(&replicas) {
            return Err(SettingsError::Inconsistent(
                "SB_EVENTS_REPLICAS must be 1 to 5".into(),
            ));
        }
        let interest_retention = match env.string("SB_EVENTS_RETENTION").as_deref() {
            None | Some("limits") => false,
            Some("interest") => true,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    var: "SB_EVENTS_RETENTION",
                    value: other.to_string(),
                    reason: "expected `limits` or `interest`".into(),
                });
            }
        };
        let start_at_new = match env.string("SB_CONSUMER_START").as_deref() {
            None | Some("all") => false,
            Some("new") => true,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    var: "SB_CONSUMER_START",
                    value: other.to_string(),
                    reason: "expected `all` or `new`".into(),
                });
            }
        };
        let backoff = match env.string("SB_CONSUMER_BACKOFF_MS") {
            None => defaults.consumer.backoff,
            Some(text) => text
                .split(',')
                .map(|part| part.trim().parse::<u64>().map(Duration::from_millis))
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|delays| !delays.is_empty())
                .ok_or_else(|| SettingsError::Invalid {
                    var: "SB_CONSUMER_BACKOFF_MS",
                    value: text.clone(),
                    reason: "expected comma-separated milliseconds, e.g. `500,2000,10000`".into(),
                })?,
        };
        let max_age = secs("SB_EVENTS_MAX_AGE_SECS", defaults.stream.max_age)?;
        let settings = Self {
            stream: StreamSettings {
                max_age,
                replicas,
                duplicate_window: secs(
                    "SB_EVENTS_DUPLICATE_WINDOW_SECS",
                    defaults.stream.duplicate_window,
                )?,
                interest_retention,
            },
            consumer: ConsumerSettings {
                max_in_flight: env
                    .parse("SB_CONSUMER_MAX_IN_FLIGHT", defaults.consumer.max_in_flight)?,
                max_deliveries: env.parse(
                    "SB_CONSUMER_MAX_DELIVERIES",
                    defaults.consumer.max_deliveries,
                )?,
                backoff,
                ack_wait: secs("SB_CONSUMER_ACK_WAIT_SECS", defaults.consumer.ack_wait)?,
                start_at_new,
                inbox_retention: secs("SB_INBOX_RETENTION_SECS", max_age)?,
            },
            outbox: OutboxSettings {
                sweep: env.millis("SB_OUTBOX_SWEEP_MS", defaults.outbox.sweep)?,
                retention: secs("SB_OUTBOX_RETENTION_SECS", defaults.outbox.retention)?,
            },
        };
        let positive = [
            (
                "SB_CONSUMER_MAX_IN_FLIGHT",
                settings.consumer.max_in_flight == 0,
            ),
            (
                "SB_CONSUMER_MAX_DELIVERIES",
                settings.consumer.max_deliveries == 0,
            ),
            (
                "SB_CONSUMER_ACK_WAIT_SECS",
                settings.consumer.ack_wait.is_zero(),
            ),
            ("SB_OUTBOX_SWEEP_MS", settings.outbox.sweep.is_zero()),
            ("SB_EVENTS_MAX_AGE_SECS", settings.stream.max_age.is_zero()),
            (
                "SB_EVENTS_DUPLICATE_WINDOW_SECS",
                settings.stream.duplicate_window.is_zero(),
            ),
        ];
        if let Some((var, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(SettingsError::Inconsistent(format!(
                "{var} must be at least 1"
            )));
        }
        if settings.stream.duplicate_window > settings.stream.max_age {
            return Err(SettingsError::Inconsistent(
                "SB_EVENTS_DUPLICATE_WINDOW_SECS must not exceed SB_EVENTS_MAX_AGE_SECS".into(),
            ));
        }
        Ok(settings)
    }
}

/// Bounds, grace periods, the admin listener, the service's own token and its sagas
/// (`SB_MAX_IN_FLIGHT`, `SB_SHUTDOWN_GRACE_MS`, `SB_IDEMPOTENCY_TTL_SECS`, `ADMIN_ADDR`,
/// `SB_SERVICE_TOKEN_FILE`, `SB_INSTANCE_ID`, `SB_SAGA_*`).
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Requests one endpoint works on at once.
    pub max_in_flight: usize,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long a command's reply is kept for repeats with the same idempotency key.
    pub idempotency_ttl: Duration,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (`ADMIN_ADDR`); none when unset.
    pub admin_addr: Option<std::net::SocketAddr>,
    /// The service's events: stream, consumers, outbox relay.
    pub events: EventSettings,
    /// Where the service's own token is (`SB_SERVICE_TOKEN_FILE`), for calls it makes on
    /// its own behalf; see [`crate::auth::ServiceCredentials`].
    pub service_token_file: Option<std::path::PathBuf>,
    /// This replica's name among the service's live replicas (`SB_INSTANCE_ID`, default a
    /// fresh UUID): the owner of the saga leases it holds. A process restarted under the
    /// same name (a pod's container restarting) resumes its sagas without waiting for
    /// their leases to expire. It must be unique among live replicas.
    pub instance_id: String,
    /// How sagas run (`SB_SAGA_*`).
    pub saga: crate::saga::SagaSettings,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            admin_addr: None,
            events: EventSettings::default(),
            service_token_file: None,
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
            saga: crate::saga::SagaSettings::default(),
        }
    }
}

impl RuntimeSettings {
    /// Reads `SB_MAX_IN_FLIGHT`, `SB_SHUTDOWN_GRACE_MS`, `SB_IDEMPOTENCY_TTL_SECS`,
    /// `ADMIN_ADDR`, `SB_SERVICE_TOKEN_FILE`, `SB_INSTANCE_ID`, the event settings
    /// ([`EventSettings::from_env`]) and the saga settings.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let max_in_flight = env.parse("SB_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)?;
        if max_in_flight == 0 {
            return Err(SettingsError::Inconsistent(
                "SB_MAX_IN_FLIGHT must be at least 1".into(),
            ));
        }
        Ok(Self {
            max_in_flight,
            shutdown_grace: env.millis("SB_SHUTDOWN_GRACE_MS", DEFAULT_SHUTDOWN_GRACE)?,
            idempotency_ttl: Duration::from_secs(
                env.parse("SB_IDEMPOTENCY_TTL_SECS", DEFAULT_IDEMPOTENCY_TTL.as_secs())?,
            ),
            admin_addr: match env.string("ADMIN_ADDR") {
                None => None,
                Some(text) => {
                    Some(text.trim().parse().map_err(|e: std::net::AddrParseError| {
                        SettingsError::Invalid {
                            var: "ADMIN_ADDR",
                            value: text.clone(),
                            reason: e.to_string(),
                        }
                    })?)
                }
            },
            events: EventSettings::from_env(env)?,
            service_token_file: env
                .string("SB_SERVICE_TOKEN_FILE")
                .map(std::path::PathBuf::from),
            instance_id: env
                .string("SB_INSTANCE_ID")
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            saga: crate::saga::SagaSettings::from_env(env)?,
        })
    }
}

/// Everything a service binary is configured with.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How to reach NATS and the defaults for outgoing calls.
    pub bus: BusSettings,
    /// Bounds and grace periods of the service runtime.
    pub runtime: RuntimeSettings,
    /// Where the service keeps its data (`STORE_URL`).
    pub store_url: String,
    /// How bearer tokens are verified.
    pub auth: AuthSettings,
}

impl ServiceSettings {
    /// Reads the settings of the service called `service` from `env`.
    ///
    /// `STORE_URL` defaults to `sqlite://data/<service>.db`, so every service owns its file.
    /// It is checked here with the store's own rule ([`store::parse_url`]), so a URL the
    /// store cannot open is a configuration error before anything connects.
    pub fn from_env(service: &str, env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            bus: BusSettings::from_env(env)?,
            runtime: RuntimeSettings::from_env(env)?,
            store_url: store_url_from_env(service, env)?,
            auth: AuthSettings::from_env(env)?,
        })
    }
}

/// `STORE_URL`, or the service's default file, refused unless [`store::open`] can serve it.
fn store_url_from_env(service: &str, env: &Env) -> Result<String, SettingsError> {
    let url = env
        .string("STORE_URL")
        .unwrap_or_else(|| format!("sqlite://data/{service}.db"));
    match store::parse_url(&url) {
        Ok(_) => Ok(url),
        Err(error) => Err(SettingsError::Invalid {
            var: "STORE_URL",
            // A database URL may carry a password: only its scheme is repeated.
            value: store::redacted_url(&url),
            reason: match error {
                StoreError::UnsupportedUrl(reason) => reason,
                other => other.to_string(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ServiceSettings, SettingsError> {
        ServiceSettings::from_env("users", &Env::from_pairs([("STORE_URL", url)]))
    }

    #[test]
    fn the_store_url_is_checked_while_parsing() {
        for url in [
            "sqlite://data/users.db",
            "sqlite:///var/lib/users.db",
            "sqlite::memory:",
            "mongodb://u:p@db-0:27017,db-1:27017/?replicaSet=rs0&tls=true&authSource=admin",
            "mongodb+srv://u:p@cluster.example.com/users",
        ] {
            let settings = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(settings.store_url, url);
        }
        let default = ServiceSettings::from_env("todos", &Env::default()).expect("defaults");
        assert_eq!(default.store_url, "sqlite://data/todos.db");

        for url in [
            "bogus",
            "sqlite://",
            "postgres://u:hunter2@db/x",
            "mongodb://u:hunter2@x/db?tls=maybe",
        ] {
            let error = parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
            let message = error.to_string();
            assert!(
                matches!(
                    error,
                    SettingsError::Invalid {
                        var: "STORE_URL",
                        ..
                    }
                ),
                "{url}: {error:?}"
            );
            assert!(
                !message.contains("hunter2"),
                "{url}: a password leaked: {message}"
            );
            // The settings and the store agree on what is valid.
            assert!(store::parse_url(url).is_err(), "{url}");
        }
        let mongo = parse("mongodb://u:hunter2@x/db?tls=maybe")
            .err()
            .map(|e| e.to_string());
        assert!(
            mongo
                .as_deref()
                .is_some_and(|m| m.contains("not a valid MongoDB connection string")
                    && !m.contains("hunter2")),
            "{mongo:?}"
        );
    }
}
