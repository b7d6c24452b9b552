//! How a service proves who it is when it calls on its own behalf — a saga step, an event
//! handler — rather than forwarding a user's token.
//!
//! The token comes from a file (`SB_SERVICE_TOKEN_FILE`), re-read every
//! [`FILE_REFRESH`] so a mounted token that is rotated (a Kubernetes projected token, a
//! vault agent's file) is picked up without a restart. Without a file, a service that
//! verifies tokens with the shared HS256 secret (development) signs its own: subject =
//! the service name, role [`SERVICE_ROLE`], valid [`SELF_SIGNED_TTL`] and renewed at half
//! life. With neither, the service has no credentials and such calls are anonymous.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::{AuthError, AuthSettings, sign_hs256};
use crate::settings::Secret;

/// The role of a service calling on its own behalf.
pub const SERVICE_ROLE: &str = "service";

/// How often a token file is read again.
pub const FILE_REFRESH: Duration = Duration::from_secs(30);

/// How long a self-signed service token is valid.
pub const SELF_SIGNED_TTL: Duration = Duration::from_secs(600);

/// Where a service's own token comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A file holding the token (whitespace around it ignored).
    File(PathBuf),
    /// Signed here with the development HS256 secret.
    SelfSigned {
        service: String,
        secret: Secret,
        settings: AuthSettings,
    },
    /// No credentials: calls on the service's own behalf are anonymous.
    None,
}

/// A service's own bearer token, cached and renewed.
#[derive(Debug)]
pub struct ServiceCredentials {
    source: Source,
    /// The token in hand and when it must be renewed.
    cached: Mutex<Option<(Arc<str>, Instant)>>,
}

impl ServiceCredentials {
    /// The credentials of `service`: the token in `token_file` when given, else a token
    /// self-signed with `auth`'s HS256 secret when it has one, else none.
    pub fn new(service: &str, auth: &AuthSettings, token_file: Option<PathBuf>) -> Self {
        let source = match (token_file, &auth.hs256_secret) {
            (Some(path), _) => Source::File(path),
            (None, Some(secret)) => Source::SelfSigned {
                service: service.to_owned(),
                secret: secret.clone(),
                settings: auth.clone(),
            },
            (None, None) => Source::None,
        };
        Self {
            source,
            cached: Mutex::new(None),
        }
    }

    /// No credentials: every call on the service's own behalf is anonymous.
    pub fn none() -> Self {
        Self {
            source: Source::None,
            cached: Mutex::new(None),
        }
    }

    /// Whether the service has a token to call with.
    pub fn is_configured(&self) -> bool {
        !matches!(self.source, Source::None)
    }

    /// The current token, `None` without credentials. A file that cannot be read, or is
    /// empty, is an error (the previous token is not reused: it may be the revoked one).
    pub async fn token(&self) -> Result<Option<Arc<str>>, AuthError> {
        if let Source::None = self.source {
            return Ok(None);
        }
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(Some(token.clone()));
        }
        let (token, valid_for) = match &self.source {
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    AuthError::KeySet(format!(
                        "the service token file {} cannot be read: {e}",
                        path.display()
                    ))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(AuthError::KeySet(format!(
                        "the service token file {} is empty",
                        path.display()
                    )));
                }
                (Arc::<str>::from(token), FILE_REFRESH)
            }
            Source::SelfSigned {
                service,
                secret,
                settings,
            } => {
                let token =
                    sign_hs256(secret, settings, service, &[SERVICE_ROLE], SELF_SIGNED_TTL)?;
                (Arc::<str>::from(token), SELF_SIGNED_TTL / 2)
            }
            Source::None => return Ok(None),
        };
        *cached = Some((token.clone(), Instant::now() + valid_for));
        Ok(Some(token))
    }

    /// The `Authorization` value for the current token, `None` without credentials.
    pub async fn authorization(&self) -> Result<Option<Arc<str>>, AuthError> {
        Ok(self
            .token()
            .await?
            .map(|token| Arc::from(format!("Bearer {token}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, TokenVerifier, authenticate};

    #[tokio::test]
    async fn a_self_signed_token_proves_the_service_role() {
        let auth = crate::testing::hs256_auth("credentials-test-secret-0123456789");
        let credentials = ServiceCredentials::new("bookings", &auth, None);
        assert!(credentials.is_configured());
        let authorization = credentials.authorization().await.expect("signs");
        let verifier = auth
            .verifier()
            .await
            .expect("verifier")
            .expect("configured");
        let caller = authenticate(authorization.as_deref(), Some(verifier.as_ref()))
            .await
            .expect("the token verifies");
        let Caller::Authenticated(identity) = caller else {
            panic!("anonymous: {caller:?}");
        };
        assert_eq!(identity.subject, "bookings");
        assert_eq!(identity.roles, vec![SERVICE_ROLE.to_owned()]);
        // Cached: the same token until half its life has passed.
        let again = credentials.authorization().await.expect("signs");
        assert_eq!(authorization, again);
        let _: &dyn TokenVerifier = verifier.as_ref();
    }

    #[tokio::test]
    async fn a_token_file_is_read_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc.def.ghi\n").expect("writes");
        let credentials =
            ServiceCredentials::new("bookings", &AuthSettings::default(), Some(path.clone()));
        let token = credentials.token().await.expect("reads");
        assert_eq!(token.as_deref(), Some("abc.def.ghi"));

        std::fs::write(&path, "\n").expect("writes");
        let fresh = ServiceCredentials::new("bookings", &AuthSettings::default(), Some(path));
        let error = fresh.token().await.expect_err("an empty file is refused");
        assert!(error.to_string().contains("is empty"), "{error}");
    }

    #[tokio::test]
    async fn without_a_file_or_secret_there_are_no_credentials() {
        let credentials = ServiceCredentials::new("bookings", &AuthSettings::default(), None);
        assert!(!credentials.is_configured());
        assert_eq!(credentials.token().await.expect("no error"), None);
    }
}
