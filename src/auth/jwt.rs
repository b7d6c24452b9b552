//! Verifying JWT bearer tokens: HS256 with a shared secret, RS256/ES256 with JWKS keys.
//!
//! The algorithm is never taken on the token's word alone: HS256 is accepted only when a
//! secret is configured, and an RS/ES token only with a JWKS key of the same id whose type
//! matches its algorithm, so a public key can never be used as an HMAC secret. `alg: none`
//! does not even parse.
//!
//! **Verified-token cache.** The gateway and every service verify the same bearer token on
//! every request, so a verifier remembers the tokens it accepted ([`TOKEN_CACHE_ENTRIES`]
//! at most, keyed by the token's SHA-256) with the identity they prove, and answers a token
//! it has seen from memory while all of these hold (tokens longer than
//! [`TOKEN_CACHE_MAX_TOKEN_BYTES`] are not cached):
//! - **Not expired.** An entry is used only while the clock is before the token's `exp`
//!   (the leeway is not added: at `exp` the token is verified in full again, which applies
//!   the leeway exactly as before). A token accepted only thanks to the leeway is never
//!   cached.
//! - **Same key.** HS256 keys never change during a verifier's life. For an RS256/ES256
//!   token, every use still asks the key set for the token's key (so its refresh on age,
//!   its rate limit and its errors happen exactly as before) and the entry is used only if
//!   the key set still holds, under that key id, the very key that verified the token: a key
//!   removed or replaced by a reload ends its tokens' entries, so a removed key stops
//!   verifying as before.
//!
//! Everything else a verification checks (`iss`, `aud`, `nbf`, the signature) does not
//! change for a given token, key and verifier. Refusals are never cached. When the cache
//! is full, expired entries go first, then arbitrary ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::jwks::JwksCache;
use super::{AuthError, AuthSettings, Identity, TokenVerifier};

/// Most tokens one verifier remembers (see the module documentation). An entry holds the
/// identity (subject and roles, smaller than the token) and, for JWKS tokens, the key id
/// and a copy of the public key: a few KiB at most, so the cache stays within tens of MiB.
pub const TOKEN_CACHE_ENTRIES: usize = 10_000;
/// Longest token cached; longer tokens (far beyond any real identity provider's) are
/// verified in full every time.
pub const TOKEN_CACHE_MAX_TOKEN_BYTES: usize = 4 * 1024;

/// Verifies tokens with the key material of [`AuthSettings`].
pub struct JwtVerifier {
    /// The HS256 secret, when configured.
    hs256: Option<DecodingKey>,
    /// RS256/ES256 public keys, when configured.
    jwks: Option<JwksCache>,
    /// `exp` (required), `nbf`, `iss`, `aud` and leeway, shared by every algorithm.
    base: Validation,
    /// Tokens verified before, until their `exp`.
    cache: TokenCache,
}

/// The claims Switchboard reads; `exp`, `nbf`, `iss` and `aud` are checked by `Validation`.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    /// Read again only to bound the cache entry; `Validation` has already checked it (as a
    /// number, integer or not), so any shape is accepted here.
    #[serde(default)]
    exp: Option<serde_json::Value>,
}

/// A verified token's identity, and what must still hold for it to be reused.
struct Verified {
    identity: Identity,
    /// The token's `exp`, in seconds since the Unix epoch: the entry is used strictly before.
    exp: u64,
    /// For a JWKS token: its key id, algorithm and the key that verified it.
    jwks_key: Option<(String, Algorithm, DecodingKey)>,
}

/// Bounded map of verified tokens, by the SHA-256 of the token.
struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
    capacity: usize,
}

/// A cache hit: the identity, and the JWKS key to check again when the token has one.
struct Hit {
    identity: Identity,
    jwks_key: Option<(String, Algorithm, DecodingKey)>,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The entry of `digest` if it is still before its `exp` at `now`; an expired entry is
    /// dropped.
    fn get(&self, digest: &[u8; 32], now: u64) -> Option<Hit> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(digest)?;
        if now >= entry.exp {
            entries.remove(digest);
            return None;
        }
        Some(Hit {
            identity: entry.identity.clone(),
            jwks_key: entry.jwks_key.clone(),
        })
    }

    /// Remembers `verified` under `digest` unless it is already expired at `now`, making room
    /// first: expired entries go, then arbitrary ones.
    fn insert(&self, digest: [u8; 32], verified: Verified, now: u64) {
        if now >= verified.exp || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, entry| now < entry.exp);
            while entries.len() >= self.capacity {
                let Some(victim) = entries.keys().next().copied() else {
                    break;
                };
                entries.remove(&victim);
            }
        }
        entries.insert(digest, verified);
    }

    fn forget(&self, digest: &[u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(digest);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Whether two keys are the same key material for the same algorithm family.
fn same_key(a: &DecodingKey, b: &DecodingKey) -> bool {
    a.family() == b.family()
        && match (a.kind(), b.kind()) {
            (DecodingKeyKind::SecretOrDer(x), DecodingKeyKind::SecretOrDer(y)) => x == y,
            (
                DecodingKeyKind::RsaModulusExponent { n, e },
                DecodingKeyKind::RsaModulusExponent { n: n2, e: e2 },
            ) => n == n2 && e == e2,
            _ => false,
        }
}

/// Seconds since the Unix epoch, as `jsonwebtoken` reads the clock.
fn unix_now() -> u64 {
    crate::wire::unix_millis(SystemTime::now()) / 1000
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
            cache: TokenCache::new(TOKEN_CACHE_ENTRIES),
        })
    }

    /// Verifies `token` in full; on success also returns its `exp` (when it is an integer
    /// number of seconds, else `None`: such a token is not cached).
    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<(Identity, Option<u64>), AuthError> {
        let mut validation = self.base.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let exp = data.claims.exp.as_ref().and_then(serde_json::Value::as_u64);
        let identity = Identity {
            subject: data.claims.sub,
            roles: data.claims.roles,
            expires_at: exp,
        };
        Ok((identity, exp))
    }

    /// Verifies `token` as of `now` (seconds since the Unix epoch) for the cache, which
    /// bounds its entries by `now`; `jsonwebtoken` reads the clock itself.
    async fn verify_at(&self, token: &str, now: u64) -> Result<Identity, AuthError> {
        let digest = TokenCache::digest(token);
        let cached = (token.len() <= TOKEN_CACHE_MAX_TOKEN_BYTES)
            .then(|| self.cache.get(&digest, now))
            .flatten();
        if let Some(hit) = cached {
            match (hit.jwks_key, &self.jwks) {
                (None, _) => return Ok(hit.identity),
                (Some((kid, alg, verified_with)), Some(jwks)) => {
                    // The key set decides as it did before: a refresh due on age happens
                    // here, and a removed key is refused with the same error.
                    let current = jwks.key(&kid, alg).await.inspect_err(|_| {
                        self.cache.forget(&digest);
                    })?;
                    if same_key(&current, &verified_with) {
                        return Ok(hit.identity);
                    }
                    // Another key now has this id: verify again with it.
                    self.cache.forget(&digest);
                }
                (Some(_), None) => self.cache.forget(&digest),
            }
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let (identity, exp, jwks_key) = match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.as_ref().ok_or_else(|| {
                    AuthError::Invalid("HS256 tokens are not accepted here".into())
                })?;
                let (identity, exp) = self.decode(token, key, Algorithm::HS256)?;
                (identity, exp, None)
            }
            alg @ (Algorithm::RS256 | Algorithm::ES256) => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    AuthError::Invalid(format!("{alg:?} tokens are not accepted here"))
                })?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("the token names no key (`kid`)".into()))?;
                let key = jwks.key(&kid, alg).await?;
                let (identity, exp) = self.decode(token, &key, alg)?;
                (identity, exp, Some((kid, alg, key)))
            }
            other => {
                return Err(AuthError::Invalid(format!(
                    "the {other:?} algorithm is not accepted"
                )));
            }
        };
        if let Some(exp) = exp.filter(|_| token.len() <= TOKEN_CACHE_MAX_TOKEN_BYTES) {
            let verified = Verified {
                identity: identity.clone(),
                exp,
                jwks_key,
            };
            self.cache.insert(digest, verified, now);
        }
        Ok(identity)
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_at(token, unix_now()).await
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

    /// A verifier with the HS256 secret of `settings(None, None)`, and a token it accepts.
    async fn verifier_and_token(roles: &[&str]) -> (JwtVerifier, String) {
        let settings = settings(None, None);
        let secret = settings.hs256_secret.clone().expect("a secret");
        let token =
            sign_hs256(&secret, &settings, "ada", roles, Duration::from_secs(60)).expect("signs");
        let verifier = JwtVerifier::new(&settings).await.expect("a verifier");
        (verifier, token)
    }

    /// The `exp` a token carries.
    fn exp_of(token: &str) -> u64 {
        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(token).expect("claims");
        claims["exp"].as_u64().expect("an integer exp")
    }

    #[tokio::test]
    async fn a_cache_hit_returns_the_same_identity() {
        let (verifier, token) = verifier_and_token(&["admin", "ops"]).await;

        let first = verifier.verify(&token).await.expect("verifies");
        let cached = verifier
            .cache
            .get(&TokenCache::digest(&token), unix_now())
            .expect("the accepted token is cached");
        let second = verifier.verify(&token).await.expect("verifies again");

        assert_eq!(first.subject, "ada");
        assert_eq!(first.roles, vec!["admin".to_string(), "ops".to_string()]);
        assert_eq!(cached.identity, first);
        assert_eq!(second, first);
        assert_eq!(verifier.cache.len(), 1, "one token, one entry");
    }

    #[tokio::test]
    async fn a_cached_token_still_expires_at_its_exp() {
        let (verifier, token) = verifier_and_token(&[]).await;
        let exp = exp_of(&token);
        let digest = TokenCache::digest(&token);
        verifier.verify(&token).await.expect("verifies");

        assert!(
            verifier.cache.get(&digest, exp - 1).is_some(),
            "used before exp"
        );
        assert!(
            verifier.cache.get(&digest, exp).is_none(),
            "not used at exp"
        );
        assert_eq!(verifier.cache.len(), 0, "the expired entry is dropped");

        // At `exp` the token is verified in full again (here the real clock, well before
        // `exp`, accepts it), and it is not cached for a time at or past its `exp`.
        let identity = verifier.verify_at(&token, exp).await.expect("verifies");
        assert_eq!(identity.subject, "ada");
        assert_eq!(verifier.cache.len(), 0, "nothing cached past exp");
    }

    #[tokio::test]
    async fn a_token_accepted_only_within_the_leeway_is_not_cached() {
        let settings = AuthSettings {
            leeway: Duration::from_secs(30),
            ..settings(None, None)
        };
        let secret = settings.hs256_secret.clone().expect("a secret");
        let claims = serde_json::json!({ "sub": "ada", "exp": unix_now() - 5 });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
        )
        .expect("signs");
        let verifier = JwtVerifier::new(&settings).await.expect("a verifier");

        let identity = verifier.verify(&token).await.expect("within the leeway");

        assert_eq!(identity.subject, "ada");
        assert_eq!(verifier.cache.len(), 0);
    }

    #[tokio::test]
    async fn tokens_longer_than_the_bound_are_verified_but_not_cached() {
        let role = "r".repeat(TOKEN_CACHE_MAX_TOKEN_BYTES);
        let (verifier, token) = verifier_and_token(&[&role]).await;

        let identity = verifier.verify(&token).await.expect("verifies");

        assert_eq!(identity.roles, vec![role]);
        assert_eq!(verifier.cache.len(), 0);
    }

    #[tokio::test]
    async fn refused_tokens_are_not_cached() {
        let (verifier, token) = verifier_and_token(&[]).await;
        let forged = format!("{token}x");

        assert!(verifier.verify(&forged).await.is_err());
        assert!(verifier.verify(&forged).await.is_err(), "refused again");
        assert_eq!(verifier.cache.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_expired_entries_first() {
        let cache = TokenCache::new(2);
        let entry = |subject: &str, exp: u64| Verified {
            identity: Identity {
                subject: subject.into(),
                roles: Vec::new(),
                expires_at: Some(exp),
            },
            exp,
            jwks_key: None,
        };
        cache.insert([1; 32], entry("short", 20), 10);
        cache.insert([2; 32], entry("long", 100), 10);
        cache.insert([3; 32], entry("new", 100), 30);

        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&[1; 32], 30).is_none(),
            "the expired entry went first"
        );
        assert!(cache.get(&[2; 32], 30).is_some());
        assert!(cache.get(&[3; 32], 30).is_some());

        cache.insert([4; 32], entry("newest", 100), 30);
        assert_eq!(
            cache.len(),
            2,
            "full of live entries: an arbitrary one goes"
        );
        assert!(cache.get(&[4; 32], 30).is_some());
    }
}
