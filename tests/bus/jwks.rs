//! RS256/ES256 tokens verified with keys from a JWKS file (`JWT_JWKS_FILE`) or URL, the
//! source re-read when a token names a key id the cache does not know (key rotation) and
//! when the keys are older than the refresh interval (`JWT_JWKS_REFRESH_SECS`), at most
//! once a second whatever the trigger, and a bad `JWT_JWKS_FILE` refused while parsing.
//!
//! Keys come from the `openssl` command-line tool; tokens are signed with `jsonwebtoken`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use switchboard::auth::jwks::JwksSource;
use switchboard::auth::jwks::MIN_RELOAD_INTERVAL;
use switchboard::auth::{AuthError, AuthSettings, JwtVerifier, TokenVerifier};
use switchboard::service::RuntimeSettings;
use switchboard::settings::{Env, SettingsError};
use switchboard::testing::eventually;
use switchboard::{BusError, CallOptions};

use crate::helpers::{PATIENCE, World, echo, echoed, memory_store};

/// A signing key and its public half as a JWK with key id `kid`.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Jwk,
}

impl SigningKey {
    /// A new P-256 key (ES256).
    fn es256(kid: &str) -> Self {
        let der = openssl_der(&[
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            &["pkcs8", "-topk8", "-nocrypt", "-outform", "DER"],
        ]);
        Self::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(&der))
    }

    /// A new 2048-bit RSA key (RS256).
    fn rs256(kid: &str) -> Self {
        let der = openssl_der(&[
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            &["rsa", "-traditional", "-outform", "DER"],
        ]);
        Self::new(kid, Algorithm::RS256, EncodingKey::from_rsa_der(&der))
    }

    fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Self {
        let mut jwk = Jwk::from_encoding_key(&key, alg).expect("the public half as a JWK");
        jwk.common.key_id = Some(kid.to_string());
        jwk.common.key_algorithm = Some(match alg {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            _ => KeyAlgorithm::RS256,
        });
        Self {
            kid: kid.to_string(),
            alg,
            key,
            jwk,
        }
    }

    /// A token for `subject`, valid for ten minutes, naming this key.
    fn token(&self, subject: &str) -> String {
        self.token_naming(&self.kid, subject)
    }

    /// A token for `subject` signed by this key but naming key id `kid`.
    fn token_naming(&self, kid: &str, subject: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_string());
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 600;
        jsonwebtoken::encode(
            &header,
            &serde_json::json!({ "sub": subject, "exp": exp }),
            &self.key,
        )
        .expect("signs")
    }
}

/// Runs `openssl` stages piped into each other and returns the last one's output.
fn openssl_der(stages: &[&[&str]]) -> Vec<u8> {
    let mut input: Option<Vec<u8>> = None;
    for args in stages {
        let mut child = Command::new("openssl")
            .args(*args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the `openssl` command runs (the JWKS tests need it to make keys)");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(bytes) = input.take() {
            std::io::Write::write_all(&mut stdin, &bytes).expect("feeds openssl");
        }
        drop(stdin);
        let output = child.wait_with_output().expect("openssl finishes");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        input = Some(output.stdout);
    }
    input.expect("at least one stage")
}

/// A JWKS document holding the public halves of `keys`.
fn document(keys: &[&SigningKey]) -> String {
    let set = JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    };
    serde_json::to_string(&set).expect("JSON")
}

/// A JWKS file in a temp dir.
struct JwksFile {
    dir: tempfile::TempDir,
}

impl JwksFile {
    fn with(keys: &[&SigningKey]) -> Self {
        let file = Self {
            dir: tempfile::tempdir().expect("a temp dir"),
        };
        file.write(keys);
        file
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// Replaces the file's content at once (write, then rename), as a mounted Secret
    /// changes.
    fn write(&self, keys: &[&SigningKey]) {
        let staged = self.dir.path().join("jwks.json.new");
        std::fs::write(&staged, document(keys)).expect("writes");
        std::fs::rename(&staged, self.path()).expect("replaces the JWKS file");
    }

    fn settings(&self) -> AuthSettings {
        AuthSettings {
            jwks: Some(JwksSource::File(self.path())),
            ..Default::default()
        }
    }
}

#[tokio::test]
async fn tokens_signed_by_keys_in_the_file_verify() {
    let (ec, rsa) = (SigningKey::es256("ec-1"), SigningKey::rs256("rsa-1"));
    let file = JwksFile::with(&[&ec, &rsa]);
    let verifier = JwtVerifier::new(&file.settings())
        .await
        .expect("loads the JWKS file");

    for (key, subject) in [(&ec, "ada"), (&rsa, "grace")] {
        let identity = verifier
            .verify(&key.token(subject))
            .await
            .unwrap_or_else(|e| panic!("{:?} token refused: {e}", key.alg));
        assert_eq!(identity.subject, subject);
    }
    // The right key id on a token signed by another key, or an unknown key id: refused.
    let forger = SigningKey::es256("ec-1");
    assert!(verifier.verify(&forger.token("mallory")).await.is_err());
    let stranger = SigningKey::es256("nobody-knows-me");
    assert!(verifier.verify(&stranger.token("mallory")).await.is_err());
    // A file that cannot be read is an error at start, not a verifier that refuses all.
    let missing = AuthSettings {
        jwks: Some(JwksSource::File(file.dir.path().join("missing.json"))),
        ..Default::default()
    };
    assert!(JwtVerifier::new(&missing).await.is_err());
}

#[tokio::test]
async fn a_rotated_file_is_read_again_when_a_new_key_id_arrives() {
    let world = World::new().await;
    let (old, new) = (SigningKey::es256("2024"), SigningKey::rs256("2025"));
    let file = JwksFile::with(&[&old]);
    let verifier = Arc::new(
        JwtVerifier::new(&file.settings())
            .await
            .expect("loads the JWKS file"),
    );
    let probe = world
        .start_probe_with(
            RuntimeSettings::default(),
            memory_store().await,
            Some(verifier),
        )
        .await;
    let client = world.probe_client();
    let whoami = |token: String| {
        let client = client.clone();
        async move {
            client
                .whoami_with(
                    echo("who"),
                    // Generous, so a loaded machine gives a late answer, never a timeout.
                    CallOptions::default()
                        .bearer_token(&token)
                        .timeout(PATIENCE),
                )
                .await
        }
    };
    let before = whoami(old.token("ada"))
        .await
        .expect("the old key verifies");
    assert_eq!(echoed(before).caller, "ada");

    // The key is rotated: the file now holds only the new key.
    file.write(&[&new]);
    // The service reads the file again when a token names the unknown key id (at most
    // once a second, so the first tries may still be refused).
    let after = switchboard::testing::eventually(PATIENCE, || async {
        whoami(new.token("grace")).await.ok()
    })
    .await
    .expect("a token signed by the new key verifies after the rotation");
    assert_eq!(echoed(after).caller, "grace");

    // The reload replaced the key set: the removed key no longer verifies.
    let removed = whoami(old.token("ada")).await;
    assert!(
        matches!(removed, Err(BusError::Unauthorized { .. })),
        "a token of the removed key: {removed:?}"
    );
    assert_eq!(
        probe.calls(),
        2,
        "only the two verified calls reached the handler"
    );
}

#[tokio::test]
async fn a_removed_key_stops_verifying_once_the_refresh_interval_has_passed() {
    let (kept, removed) = (SigningKey::es256("kept"), SigningKey::rs256("removed"));
    let file = JwksFile::with(&[&kept, &removed]);
    let settings = AuthSettings {
        jwks_refresh: Duration::from_secs(1),
        ..file.settings()
    };
    let verifier = JwtVerifier::new(&settings)
        .await
        .expect("loads the JWKS file");
    verifier
        .verify(&removed.token("ada"))
        .await
        .expect("the key verifies while it is published");

    // The key is revoked: the file now holds only the other key. Only tokens of key ids
    // the cache already knows are presented, so no unknown `kid` triggers a reload: the
    // refresh interval alone must make the cache read the file again.
    file.write(&[&kept]);
    let refused = eventually(PATIENCE, || async {
        verifier.verify(&removed.token("ada")).await.err()
    })
    .await
    .expect("the removed key stops verifying once its keys are older than the interval");
    assert!(
        matches!(&refused, AuthError::Invalid(reason) if reason.contains("unknown key id")),
        "refused because the key is gone: {refused:?}"
    );
    let still = verifier
        .verify(&kept.token("grace"))
        .await
        .expect("the key still published still verifies");
    assert_eq!(still.subject, "grace");
}

#[tokio::test]
async fn a_key_replaced_under_the_same_id_stops_verifying_the_tokens_it_signed() {
    // The verifier caches accepted tokens (`switchboard::auth::jwt`): the cached token
    // below must stop verifying once the key set serves another key under its key id.
    let (old, new) = (SigningKey::es256("rotating"), SigningKey::es256("rotating"));
    let file = JwksFile::with(&[&old]);
    let settings = AuthSettings {
        jwks_refresh: Duration::from_secs(1),
        ..file.settings()
    };
    let verifier = JwtVerifier::new(&settings)
        .await
        .expect("loads the JWKS file");
    let token = old.token("ada");
    for _ in 0..2 {
        let identity = verifier
            .verify(&token)
            .await
            .expect("verifies, then from the cache");
        assert_eq!(identity.subject, "ada");
    }

    file.write(&[&new]);
    let refused = eventually(PATIENCE, || async { verifier.verify(&token).await.err() })
        .await
        .expect("the old key's token stops verifying once the new key is loaded");
    assert!(
        matches!(&refused, AuthError::Invalid(_)),
        "refused as an invalid token: {refused:?}"
    );
    let renewed = verifier
        .verify(&new.token("ada"))
        .await
        .expect("the new key verifies");
    assert_eq!(renewed.subject, "ada");
}

#[tokio::test]
async fn the_refresh_interval_comes_from_the_environment() {
    let default = AuthSettings::from_env(&Env::default()).expect("defaults");
    assert_eq!(default.jwks_refresh, Duration::from_secs(600));
    let set = AuthSettings::from_env(&Env::from_pairs([("JWT_JWKS_REFRESH_SECS", "42")]))
        .expect("a number of seconds");
    assert_eq!(set.jwks_refresh, Duration::from_secs(42));
    for bad in ["0", "soon", "-1"] {
        let error = AuthSettings::from_env(&Env::from_pairs([("JWT_JWKS_REFRESH_SECS", bad)]))
            .err()
            .unwrap_or_else(|| panic!("JWT_JWKS_REFRESH_SECS={bad} accepted"));
        assert!(
            matches!(
                error,
                SettingsError::Invalid {
                    var: "JWT_JWKS_REFRESH_SECS",
                    ..
                }
            ),
            "{bad}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_jwks_file_is_read_and_parsed_while_the_settings_are() {
    let key = SigningKey::es256("ec-1");
    let file = JwksFile::with(&[&key]);
    let path = file.path();
    let good = AuthSettings::from_env(&Env::from_pairs([(
        "JWT_JWKS_FILE",
        path.to_str().expect("a UTF-8 temp path"),
    )]))
    .expect("a readable JWKS file");
    assert_eq!(good.jwks, Some(JwksSource::File(path)));

    let not_json = file.dir.path().join("not-json.json");
    std::fs::write(&not_json, "-----BEGIN PUBLIC KEY-----").expect("writes");
    let no_keys = file.dir.path().join("no-keys.json");
    std::fs::write(&no_keys, r#"{"issuer": "x"}"#).expect("writes");
    let missing = file.dir.path().join("missing.json");
    for path in [not_json, no_keys, missing, file.dir.path().to_path_buf()] {
        let text = path.to_str().expect("a UTF-8 temp path");
        let error = AuthSettings::from_env(&Env::from_pairs([("JWT_JWKS_FILE", text)]))
            .err()
            .unwrap_or_else(|| panic!("{text} accepted as a JWKS file"));
        assert!(
            matches!(
                error,
                SettingsError::Invalid {
                    var: "JWT_JWKS_FILE",
                    ..
                }
            ),
            "{text}: {error:?}"
        );
        assert_eq!(error.to_string().lines().count(), 1, "one line: {error}");
    }
}

/// A JWKS endpoint over HTTP that counts how often it is read and can be made to fail.
struct JwksServer {
    url: String,
    reads: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl JwksServer {
    async fn serve(document: String) -> Self {
        let (reads, failing) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (counted, fails) = (reads.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = if fails.load(Ordering::SeqCst) {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new())
                } else {
                    (axum::http::StatusCode::OK, document.clone())
                };
                async move { answer }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!(
            "http://{}/jwks.json",
            listener.local_addr().expect("an address")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            reads,
            failing,
        }
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn settings(&self) -> AuthSettings {
        AuthSettings {
            jwks: Some(JwksSource::Url(self.url.clone())),
            ..Default::default()
        }
    }
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_reads_the_source_at_most_once_a_second() {
    let (known, bogus) = (SigningKey::es256("known"), SigningKey::es256("bogus"));
    // Once with a source that answers, once with one that fails: failed reads count too.
    for failing in [false, true] {
        let server = JwksServer::serve(document(&[&known])).await;
        let verifier = JwtVerifier::new(&server.settings())
            .await
            .expect("loads the JWKS");
        assert_eq!(server.reads(), 1, "loaded once at start");
        server.failing.store(failing, Ordering::SeqCst);

        // An unknown key id does make the cache read its source again (once the second
        // since the start has passed): asked until it has.
        let probed = eventually(PATIENCE, || async {
            let refused = verifier.verify(&bogus.token("mallory")).await;
            assert!(
                refused.is_err(),
                "an unknown key id is refused: {refused:?}"
            );
            (server.reads() >= 2).then_some(())
        })
        .await;
        assert!(
            probed.is_some(),
            "failing={failing}: an unknown key id made the cache read its source"
        );

        // Right after that read, a flood of unknown key ids.
        let (before, started) = (server.reads(), Instant::now());
        let flood = (0..60).map(|n| {
            let token = bogus.token_naming(&format!("bogus-{n}"), "mallory");
            let verifier = &verifier;
            async move { verifier.verify(&token).await }
        });
        let results = futures::future::join_all(flood).await;
        let elapsed = started.elapsed();

        assert!(
            results.iter().all(Result::is_err),
            "every bogus key id is refused"
        );
        // Reads are at least a second apart, the last one just before the flood, so
        // however slow the machine, the flood read the source at most once per whole
        // second it took (plus one, for rounding).
        let allowed = (elapsed.as_millis() / MIN_RELOAD_INTERVAL.as_millis()) as usize + 1;
        let during = server.reads() - before;
        assert!(
            during <= allowed,
            "failing={failing}: {during} reads for 60 unknown key ids in {elapsed:?} (at most {allowed})"
        );
        let identity = verifier
            .verify(&known.token("ada"))
            .await
            .expect("the known key still verifies");
        assert_eq!(identity.subject, "ada");
    }
}

#[tokio::test]
async fn a_refresh_that_fails_keeps_the_keys_loaded_before() {
    let key = SigningKey::es256("only");
    let server = JwksServer::serve(document(&[&key])).await;
    let settings = AuthSettings {
        jwks_refresh: Duration::from_secs(1),
        ..server.settings()
    };
    let verifier = JwtVerifier::new(&settings).await.expect("loads the JWKS");
    server.failing.store(true, Ordering::SeqCst);

    // Verified until the keys are older than the interval and a refresh was tried (and
    // failed): every token of the cached key verifies meanwhile and after.
    let refreshed = eventually(PATIENCE, || async {
        let identity = verifier
            .verify(&key.token("ada"))
            .await
            .expect("the cached key verifies while the source fails");
        assert_eq!(identity.subject, "ada");
        (server.reads() >= 2).then_some(())
    })
    .await;
    assert!(
        refreshed.is_some(),
        "the stale keys were re-read (and the read failed) within {PATIENCE:?}"
    );
    verifier
        .verify(&key.token("ada"))
        .await
        .expect("the last good keys stay in use while the source fails");
}
