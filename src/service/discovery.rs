//! The NATS Services API: every instance answers `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` (also `.<name>` and `.<name>.<id>`) with the JSON the `nats` CLI and other
//! tools expect.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

#[derive(Serialize)]
struct Ping<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: HashMap<String, String>,
}

#[derive(Serialize)]
struct Info<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    description: &'a str,
    metadata: HashMap<String, String>,
    endpoints: Vec<EndpointInfo<'a>>,
}

#[derive(Serialize)]
struct EndpointInfo<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    metadata: HashMap<String, String>,
}

#[derive(Serialize)]
struct Stats<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    started: String,
    metadata: HashMap<String, String>,
    endpoints: Vec<EndpointStats<'a>>,
}

#[derive(Serialize)]
struct EndpointStats<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    num_requests: u64,
    num_errors: u64,
    /// Nanoseconds.
    processing_time: u128,
    /// Nanoseconds.
    average_processing_time: u128,
    last_error: String,
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
        Verb::Ping => serde_json::to_vec(&Ping {
            kind: "io.nats.micro.v1.ping_response",
            name: identity.name,
            id: &identity.id,
            version: &identity.version,
            metadata: HashMap::new(),
        }),
        Verb::Info => serde_json::to_vec(&Info {
            kind: "io.nats.micro.v1.info_response",
            name: identity.name,
            id: &identity.id,
            version: &identity.version,
            description: &identity.description,
            metadata: HashMap::new(),
            endpoints: endpoints
                .iter()
                .map(|e| EndpointInfo {
                    name: e.rpc.name,
                    subject: e.rpc.subject,
                    queue_group: identity.name,
                    metadata: HashMap::new(),
                })
                .collect(),
        }),
        Verb::Stats => {
            let endpoints = endpoints
                .iter()
                .map(|e| {
                    let stats = e.stats.snapshot();
                    let total = stats.processing_time.as_nanos();
                    EndpointStats {
                        name: e.rpc.name,
                        subject: e.rpc.subject,
                        queue_group: identity.name,
                        num_requests: stats.requests,
                        num_errors: stats.errors,
                        processing_time: total,
                        average_processing_time: total
                            .checked_div(u128::from(stats.requests))
                            .unwrap_or(0),
                        last_error: stats.last_error.unwrap_or_default(),
                    }
                })
                .collect();
            serde_json::to_vec(&Stats {
                kind: "io.nats.micro.v1.stats_response",
                name: identity.name,
                id: &identity.id,
                version: &identity.version,
                started: identity.started.format(&Rfc3339).unwrap_or_default(),
                metadata: HashMap::new(),
                endpoints,
            })
        }
    }
}
