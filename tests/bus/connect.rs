//! Connecting with each NATS authentication method the settings offer, to a real server
//! that requires it.

use switchboard::bus::{BusSettings, NatsAuth};
use switchboard::settings::{Env, Secret};
use switchboard::testing::NatsServer;
use switchboard::{Bus, BusError};

async fn connect_with(server: &NatsServer, auth: NatsAuth) -> Result<Bus, BusError> {
    let mut settings = BusSettings::new(server.url());
    settings.nats.auth = auth;
    Bus::connect(&settings, "tests").await
}

#[tokio::test]
async fn user_and_password() {
    let server = NatsServer::start_with(&["--user", "ada", "--pass", "s3cret"]);

    let good = NatsAuth::UserPassword {
        user: "ada".into(),
        password: Secret::new("s3cret"),
    };
    let bad = NatsAuth::UserPassword {
        user: "ada".into(),
        password: Secret::new("wrong"),
    };

    assert!(connect_with(&server, good).await.is_ok());
    assert!(matches!(
        connect_with(&server, bad).await,
        Err(BusError::Connect { .. })
    ));
    assert!(matches!(
        connect_with(&server, NatsAuth::None).await,
        Err(BusError::Connect { .. })
    ));
}

#[tokio::test]
async fn token() {
    let server = NatsServer::start_with(&["--auth", "t0ken"]);

    assert!(
        connect_with(&server, NatsAuth::Token(Secret::new("t0ken")))
            .await
            .is_ok()
    );
    let wrong = connect_with(&server, NatsAuth::Token(Secret::new("nope"))).await;
    assert!(matches!(wrong, Err(BusError::Connect { .. })));
}

#[tokio::test]
async fn nkey_seed() {
    let user = nkeys::KeyPair::new_user();
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("server.conf");
    std::fs::write(
        &config,
        format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    )
    .expect("writes the config");
    let server = NatsServer::start_with(&["-c", &config.display().to_string()]);

    let seed = user.seed().expect("a seed");
    assert!(
        connect_with(&server, NatsAuth::NKey(Secret::new(seed)))
            .await
            .is_ok()
    );
    let stranger = nkeys::KeyPair::new_user().seed().expect("a seed");
    let refused = connect_with(&server, NatsAuth::NKey(Secret::new(stranger))).await;
    assert!(matches!(refused, Err(BusError::Connect { .. })));
}

#[test]
fn settings_refuse_two_auth_methods_and_half_pairs() {
    let two = Env::from_pairs([("NATS_TOKEN", "t"), ("NATS_NKEY_SEED", "SU...")]);
    let half = Env::from_pairs([("NATS_USER", "ada")]);
    let half_tls = Env::from_pairs([("NATS_TLS_CERT_FILE", "/c.pem")]);
    let bad_url = Env::from_pairs([("NATS_URL", "http://example.org")]);

    for env in [two, half, half_tls, bad_url] {
        assert!(BusSettings::from_env(&env).is_err(), "{env:?}");
    }
    let many = Env::from_pairs([("NATS_URL", "nats://a:4222, nats://b:4222")]);
    let settings = BusSettings::from_env(&many).expect("valid");
    assert_eq!(settings.nats.urls, ["nats://a:4222", "nats://b:4222"]);
}
