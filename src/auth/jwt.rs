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
        // jsonwebtoken compares `iss`/`aud` only when a token carries them, so a configured
        // issuer or audience must also be a required claim, or a token without it passes.
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &settings.issuer {
            base.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &settings.audience {
            Some(audience) => {
                base.set_audience(&[audience]);
                required.push("aud");
            }
            None => base.validate_aud = false,
        }
        base.set_required_spec_claims(&required);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::sign_hs256;
    use crate::settings::Secret;

    fn settings(issuer: Option<&str>, audience: Option<&str>) -> AuthSettings {
        AuthSettings {
            hs256_secret: Some(Secret::new("jwt-tests-secret-0123456789abcdef")),
            issuer: issuer.map(str::to_string),
            audience: audience.map(str::to_string),
            ..AuthSettings::default()
        }
    }

    async fn verify(verifier: &AuthSettings, signer: &AuthSettings) -> Result<Identity, AuthError> {
        let secret = verifier.hs256_secret.clone().expect("a secret");
        let token =
            sign_hs256(&secret, signer, "ada", &[], Duration::from_secs(60)).expect("signs");
        JwtVerifier::new(verifier)
            .await
            .expect("a verifier")
            .verify(&token)
            .await
    }

    #[tokio::test]
    async fn a_configured_issuer_or_audience_must_be_present_not_only_right() {
        let both = settings(Some("https://issuer.example"), Some("switchboard"));

        let matching = verify(&both, &both).await;
        let without_iss = verify(&both, &settings(None, Some("switchboard"))).await;
        let without_aud = verify(&both, &settings(Some("https://issuer.example"), None)).await;

        assert_eq!(matching.expect("a matching token verifies").subject, "ada");
        assert!(without_iss.is_err(), "a token without iss passed");
        assert!(without_aud.is_err(), "a token without aud passed");
    }
}
