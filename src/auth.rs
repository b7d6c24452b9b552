//! Who is calling: the caller identity a handler sees, built from the bearer token the
//! gateway forwards in `Authorization`, and the hook that verifies that token.
//!
//! Services verify tokens themselves (they never trust a caller's word for who it is).
//! This module ships HS256 verification with a shared secret; the gateway issue adds
//! RS256/ES256 with a JWKS behind the same [`TokenVerifier`] trait.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::settings::{Env, Secret, SettingsError};

/// Default clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`: the user id.
    pub subject: String,
    /// The token's `roles` claim (e.g. `admin`).
    pub roles: Vec<String>,
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
}

/// Verifies a bearer token and says who it belongs to.
pub trait TokenVerifier: Send + Sync + 'static {
    /// The identity `token` proves, or why it proves nothing.
    fn verify(&self, token: &str) -> Result<Identity, AuthError>;
}

/// How tokens are verified (`JWT_*`).
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Shared HS256 secret (`JWT_HS256_SECRET`), for development.
    pub hs256_secret: Option<Secret>,
    /// Required `iss`, when set (`JWT_ISSUER`).
    pub issuer: Option<String>,
    /// Required `aud`, when set (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Tolerated clock skew (`JWT_LEEWAY_SECS`, default 30).
    pub leeway: Duration,
}

impl AuthSettings {
    /// Reads `JWT_HS256_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_LEEWAY_SECS`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            hs256_secret: env.string("JWT_HS256_SECRET").map(Secret::new),
            issuer: env.string("JWT_ISSUER"),
            audience: env.string("JWT_AUDIENCE"),
            leeway: Duration::from_secs(env.parse("JWT_LEEWAY_SECS", DEFAULT_LEEWAY.as_secs())?),
        })
    }

    /// The verifier these settings describe; `None` when no key is configured, in which
    /// case requests carrying a token are refused.
    pub fn verifier(&self) -> Option<Arc<dyn TokenVerifier>> {
        let secret = self.hs256_secret.as_ref()?;
        Some(Arc::new(Hs256Verifier::new(secret, self)))
    }
}

/// Verifies HS256 tokens signed with a shared secret; `alg: none` and every other
/// algorithm are refused.
pub struct Hs256Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Hs256Verifier {
    /// A verifier for tokens signed with `secret`, checking `iss`/`aud` as `settings` says.
    pub fn new(secret: &Secret, settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Self {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }
}

/// The claims Switchboard reads from a token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

impl TokenVerifier for Hs256Verifier {
    fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(Identity {
            subject: data.claims.sub,
            roles: data.claims.roles,
        })
    }
}

/// The token inside an `Authorization: Bearer <token>` value.
pub fn bearer_token(header: &str) -> Result<&str, AuthError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
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
    let claims = Claims {
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
