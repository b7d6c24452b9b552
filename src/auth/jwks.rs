//! RS256/ES256 public keys from a JSON Web Key Set, read from a file or fetched from a URL,
//! cached, and reloaded when a token names a key id the cache does not know (key rotation)
//! or when the cache is older than [`MAX_AGE`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::AuthError;

/// Keys older than this are reloaded before use, so revoked keys do not live forever.
pub const MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// Unknown key ids trigger at most one reload per this interval, so tokens with random
/// `kid`s cannot make the service hammer the key server.
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
    loaded_at: Option<Instant>,
}

/// A cached JWKS.
pub struct JwksCache {
    source: JwksSource,
    keys: RwLock<Keys>,
    /// Serialises reloads, so concurrent misses cause one fetch.
    reload: Mutex<()>,
}

impl JwksCache {
    /// Loads the key set. A file that cannot be read or parsed is an error; a URL that does
    /// not answer is logged and retried when the first token arrives.
    pub async fn load(source: JwksSource) -> Result<Self, AuthError> {
        let cache = Self {
            source,
            keys: RwLock::new(Keys {
                by_id: HashMap::new(),
                loaded_at: None,
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
        let fresh = {
            let keys = self.keys.read().await;
            keys.loaded_at.is_some_and(|at| at.elapsed() < MAX_AGE)
        };
        if !fresh || !self.knows(kid).await {
            self.reload_if_due().await?;
        }
        let keys = self.keys.read().await;
        let (key_alg, key) = keys
            .by_id
            .get(kid)
            .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?;
        if *key_alg != alg {
            return Err(AuthError::Invalid(format!(
                "key {kid:?} is for {key_alg:?}, the token says {alg:?}"
            )));
        }
        Ok(key.clone())
    }

    async fn knows(&self, kid: &str) -> bool {
        self.keys.read().await.by_id.contains_key(kid)
    }

    async fn reload_if_due(&self) -> Result<(), AuthError> {
        let _one_at_a_time = self.reload.lock().await;
        let due = {
            let keys = self.keys.read().await;
            keys.loaded_at
                .is_none_or(|at| at.elapsed() >= MIN_RELOAD_INTERVAL)
        };
        if due {
            self.reload_now().await?;
        }
        Ok(())
    }

    async fn reload_now(&self) -> Result<(), AuthError> {
        let document = fetch(&self.source).await?;
        let set: JwkSet = serde_json::from_str(&document)
            .map_err(|e| AuthError::KeySet(format!("not a JWKS document: {e}")))?;
        let by_id = usable_keys(&set);
        tracing::info!(keys = by_id.len(), "JWKS loaded");
        *self.keys.write().await = Keys {
            by_id,
            loaded_at: Some(Instant::now()),
        };
        Ok(())
    }
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
