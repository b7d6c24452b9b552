//! RS256/ES256 public keys from a JSON Web Key Set, read from a file or fetched from a URL,
//! and cached.
//!
//! When the cache re-reads its source, precisely:
//! - **Age.** Keys loaded longer ago than the refresh interval (`JWT_JWKS_REFRESH_SECS`,
//!   default [`DEFAULT_REFRESH`], 10 min) are re-read before the next token is verified
//!   with them, so a key removed from the source stops verifying at most one interval
//!   after it was removed. The check happens when a token is verified (no timer runs); an
//!   idle service simply re-reads on its next token.
//! - **Unknown key id.** A token naming a key id the cache does not know makes the cache
//!   re-read its source (key rotation), so a new key verifies at once.
//! - **Rate limit.** Whatever the trigger, the source is read at most once per
//!   [`MIN_RELOAD_INTERVAL`] (1 s), counting failed reads, so a flood of tokens with
//!   random `kid`s cannot make the service hammer the key server or the file system, even
//!   while the source fails. A token arriving within that second uses the keys already
//!   cached (a stale set included).
//! - **Failures.** A failed re-read keeps the last good key set (an identity provider's
//!   outage must not refuse every caller) and is logged; the next token after the rate
//!   limit tries again. A token whose key id is still unknown is refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::AuthError;

/// Default refresh interval: keys older than this are re-read before use, so removed
/// (revoked) keys stop verifying (`JWT_JWKS_REFRESH_SECS`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10 * 60);
/// The source is read at most once per this interval, whatever triggers it, so tokens with
/// random `kid`s cannot make the service hammer the key server.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Bound on fetching a JWKS over HTTP.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the size of a JWKS document.
const MAX_DOCUMENT: u64 = 1024 * 1024;

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS document on disk (e.g. a mounted Secret).
    File(PathBuf),
    /// An identity provider's JWKS endpoint.
    Url(String),
}

/// The cached keys, by key id.
struct Keys {
    by_id: HashMap<String, (Algorithm, DecodingKey)>,
    /// When the keys were last read successfully; `None` before the first success.
    loaded_at: Option<Instant>,
    /// When the source was last read, successfully or not: what the rate limit counts.
    attempted_at: Option<Instant>,
}

/// A cached JWKS.
pub struct JwksCache {
    source: JwksSource,
    /// Keys loaded longer ago than this are re-read before use.
    refresh: Duration,
    keys: RwLock<Keys>,
    /// Serialises reloads, so concurrent misses cause one fetch.
    reload: Mutex<()>,
}

/// Why the source should be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The keys are older than the refresh interval (or were never loaded).
    Stale,
    /// A token names a key id the cache does not know.
    UnknownKid,
}

impl JwksCache {
    /// Loads the key set, to be re-read every `refresh` (see the module documentation). A
    /// file that cannot be read or parsed is an error; a URL that does not answer is logged
    /// and retried when the first token arrives.
    pub async fn load(source: JwksSource, refresh: Duration) -> Result<Self, AuthError> {
        let cache = Self {
            source,
            refresh,
            keys: RwLock::new(Keys {
                by_id: HashMap::new(),
                loaded_at: None,
                attempted_at: None,
            }),
            reload: Mutex::new(()),
        };
        match (cache.reload_now().await, &cache.source) {
            (Ok(()), _) => {}
            (Err(error), JwksSource::File(_)) => return Err(error),
            (Err(error), JwksSource::Url(url)) => {
                tracing::warn!(url, %error, "JWKS not loaded yet; retrying on first use");
            }
        }
        Ok(cache)
    }

    /// The key `kid` for tokens signed with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        if let Some(trigger) = self.trigger(kid).await {
            self.reload_if_due(kid, trigger).await?;
        }
        let keys = self.keys.read().await;
        let (key_alg, key) = keys.by_id.get(kid).ok_or_else(|| match keys.loaded_at {
            None => AuthError::KeySet("the key set has not been loaded yet".into()),
            Some(_) => AuthError::Invalid(format!("unknown key id {kid:?}")),
        })?;
        if *key_alg != alg {
            return Err(AuthError::Invalid(format!(
                "key {kid:?} is for {key_alg:?}, the token says {alg:?}"
            )));
        }
        Ok(key.clone())
    }

    /// Why the source should be read again before `kid` is looked up, if it should.
    async fn trigger(&self, kid: &str) -> Option<Trigger> {
        let keys = self.keys.read().await;
        if keys.loaded_at.is_none_or(|at| at.elapsed() >= self.refresh) {
            Some(Trigger::Stale)
        } else if !keys.by_id.contains_key(kid) {
            Some(Trigger::UnknownKid)
        } else {
            None
        }
    }

    /// Reads the source again if the trigger still holds once this task has the reload
    /// lock (another task may have just reloaded) and the rate limit allows it. A failed
    /// read keeps the cached keys; it fails the token only when its key is still unknown.
    async fn reload_if_due(&self, kid: &str, trigger: Trigger) -> Result<(), AuthError> {
        let _one_at_a_time = self.reload.lock().await;
        let (still, allowed) = {
            let keys = self.keys.read().await;
            let still = match trigger {
                Trigger::Stale => keys.loaded_at.is_none_or(|at| at.elapsed() >= self.refresh),
                Trigger::UnknownKid => !keys.by_id.contains_key(kid),
            };
            let allowed = keys
                .attempted_at
                .is_none_or(|at| at.elapsed() >= MIN_RELOAD_INTERVAL);
            (still, allowed)
        };
        if !(still && allowed) {
            return Ok(());
        }
        match self.reload_now().await {
            Ok(()) => Ok(()),
            Err(error) if self.keys.read().await.by_id.contains_key(kid) => {
                tracing::warn!(%error, "JWKS refresh failed; keeping the keys loaded before");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Reads the source now, replacing the keys on success; records the attempt either way.
    async fn reload_now(&self) -> Result<(), AuthError> {
        let read = fetch(&self.source)
            .await
            .and_then(|document| parse_document(&document));
        let mut keys = self.keys.write().await;
        keys.attempted_at = Some(Instant::now());
        let set = read?;
        keys.by_id = usable_keys(&set);
        keys.loaded_at = keys.attempted_at;
        tracing::info!(keys = keys.by_id.len(), "JWKS loaded");
        Ok(())
    }
}

/// Parses a JWKS document (`{"keys": [...]}`); the settings use it to refuse a
/// `JWT_JWKS_FILE` that is not one before anything starts.
pub fn parse_document(document: &str) -> Result<JwkSet, AuthError> {
    serde_json::from_str(document)
        .map_err(|e| AuthError::KeySet(format!("not a JWKS document: {e}")))
}

/// The RS256 and ES256 (P-256) keys of `set` that have a key id; others are skipped.
fn usable_keys(set: &JwkSet) -> HashMap<String, (Algorithm, DecodingKey)> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid.clone(), (alg, key));
            }
            Err(error) => tracing::warn!(kid, %error, "skipping an unusable JWK"),
        }
    }
    keys
}

async fn fetch(source: &JwksSource) -> Result<String, AuthError> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || match source {
        JwksSource::File(path) => std::fs::read_to_string(&path)
            .map_err(|e| AuthError::KeySet(format!("{}: {e}", path.display()))),
        JwksSource::Url(url) => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(FETCH_TIMEOUT))
                .build()
                .into();
            let mut response = agent
                .get(&url)
                .call()
                .map_err(|e| AuthError::KeySet(format!("{url}: {e}")))?;
            response
                .body_mut()
                .with_config()
                .limit(MAX_DOCUMENT)
                .read_to_string()
                .map_err(|e| AuthError::KeySet(format!("{url}: {e}")))
        }
    })
    .await
    .map_err(|e| AuthError::KeySet(e.to_string()))?
}
