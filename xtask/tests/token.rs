//! `cargo xtask token` prints tokens the services accept: the real binary is run, and its
//! output is verified by `switchboard::auth::JwtVerifier` built from the same `JWT_*`
//! variables, the way every service and the gateway build theirs.

use std::process::Command;

use anyhow::{Context, Result, ensure};
use switchboard::auth::{AuthSettings, Identity, JwtVerifier, TokenVerifier};
use switchboard::settings::Env;

/// The development secret `cargo xtask dev` and `token` use when `JWT_HS256_SECRET` is
/// unset (xtask/src/token.rs).
const DEV_SECRET: &str = "switchboard-development-secret-do-not-use-in-production";

/// The variables a verifier reads, cleared in the child so the test's own environment
/// cannot leak in.
const JWT_VARS: &[&str] = &[
    "JWT_HS256_SECRET",
    "JWT_JWKS_URL",
    "JWT_JWKS_FILE",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_SECS",
    "JWT_JWKS_REFRESH_SECS",
];

/// Runs `xtask token <args>` with exactly `vars` as its `JWT_*` environment and returns
/// the printed token.
fn xtask_token(vars: &[(&str, &str)], args: &[&str]) -> Result<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.arg("token").args(args);
    for var in JWT_VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    let output = command.output().context("running xtask token")?;
    ensure!(
        output.status.success(),
        "xtask token failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .context("the token is not UTF-8")?
        .trim()
        .to_string();
    ensure!(token.split('.').count() == 3, "not a JWT: {token:?}");
    Ok(token)
}

/// What a service configured with `vars` makes of `token`.
async fn verify(vars: &[(&str, &str)], token: &str) -> Result<Identity, String> {
    let settings = AuthSettings::from_env(&Env::from_pairs(vars.iter().copied()))
        .map_err(|e| e.to_string())?;
    let verifier = JwtVerifier::new(&settings)
        .await
        .map_err(|e| e.to_string())?;
    verifier.verify(token).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_token_verifies_with_the_services_settings_including_issuer_and_audience() -> Result<()> {
    let vars = [
        ("JWT_HS256_SECRET", "a-secret-of-this-test-0123456789"),
        ("JWT_ISSUER", "https://issuer.example"),
        ("JWT_AUDIENCE", "switchboard-api"),
    ];
    let token = xtask_token(&vars, &["--sub", "ada", "--role", "admin"])?;
    let identity = verify(&vars, &token)
        .await
        .map_err(anyhow::Error::msg)
        .context("the services refuse the token")?;
    assert_eq!(identity.subject, "ada");
    assert_eq!(identity.roles, vec!["admin".to_string()]);

    // The issuer and audience are really checked: other values are refused.
    let other_issuer = [vars[0], ("JWT_ISSUER", "https://other.example"), vars[2]];
    assert!(verify(&other_issuer, &token).await.is_err());
    let other_audience = [vars[0], vars[1], ("JWT_AUDIENCE", "another-api")];
    assert!(verify(&other_audience, &token).await.is_err());
    Ok(())
}

/// The claims of `token`, decoded without verification.
fn claims(token: &str) -> Result<serde_json::Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).context("a JWT has a payload")?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .context("the payload is not base64url")?;
    serde_json::from_slice(&json).context("the payload is not JSON")
}

#[tokio::test]
async fn the_token_carries_iss_and_aud_exactly_when_they_are_configured() -> Result<()> {
    let secret = ("JWT_HS256_SECRET", "a-secret-of-this-test-0123456789");
    let plain = xtask_token(&[secret], &["--sub", "bob"])?;
    let identity = verify(&[secret], &plain)
        .await
        .map_err(anyhow::Error::msg)
        .context("the services refuse the token")?;
    assert_eq!(identity.subject, "bob");
    assert!(identity.roles.is_empty());
    let plain = claims(&plain)?;
    assert!(
        plain.get("iss").is_none() && plain.get("aud").is_none(),
        "{plain}"
    );

    let configured = [
        secret,
        ("JWT_ISSUER", "https://issuer.example"),
        ("JWT_AUDIENCE", "switchboard-api"),
    ];
    let scoped = claims(&xtask_token(&configured, &["--sub", "bob"])?)?;
    assert_eq!(scoped["iss"], "https://issuer.example");
    assert_eq!(scoped["aud"], "switchboard-api");
    Ok(())
}

/// Fails today: `JwtVerifier` (src/auth/jwt.rs) sets the issuer and audience to compare
/// with but does not make the claims required, and jsonwebtoken 11 skips the comparison
/// when the claim is absent, so a token without `iss`/`aud` passes a service that sets
/// JWT_ISSUER/JWT_AUDIENCE. The fix: add "iss"/"aud" to `set_required_spec_claims` when
/// they are configured.
#[tokio::test]
async fn a_service_requiring_issuer_or_audience_refuses_a_token_without_them() -> Result<()> {
    let secret = ("JWT_HS256_SECRET", "a-secret-of-this-test-0123456789");
    let token = xtask_token(&[secret], &["--sub", "bob"])?;
    let with_issuer = [secret, ("JWT_ISSUER", "https://issuer.example")];
    assert!(
        verify(&with_issuer, &token).await.is_err(),
        "no iss, accepted"
    );
    let with_audience = [secret, ("JWT_AUDIENCE", "switchboard-api")];
    assert!(
        verify(&with_audience, &token).await.is_err(),
        "no aud, accepted"
    );
    Ok(())
}

#[tokio::test]
async fn an_empty_secret_means_the_development_secret() -> Result<()> {
    let token = xtask_token(
        &[("JWT_HS256_SECRET", ""), ("JWT_ISSUER", "")],
        &["--sub", "cy"],
    )?;
    let identity = verify(&[("JWT_HS256_SECRET", DEV_SECRET)], &token)
        .await
        .map_err(anyhow::Error::msg)
        .context("not signed with the development secret")?;
    assert_eq!(identity.subject, "cy");
    assert!(
        verify(
            &[("JWT_HS256_SECRET", "some-other-secret-0123456789")],
            &token
        )
        .await
        .is_err()
    );
    Ok(())
}

#[test]
fn a_subject_is_required() -> Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["token", "--role", "admin"])
        .output()
        .context("running xtask token")?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--sub"));
    Ok(())
}
