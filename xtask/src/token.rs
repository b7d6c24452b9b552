//! `cargo xtask token --sub <id> [--role <role>]… [--ttl-secs <n>]`: prints a development
//! token (HS256, signed with the development secret that `cargo xtask dev` gives every
//! service and the gateway, or `JWT_HS256_SECRET` when set). Never for production.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The secret `cargo xtask dev` uses when `JWT_HS256_SECRET` is not set.
pub const DEV_SECRET: &str = "switchboard-development-secret-do-not-use-in-production";
/// Lifetime of a development token unless `--ttl-secs` says otherwise.
const DEFAULT_TTL_SECS: u64 = 24 * 60 * 60;

/// The secret dev uses: `JWT_HS256_SECRET` or [`DEV_SECRET`].
pub fn dev_secret() -> String {
    std::env::var("JWT_HS256_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEV_SECRET.to_string())
}

/// Parses the arguments and prints the token.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let mut subject = None;
    let mut roles = Vec::new();
    let mut ttl = DEFAULT_TTL_SECS;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sub" => subject = Some(value()?.clone()),
            "--role" => roles.push(value()?.clone()),
            "--ttl-secs" => ttl = value()?.parse().context("--ttl-secs takes a number")?,
            other => bail!(
                "unknown argument {other}; usage: cargo xtask token --sub <id> [--role <role>]… [--ttl-secs <n>]"
            ),
        }
    }
    let subject = subject.context("--sub <user id> is required")?;
    println!("{}", sign(&dev_secret(), &subject, &roles, ttl)?);
    Ok(ExitCode::SUCCESS)
}

/// An HS256 JWT for `subject` with `roles`, valid for `ttl_secs`.
pub fn sign(secret: &str, subject: &str, roles: &[String], ttl_secs: u64) -> Result<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let header = serde_json::json!({ "alg": "HS256", "typ": "JWT" });
    let claims =
        serde_json::json!({ "sub": subject, "roles": roles, "iat": now, "exp": now + ttl_secs });
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let signing_input = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let signature = hmac_sha256(secret.as_bytes(), signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", encode(&signature)))
}

/// HMAC-SHA256 (RFC 2104), so xtask needs no JWT library.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::hmac_sha256;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
