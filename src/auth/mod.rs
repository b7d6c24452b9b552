//! Who is calling: the caller identity a handler sees, built from the bearer token the
//! gateway forwards in `Authorization`, and the hook that verifies that token.
//!
//! Services verify tokens themselves (they never trust a caller's word for who it is),
//! with the same key material as the gateway: an HS256 shared secret (development) and/or
//! RS256/ES256 public keys from a JWKS (file or URL; [`jwks`]). [`jwt`] holds the verifier.

pub mod credentials;
pub mod jwks;
pub mod jwt;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub use credentials::{SERVICE_ROLE, ServiceCredentials};
pub use jwt::JwtVerifier;

use crate::settings::{Env, Secret, SettingsError};

/// The role that may act on every user's data.
pub const ADMIN_ROLE: &str = "admin";

/// Default clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`: the user id.
    pub subject: String,
    /// The token's `roles` claim (e.g. `admin`).
    pub roles: Vec<String>,
    /// The token's `exp`, in seconds since the Unix epoch (when it is a whole number): a
    /// long-lived operation such as a subscription ends there.
    pub expires_at: Option<u64>,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token came with the request.
    Anonymous,
    /// A token came and was verified.
    Authenticated(Identity),
}

impl Caller {
    /// The user id, when authenticated.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Authenticated(identity) => Some(&identity.subject),
        }
    }

    /// Whether the caller is authenticated and holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        match self {
            Caller::Anonymous => false,
            Caller::Authenticated(identity) => identity.roles.iter().any(|r| r == role),
        }
    }
}

/// Why a token was refused. The message is safe to return to the caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// The token failed verification (signature, expiry, issuer, audience, algorithm).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A token came but this service has no key to verify it with.
    #[error("this service cannot verify tokens: no verification key is configured")]
    NotConfigured,
    /// The key set could not be loaded (a configuration or availability problem, not the
    /// caller's fault).
    #[error("the key set is unavailable: {0}")]
    KeySet(String),
}

/// Verifies a bearer token and says who it belongs to.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The identity `token` proves, or why it proves nothing.
    async fn verify(&self, token: &str) -> Result<Identity, AuthError>;
}

/// How tokens are verified (`JWT_*`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Shared HS256 secret (`JWT_HS256_SECRET`), for development.
    pub hs256_secret: Option<Secret>,
    /// Where RS256/ES256 public keys come from (`JWT_JWKS_URL` or `JWT_JWKS_FILE`).
    pub jwks: Option<jwks::JwksSource>,
    /// Keys loaded longer ago than this are re-read before use (`JWT_JWKS_REFRESH_SECS`,
    /// default 600 s; see [`jwks`] for exactly when the key set is re-read).
    pub jwks_refresh: Duration,
    /// Required `iss`, when set (`JWT_ISSUER`).
    pub issuer: Option<String>,
    /// Required `aud`, when set (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Tolerated clock skew (`JWT_LEEWAY_SECS`, default 30 when read from the environment).
    pub leeway: Duration,
}

impl Default for AuthSettings {
    /// No key, no issuer or audience, no leeway, and the default JWKS refresh interval.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            jwks: None,
            jwks_refresh: jwks::DEFAULT_REFRESH,
            issuer: None,
            audience: None,
            leeway: Duration::ZERO,
        }
    }
}

impl AuthSettings {
    /// Reads `JWT_HS256_SECRET`, `JWT_JWKS_URL`, `JWT_JWKS_FILE`, `JWT_JWKS_REFRESH_SECS`,
    /// `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_LEEWAY_SECS`.
    ///
    /// A `JWT_JWKS_FILE` is read and parsed here, so a missing or malformed file is a
    /// configuration error before anything connects (it is read again when the verifier is
    /// built, and whenever the cache refreshes). A `JWT_JWKS_URL` is only checked for
    /// shape: an identity provider that is down at start is retried on first use.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let jwks = match (env.string("JWT_JWKS_URL"), env.string("JWT_JWKS_FILE")) {
            (Some(_), Some(_)) => {
                return Err(SettingsError::Inconsistent(
                    "set only one of JWT_JWKS_URL and JWT_JWKS_FILE".into(),
                ));
            }
            (Some(url), None) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(SettingsError::Invalid {
                        var: "JWT_JWKS_URL",
                        value: url,
                        reason: "must be an http(s) URL".into(),
                    });
                }
                Some(jwks::JwksSource::Url(url))
            }
            (None, Some(path)) => {
                check_jwks_file(&path)?;
                Some(jwks::JwksSource::File(PathBuf::from(path)))
            }
            (None, None) => None,
        };
        let refresh_secs: u64 =
            env.parse("JWT_JWKS_REFRESH_SECS", jwks::DEFAULT_REFRESH.as_secs())?;
        if refresh_secs == 0 {
            return Err(SettingsError::Invalid {
                var: "JWT_JWKS_REFRESH_SECS",
                value: "0".into(),
                reason: "must be at least 1 (seconds)".into(),
            });
        }
        Ok(Self {
            hs256_secret: env.string("JWT_HS256_SECRET").map(Secret::new),
            jwks,
            jwks_refresh: Duration::from_secs(refresh_secs),
            issuer: env.string("JWT_ISSUER"),
            audience: env.string("JWT_AUDIENCE"),
            leeway: Duration::from_secs(env.parse("JWT_LEEWAY_SECS", DEFAULT_LEEWAY.as_secs())?),
        })
    }

    /// The verifier these settings describe; `None` when no key is configured, in which
    /// case requests carrying a token are refused. A JWKS file that cannot be read is an
    /// error; a JWKS URL that does not answer yet is retried when the first token comes.
    pub async fn verifier(&self) -> Result<Option<Arc<dyn TokenVerifier>>, AuthError> {
        if self.hs256_secret.is_none() && self.jwks.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(JwtVerifier::new(self).await?)))
    }
}

/// Refuses a `JWT_JWKS_FILE` that cannot be read or is not a JWKS document.
fn check_jwks_file(path: &str) -> Result<(), SettingsError> {
    let invalid = |reason: String| SettingsError::Invalid {
        var: "JWT_JWKS_FILE",
        value: path.to_string(),
        reason,
    };
    let document =
        std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot be read: {e}")))?;
    jwks::parse_document(&document).map_err(|e| match e {
        AuthError::KeySet(reason) => invalid(reason),
        other => invalid(other.to_string()),
    })?;
    Ok(())
}

/// The caller an `Authorization` value proves: no value is an anonymous caller; a value
/// must be `Bearer <token>` with a token `verifier` accepts (no verifier refuses every
/// token). Services and the gateway both decide who is calling here.
pub async fn authenticate(
    authorization: Option<&str>,
    verifier: Option<&dyn TokenVerifier>,
) -> Result<Caller, AuthError> {
    let Some(authorization) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let token = bearer_token(authorization)?;
    let verifier = verifier.ok_or(AuthError::NotConfigured)?;
    verifier.verify(token).await.map(Caller::Authenticated)
}

/// The token inside an `Authorization: Bearer <token>` value.
pub fn bearer_token(header: &str) -> Result<&str, AuthError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

/// The claims a development token carries.
#[derive(Debug, Serialize)]
struct DevClaims {
    sub: String,
    roles: Vec<String>,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// Signs a development HS256 token for `subject` with `roles`, valid for `ttl`, carrying
/// the issuer and audience `settings` require. For tests and `cargo xtask`, never for
/// production identities.
pub fn sign_hs256(
    secret: &Secret,
    settings: &AuthSettings,
    subject: &str,
    roles: &[&str],
    ttl: Duration,
) -> Result<String, AuthError> {
    let exp = (SystemTime::now() + ttl)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| AuthError::Invalid(e.to_string()))?
        .as_secs();
    let claims = DevClaims {
        sub: subject.to_string(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        exp,
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| AuthError::Invalid(e.to_string()))
}
