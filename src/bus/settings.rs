//! How to reach NATS (`NATS_*`) and the defaults of outgoing calls (`SB_DEADLINE_MS`,
//! `SB_RETRY_MAX_ATTEMPTS`).

use std::path::PathBuf;
use std::time::Duration;

use super::breaker::BreakerSettings;
use crate::settings::{Env, Secret, SettingsError};

/// Default time a call may take, end to end, including retries.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
/// Default bound on attempts of one retryable call (the deadline bounds it too). Five
/// attempts wait at most 25 + 50 + 100 + 200 ms between them: long enough to ride out a
/// replica restarting, short enough that a service that is down is reported quickly.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Connection and call defaults of a [`Bus`](super::Bus).
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// How to reach NATS.
    pub nats: NatsSettings,
    /// Deadline of a call that sets none and inherits none.
    pub default_deadline: Duration,
    /// Bound on the attempts of one retryable call.
    pub max_attempts: u32,
    /// When a subject's circuit breaker opens and how it recovers.
    pub breaker: BreakerSettings,
}

impl BusSettings {
    /// Settings for a NATS server at `url` with every other value at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            nats: NatsSettings {
                urls: vec![url.into()],
                auth: NatsAuth::None,
                tls: TlsSettings::default(),
            },
            default_deadline: DEFAULT_DEADLINE,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            breaker: BreakerSettings::default(),
        }
    }

    /// Reads `NATS_*`, `SB_DEADLINE_MS`, `SB_RETRY_MAX_ATTEMPTS` and `SB_BREAKER_*`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let max_attempts = env.parse("SB_RETRY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)?;
        if max_attempts == 0 {
            return Err(SettingsError::Inconsistent(
                "SB_RETRY_MAX_ATTEMPTS must be at least 1".into(),
            ));
        }
        let defaults = BreakerSettings::default();
        let breaker = BreakerSettings {
            failures: env.parse("SB_BREAKER_FAILURES", defaults.failures)?,
            window: env.millis("SB_BREAKER_WINDOW_MS", defaults.window)?,
            cooldown: env.millis("SB_BREAKER_COOLDOWN_MS", defaults.cooldown)?,
            probes: env.parse("SB_BREAKER_PROBES", defaults.probes)?,
        };
        if breaker.probes == 0 {
            return Err(SettingsError::Inconsistent(
                "SB_BREAKER_PROBES must be at least 1".into(),
            ));
        }
        Ok(Self {
            nats: NatsSettings::from_env(env)?,
            default_deadline: env.millis("SB_DEADLINE_MS", DEFAULT_DEADLINE)?,
            max_attempts,
            breaker,
        })
    }
}

/// Where NATS is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// Server URLs (`NATS_URL`, comma-separated); the client picks among them and fails over.
    pub urls: Vec<String>,
    /// How this process authenticates.
    pub auth: NatsAuth,
    /// TLS material, when the server requires or offers TLS.
    pub tls: TlsSettings,
}

/// The one way a process authenticates to NATS.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// `NATS_USER` and `NATS_PASSWORD`.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `NATS_TOKEN`.
    Token(Secret),
    /// `NATS_NKEY_SEED`: an NKey seed (`SU…`).
    NKey(Secret),
    /// `NATS_CREDS_FILE`: a `.creds` file with a user JWT and its NKey seed.
    CredsFile(PathBuf),
}

/// TLS settings (`NATS_TLS_*`).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// A PEM file of CA certificates to trust (`NATS_TLS_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// The client certificate, PEM (`NATS_TLS_CERT_FILE`), for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key, PEM (`NATS_TLS_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// Refuse to connect without TLS (`NATS_TLS_REQUIRED=true`).
    pub required: bool,
}

impl NatsSettings {
    /// Reads `NATS_URL` (default `nats://127.0.0.1:4222`), the auth variables and `NATS_TLS_*`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let urls: Vec<String> = env
            .string("NATS_URL")
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into())
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        for url in &urls {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|e| SettingsError::Invalid {
                    var: "NATS_URL",
                    value: url.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut methods = Vec::new();
        if let Some(user) = env.string("NATS_USER") {
            let password = env.string("NATS_PASSWORD").ok_or_else(|| {
                SettingsError::Inconsistent("NATS_USER is set but NATS_PASSWORD is not".into())
            })?;
            methods.push(NatsAuth::UserPassword {
                user,
                password: Secret::new(password),
            });
        }
        if let Some(token) = env.string("NATS_TOKEN") {
            methods.push(NatsAuth::Token(Secret::new(token)));
        }
        if let Some(seed) = env.string("NATS_NKEY_SEED") {
            methods.push(NatsAuth::NKey(Secret::new(seed)));
        }
        if let Some(path) = env.string("NATS_CREDS_FILE") {
            methods.push(NatsAuth::CredsFile(PathBuf::from(path)));
        }
        if methods.len() > 1 {
            return Err(SettingsError::Inconsistent(
                "set only one of NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED, NATS_CREDS_FILE"
                    .into(),
            ));
        }
        let tls = TlsSettings {
            ca_file: env.string("NATS_TLS_CA_FILE").map(PathBuf::from),
            cert_file: env.string("NATS_TLS_CERT_FILE").map(PathBuf::from),
            key_file: env.string("NATS_TLS_KEY_FILE").map(PathBuf::from),
            required: env.parse("NATS_TLS_REQUIRED", false)?,
        };
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(SettingsError::Inconsistent(
                "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE must be set together".into(),
            ));
        }
        Ok(Self {
            urls,
            auth: methods.pop().unwrap_or(NatsAuth::None),
            tls,
        })
    }

    /// async-nats connect options for these settings, naming the connection `name`.
    pub(crate) async fn connect_options(
        &self,
        name: &str,
    ) -> std::io::Result<async_nats::ConnectOptions> {
        let mut options = match &self.auth {
            NatsAuth::None => async_nats::ConnectOptions::new(),
            NatsAuth::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(
                    user.clone(),
                    password.expose().to_string(),
                )
            }
            NatsAuth::Token(token) => {
                async_nats::ConnectOptions::with_token(token.expose().to_string())
            }
            NatsAuth::NKey(seed) => {
                async_nats::ConnectOptions::with_nkey(seed.expose().to_string())
            }
            NatsAuth::CredsFile(path) => {
                async_nats::ConnectOptions::with_credentials_file(path).await?
            }
        };
        if let Some(ca) = &self.tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls.cert_file, &self.tls.key_file) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls.required {
            options = options.require_tls(true);
        }
        // Every call sets its own timeout from its deadline.
        Ok(options.name(name).request_timeout(None))
    }
}
