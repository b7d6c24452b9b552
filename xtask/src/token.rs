//! `cargo xtask token --sub <id> [--role <role>]… [--ttl-secs <n>]`: prints a development
//! token, signed by the same JWT code the services and the gateway verify with
//! ([`switchboard::auth::sign_hs256`], the jsonwebtoken crate).
//!
//! The token is HS256 with the development secret that `cargo xtask dev` gives every
//! process (or `JWT_HS256_SECRET` when set), and carries `iss`/`aud` when `JWT_ISSUER` /
//! `JWT_AUDIENCE` are set: the variables are read by the services' own
//! [`AuthSettings::from_env`], so a token printed here is accepted wherever the same
//! environment verifies tokens. Never for production identities.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use switchboard::auth::{AuthSettings, sign_hs256};
use switchboard::settings::{Env, Secret};

/// The secret `cargo xtask dev` uses when `JWT_HS256_SECRET` is not set.
pub const DEV_SECRET: &str = "switchboard-development-secret-do-not-use-in-production";
/// Lifetime of a development token unless `--ttl-secs` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How tokens are verified here: the services' reading of `JWT_*`, with the development
/// secret when `JWT_HS256_SECRET` is unset (or empty).
pub fn dev_auth() -> Result<AuthSettings> {
    let mut settings = AuthSettings::from_env(&Env::from_process())
        .context("the JWT_* variables are not usable")?;
    if settings.hs256_secret.is_none() {
        settings.hs256_secret = Some(Secret::new(DEV_SECRET));
    }
    Ok(settings)
}

/// A development token for `subject` with `roles`, valid for `ttl`, signed with the HS256
/// secret of `settings` and carrying its issuer and audience.
pub fn sign(
    settings: &AuthSettings,
    subject: &str,
    roles: &[String],
    ttl: Duration,
) -> Result<String> {
    let secret = settings
        .hs256_secret
        .as_ref()
        .context("no HS256 secret to sign with")?;
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    sign_hs256(secret, settings, subject, &roles, ttl).context("signing the token")
}

/// Parses the arguments and prints the token.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let mut subject = None;
    let mut roles = Vec::new();
    let mut ttl = DEFAULT_TTL;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sub" => subject = Some(value()?.clone()),
            "--role" => roles.push(value()?.clone()),
            "--ttl-secs" => {
                let secs: u64 = value()?.parse().context("--ttl-secs takes a number")?;
                anyhow::ensure!(secs > 0, "--ttl-secs must be at least 1");
                ttl = Duration::from_secs(secs);
            }
            other => bail!(
                "unknown argument {other}; usage: cargo xtask token --sub <id> [--role <role>]… [--ttl-secs <n>]"
            ),
        }
    }
    let subject = subject.context("--sub <user id> is required")?;
    anyhow::ensure!(!subject.trim().is_empty(), "--sub must not be empty");
    println!("{}", sign(&dev_auth()?, &subject, &roles, ttl)?);
    Ok(ExitCode::SUCCESS)
}
