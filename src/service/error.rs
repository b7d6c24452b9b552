//! The error a handler returns: a wire code, a message safe for the caller, and (for
//! internal failures) a source that is logged once and never sent.

use std::fmt;

use crate::bus::BusError;
use crate::proto::switchboard::v1::{Status, StatusDetail};
use crate::store::StoreError;
use crate::wire::ErrorCode;

/// A failed request, as the handler reports it.
#[derive(Debug)]
pub struct ServiceError {
    code: ErrorCode,
    message: String,
    details: Vec<StatusDetail>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ServiceError {
    /// An error with `code` and a message the caller may see.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            source: None,
        }
    }

    /// The request is malformed or invalid (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// One field of the request is invalid (400, with a detail naming the field).
    pub fn invalid_field(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self::bad_request(format!("{field}: {description}")).with_detail(field, description)
    }

    /// The caller is not authenticated (401).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// The caller may not do this (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The request conflicts with the current state (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// The service failed (500). The caller sees only "internal error"; `source` is logged.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }

    /// Adds a per-field detail.
    pub fn with_detail(mut self, field: &str, description: impl Into<String>) -> Self {
        self.details.push(StatusDetail {
            field: field.to_string(),
            description: description.into(),
        });
        self
    }

    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message the caller sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `switchboard.v1.Status` body of the error reply.
    pub(crate) fn to_status(&self) -> Status {
        Status {
            code: u32::from(self.code.as_u16()),
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_u16(), self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::VersionConflict { .. } => {
                Self::conflict("the record changed concurrently; try again")
            }
            StoreError::WriteConflict(_) => Self {
                source: Some(Box::new(error)),
                ..Self::conflict("the record changed concurrently; try again")
            },
            // Nothing was written, so the caller may try again: the 503 of an overloaded
            // service, which callers and sagas treat as "certainly not done".
            StoreError::Unavailable(_) => Self {
                source: Some(Box::new(error)),
                ..Self::new(
                    ErrorCode::Overloaded,
                    "the service's database is unavailable; try again later",
                )
            },
            other => Self::internal(other),
        }
    }
}

impl From<BusError> for ServiceError {
    /// A failed downstream call: its code travels up with a message of our own, because the
    /// downstream subject and the other service's wording are internals; the call's error
    /// is kept as the source, logged once where the request is answered.
    fn from(error: BusError) -> Self {
        let code = error.code();
        let message = match code {
            ErrorCode::BadRequest => "a request this depends on was refused as invalid",
            ErrorCode::Unauthorized => "the caller's credentials were refused downstream",
            ErrorCode::Forbidden => "the caller may not do part of this",
            ErrorCode::NotFound => "something this depends on does not exist",
            ErrorCode::Conflict => "something this depends on changed concurrently; try again",
            ErrorCode::Internal => "internal error",
            ErrorCode::Overloaded => "a service this depends on is unavailable; try again later",
            ErrorCode::DeadlineExceeded => "a service this depends on did not answer in time",
        };
        Self {
            source: Some(Box::new(error)),
            ..Self::new(code, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_downstream_failure_keeps_its_code_but_not_its_subject_or_wording() {
        let downstream = BusError::Service {
            subject: "payments.v1.charge",
            code: 409,
            message: "card 4242 declined by acquirer-7".into(),
            details: Vec::new(),
        };

        let error = ServiceError::from(downstream);

        assert_eq!(error.code(), ErrorCode::Conflict);
        let sent = format!("{:?}", error.to_status());
        assert!(!sent.contains("payments"), "{sent}");
        assert!(!sent.contains("acquirer"), "{sent}");
        let logged = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(
            logged.as_deref(),
            Some("payments.v1.charge: error 409: card 4242 declined by acquirer-7"),
            "the cause is kept for the log"
        );
    }

    #[test]
    fn a_dead_downstream_service_is_reported_without_its_subject() {
        let error = ServiceError::from(BusError::NoResponders {
            subject: "payments.v1.charge",
        });

        assert_eq!(error.code(), ErrorCode::Overloaded);
        assert!(!error.message().contains("payments"), "{}", error.message());
    }
}
