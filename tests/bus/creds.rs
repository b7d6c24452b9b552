//! `.creds` authentication (`NATS_CREDS_FILE`) against a real nats-server in operator mode.
//!
//! The test mints the whole chain itself: an operator, an account and users as NKeys, and
//! their JWTs as nats-server reads them (header `{"typ":"JWT","alg":"ed25519-nkey"}`,
//! base64url claims, an ed25519 signature by the issuer's key). The server trusts the
//! operator and has the account JWTs preloaded in a memory resolver.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};
use switchboard::bus::{BusSettings, NatsAuth};
use switchboard::testing::NatsServer;
use switchboard::{Bus, BusError};

use crate::helpers::{round_trip, within};

/// A JWT with `nats` claims about `subject`, issued and signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = encode(&json!({ "typ": "JWT", "alg": "ed25519-nkey" }));
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = encode(&json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": issued_at,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    }));
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Account claims without limits (nats-server reads a missing limit as zero).
fn account_claims() -> Value {
    json!({
        "type": "account",
        "version": 2,
        "limits": {
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
        },
    })
}

/// A user JWT for `user`, signed by `account`.
fn user_jwt(account: &KeyPair, user: &KeyPair, name: &str) -> String {
    let claims = json!({
        "type": "user",
        "version": 2,
        "pub": {},
        "sub": {},
        "subs": -1, "data": -1, "payload": -1,
    });
    jwt(account, &user.public_key(), name, claims)
}

/// The `.creds` text the `nsc` tool writes: the user JWT and the NKey seed it proves.
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// An operator-mode server, the account it knows and a temp dir for files.
struct Operated {
    server: NatsServer,
    account: KeyPair,
    dir: tempfile::TempDir,
}

impl Operated {
    fn start() -> Self {
        let operator = KeyPair::new_operator();
        let system = KeyPair::new_account();
        let account = KeyPair::new_account();
        let operator_jwt = jwt(
            &operator,
            &operator.public_key(),
            "test-operator",
            json!({ "type": "operator", "version": 2, "system_account": system.public_key() }),
        );
        let system_jwt = jwt(&operator, &system.public_key(), "SYS", account_claims());
        let account_jwt = jwt(&operator, &account.public_key(), "APP", account_claims());
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("server.conf");
        std::fs::write(
            &config,
            format!(
                "operator: {operator_jwt}\nsystem_account: {}\nresolver: MEMORY\n\
                 resolver_preload: {{\n  {}: {system_jwt}\n  {}: {account_jwt}\n}}\n",
                system.public_key(),
                system.public_key(),
                account.public_key(),
            ),
        )
        .expect("writes the server config");
        let server = NatsServer::start_with(&["-c", &config.display().to_string()]);
        Self {
            server,
            account,
            dir,
        }
    }

    /// Writes a `.creds` file and returns its path.
    fn write_creds(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.creds"));
        std::fs::write(&path, text).expect("writes the creds file");
        path
    }

    /// A `.creds` file for a new user of the known account.
    fn user_creds(&self, name: &str) -> PathBuf {
        let user = KeyPair::new_user();
        let text = creds(
            &user_jwt(&self.account, &user, name),
            &user.seed().expect("a seed"),
        );
        self.write_creds(name, &text)
    }

    async fn connect(&self, creds: PathBuf) -> Result<Bus, BusError> {
        let mut settings = BusSettings::new(self.server.url());
        settings.nats.auth = NatsAuth::CredsFile(creds);
        within("the connection", Bus::connect(&settings, "tests")).await
    }
}

#[tokio::test]
async fn a_creds_file_authenticates_and_requests_round_trip() {
    let world = Operated::start();
    let service = world
        .connect(world.user_creds("service"))
        .await
        .expect("the service's user connects");
    let caller = world
        .connect(world.user_creds("caller"))
        .await
        .expect("the caller's user connects");
    round_trip(service, caller, "creds").await;
}

#[tokio::test]
async fn wrong_creds_are_refused() {
    let world = Operated::start();
    // A user of an account the server does not know.
    let stranger_account = KeyPair::new_account();
    let stranger = KeyPair::new_user();
    let unknown_account = world.write_creds(
        "unknown-account",
        &creds(
            &user_jwt(&stranger_account, &stranger, "stranger"),
            &stranger.seed().expect("a seed"),
        ),
    );
    // A valid user JWT with someone else's seed: the nonce signature does not match it.
    let user = KeyPair::new_user();
    let impostor = KeyPair::new_user();
    let wrong_seed = world.write_creds(
        "wrong-seed",
        &creds(
            &user_jwt(&world.account, &user, "user"),
            &impostor.seed().expect("a seed"),
        ),
    );
    let missing = world.dir.path().join("missing.creds");

    for (what, path, why) in [
        (
            "unknown account",
            unknown_account,
            "authorization violation",
        ),
        ("wrong seed", wrong_seed, "authorization violation"),
        ("missing file", missing, "missing.creds"),
    ] {
        match world.connect(path).await {
            Err(BusError::Connect { reason, .. }) => {
                assert!(reason.contains(why), "{what}: {reason}")
            }
            other => panic!("{what}: expected a connect error, got {other:?}"),
        }
    }
    let mut anonymous = BusSettings::new(world.server.url());
    anonymous.nats.auth = NatsAuth::None;
    let refused = within("the connection", Bus::connect(&anonymous, "tests")).await;
    assert!(
        matches!(refused, Err(BusError::Connect { .. })),
        "the server requires credentials: {refused:?}"
    );
    world
        .connect(world.user_creds("good"))
        .await
        .expect("the same server accepts good creds");
}
