//! Verifying JWT bearer tokens: HS256 with a shared secret, RS256/ES256 with JWKS keys.
//!
//! The algorithm is never taken on the token's word alone: HS256 is accepted only when a
//! secret is configured, and an RS/ES token only with a JWKS key of the same id whose type
//! matches its algorithm, so a public key can never be used as an HMAC secret. `alg: none`
//! does not even parse.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use super::{AuthError, AuthSettings, Identity, TokenVerifier};

/// Verifies tokens with the key material of [`AuthSettings`].
pub struct JwtVerifier {
    /// The HS256 secret, when configured.
    hs256: Option<DecodingKey>,
    /// RS256/ES256 public keys, when configured.
    jwks: Option<JwksCache>,
    /// `exp` (required), `nbf`, `iss`, `aud` and leeway, shared by every algorithm.
    base: Validation,
}

/// The claims Switchboard reads; `exp`, `nbf`, `iss` and `aud` are checked by `Validation`.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl JwtVerifier {
    /// A verifier for `settings`, loading the JWKS when one is configured.
    pub async fn new(settings: &AuthSettings) -> Result<Self, AuthError> {
        let mut base = Validation::new(Algorithm::HS256);
        base.leeway = settings.leeway.as_secs();
        base.validate_nbf = true;
        base.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &settings.issuer {
            base.set_issuer(&[issuer]);
        }
        match &settings.audience {
            Some(audience) => base.set_audience(&[audience]),
            None => base.validate_aud = false,
        }
        let jwks = match &settings.jwks {
            Some(source) => Some(JwksCache::load(source.clone(), settings.jwks_refresh).await?),
            None => None,
        };
        Ok(Self {
            hs256: settings
                .hs256_secret
                .as_ref()
                .map(|secret| DecodingKey::from_secret(secret.expose().as_bytes())),
            jwks,
            base,
        })
    }

    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<Identity, AuthError> {
        let mut validation = self.base.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(Identity {
            subject: data.claims.sub,
            roles: data.claims.roles,
        })
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or_else(|| {
                    AuthError::Invalid("HS256 tokens are not accepted here".into())
                })?;
                self.decode(token, key, Algorithm::HS256)
            }
            alg @ (Algorithm::RS256 | Algorithm::ES256) => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    AuthError::Invalid(format!("{alg:?} tokens are not accepted here"))
                })?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("the token names no key (`kid`)".into()))?;
                let key = jwks.key(&kid, alg).await?;
                self.decode(token, &key, alg)
            }
            other => Err(AuthError::Invalid(format!(
                "the {other:?} algorithm is not accepted"
            ))),
        }
    }
}
