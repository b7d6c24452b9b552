//! RS256/ES256 tokens verified with keys from a JWKS file (`JWT_JWKS_FILE`), and the file
//! re-read when a token names a key id the cache does not know (key rotation).
//!
//! Keys come from the `openssl` command-line tool; tokens are signed with `jsonwebtoken`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use switchboard::auth::jwks::JwksSource;
use switchboard::auth::{AuthSettings, JwtVerifier, TokenVerifier};
use switchboard::service::RuntimeSettings;
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
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
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
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        let staged = self.dir.path().join("jwks.json.new");
        std::fs::write(&staged, serde_json::to_vec(&set).expect("JSON")).expect("writes");
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
                .whoami_with(echo("who"), CallOptions::default().bearer_token(&token))
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
