//! The NATS Services API: every instance answers `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` (also `.<name>` and `.<name>.<id>`) with the JSON the `nats` CLI and other
//! tools expect, built from async-nats' own response types so the shape cannot drift.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::service::{Info, PingResponse, Stats, endpoint};
use futures::StreamExt;
use time::OffsetDateTime;

use super::dispatch::EndpointState;
use super::runtime::RuntimeError;

/// Prefix of the Services API subjects.
const PREFIX: &str = "$SRV";

/// What an instance says about itself.
pub(crate) struct Identity {
    pub name: &'static str,
    pub id: String,
    pub version: String,
    pub description: String,
    pub started: OffsetDateTime,
}

/// The three verbs.
#[derive(Clone, Copy)]
enum Verb {
    Ping,
    Info,
    Stats,
}

/// Subscribes to every Services API subject of this instance and answers them until the
/// returned task is aborted.
pub(crate) async fn start(
    client: async_nats::Client,
    identity: Identity,
    endpoints: Vec<Arc<EndpointState>>,
) -> Result<tokio::task::JoinHandle<()>, RuntimeError> {
    let mut streams = Vec::new();
    for (verb, word) in [
        (Verb::Ping, "PING"),
        (Verb::Info, "INFO"),
        (Verb::Stats, "STATS"),
    ] {
        for subject in [
            format!("{PREFIX}.{word}"),
            format!("{PREFIX}.{word}.{}", identity.name),
            format!("{PREFIX}.{word}.{}.{}", identity.name, identity.id),
        ] {
            let subscriber =
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| RuntimeError::Subscribe {
                        subject,
                        reason: e.to_string(),
                    })?;
            streams.push(subscriber.map(move |message| (verb, message)).boxed());
        }
    }
    let mut requests = futures::stream::select_all(streams);
    Ok(tokio::spawn(async move {
        while let Some((verb, message)) = requests.next().await {
            let Some(reply) = message.reply else { continue };
            let body = match answer(verb, &identity, &endpoints) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(%error, "could not encode a Services API reply");
                    continue;
                }
            };
            if let Err(error) = client.publish(reply, body.into()).await {
                tracing::warn!(%error, "could not answer a Services API request");
            }
        }
    }))
}

fn answer(
    verb: Verb,
    identity: &Identity,
    endpoints: &[Arc<EndpointState>],
) -> Result<Vec<u8>, serde_json::Error> {
    match verb {
        Verb::Ping => serde_json::to_vec(&PingResponse {
            kind: "io.nats.micro.v1.ping_response".into(),
            name: identity.name.into(),
            id: identity.id.clone(),
            version: identity.version.clone(),
            metadata: HashMap::new(),
        }),
        Verb::Info => serde_json::to_vec(&Info {
            kind: "io.nats.micro.v1.info_response".into(),
            name: identity.name.into(),
            id: identity.id.clone(),
            description: identity.description.clone(),
            version: identity.version.clone(),
            metadata: HashMap::new(),
            endpoints: endpoints
                .iter()
                .map(|e| endpoint::Info {
                    name: e.rpc.name.into(),
                    subject: e.rpc.subject.into(),
                    queue_group: identity.name.into(),
                    metadata: HashMap::new(),
                })
                .collect(),
        }),
        Verb::Stats => stats_with_metadata(Stats {
            kind: "io.nats.micro.v1.stats_response".into(),
            name: identity.name.into(),
            id: identity.id.clone(),
            version: identity.version.clone(),
            started: identity.started,
            endpoints: endpoints
                .iter()
                .map(|e| {
                    let stats = e.stats.snapshot();
                    let requests = usize::try_from(stats.requests).unwrap_or(usize::MAX);
                    endpoint::Stats {
                        name: e.rpc.name.into(),
                        subject: e.rpc.subject.into(),
                        queue_group: identity.name.into(),
                        requests,
                        errors: usize::try_from(stats.errors).unwrap_or(usize::MAX),
                        processing_time: stats.processing_time,
                        average_processing_time: u32::try_from(requests)
                            .ok()
                            .and_then(|n| stats.processing_time.checked_div(n))
                            .unwrap_or_default(),
                        last_error: stats.last_error,
                        data: None,
                    }
                })
                .collect(),
        }),
    }
}

/// The micro protocol's stats response carries `metadata` like the other two; async-nats'
/// `Stats` type leaves it out, so it is added here for tools that validate the schema.
fn stats_with_metadata(stats: Stats) -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(stats)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("metadata".into(), serde_json::json!({}));
    }
    serde_json::to_vec(&value)
}
