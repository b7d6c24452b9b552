//! The JetStream streams a service owns: `<SERVICE>_EVENTS` for the events it announces and
//! `<SERVICE>_DLQ` for the events its consumers gave up on. Both are created or updated at
//! every start, so a change of the settings reaches a running system with the next deploy.

use async_nats::jetstream::{self, stream};

use crate::naming;
use crate::service::settings::StreamSettings;

/// Why a stream could not be created or updated.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot create or update the JetStream stream {stream} (is JetStream enabled on the server?): {reason}"
)]
pub struct StreamError {
    /// The stream.
    pub stream: String,
    /// What the server or client reported.
    pub reason: String,
}

/// Creates or updates `service`'s event stream, holding `events.<service>.>`.
pub(crate) async fn ensure_events(
    js: &jetstream::Context,
    service: &str,
    settings: &StreamSettings,
) -> Result<(), StreamError> {
    let name = naming::event_stream(service);
    ensure(js, name, naming::event_subjects(service), settings).await
}

/// Creates or updates `service`'s dead-letter stream, holding `dlq.<service>.>`.
pub(crate) async fn ensure_dead_letters(
    js: &jetstream::Context,
    service: &str,
    settings: &StreamSettings,
) -> Result<(), StreamError> {
    let name = naming::dead_letter_stream(service);
    ensure(js, name, naming::dead_letter_subjects(service), settings).await
}

async fn ensure(
    js: &jetstream::Context,
    name: String,
    subjects: String,
    settings: &StreamSettings,
) -> Result<(), StreamError> {
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![subjects],
        retention: if settings.interest_retention {
            stream::RetentionPolicy::Interest
        } else {
            stream::RetentionPolicy::Limits
        },
        max_age: settings.max_age,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.create_or_update_stream(config)
        .await
        .map(drop)
        .map_err(|error| StreamError {
            stream: name,
            reason: error.to_string(),
        })
}
