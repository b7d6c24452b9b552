//! Whether every subject the schema sends to is served, asked of the NATS Services API
//! (`$SRV.INFO`): at start-up (logging precisely what is missing) and for `/readyz`.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

/// How long to keep collecting `$SRV.INFO` answers after the last one.
const QUIET: Duration = Duration::from_millis(150);
/// Upper bound on one check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The subjects the schema needs.
pub struct Readiness {
    required: BTreeSet<&'static str>,
}

/// What a check found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Connected and nothing missing.
    pub ready: bool,
    /// Whether the NATS connection is up.
    pub nats_connected: bool,
    /// Subjects no running service serves.
    pub missing: Vec<String>,
}

impl Readiness {
    /// A check for `required`.
    pub fn new(required: BTreeSet<&'static str>) -> Self {
        Self { required }
    }

    /// Asks every running service for its endpoints and compares.
    pub async fn check(&self, client: &async_nats::Client) -> Report {
        let nats_connected = client.connection_state() == async_nats::connection::State::Connected;
        let served = if nats_connected {
            served_subjects(client).await
        } else {
            BTreeSet::new()
        };
        let missing: Vec<String> = self
            .required
            .iter()
            .filter(|subject| !served.contains(**subject))
            .map(|s| s.to_string())
            .collect();
        Report {
            ready: nats_connected && missing.is_empty(),
            nats_connected,
            missing,
        }
    }
}

/// Every endpoint subject some instance reports in `$SRV.INFO`.
async fn served_subjects(client: &async_nats::Client) -> BTreeSet<String> {
    let mut served = BTreeSet::new();
    let inbox = client.new_inbox();
    let Ok(mut replies) = client.subscribe(inbox.clone()).await else {
        return served;
    };
    if client
        .publish_with_reply("$SRV.INFO", inbox, Default::default())
        .await
        .is_err()
    {
        return served;
    }
    let deadline = tokio::time::Instant::now() + CHECK_TIMEOUT;
    while let Ok(Some(message)) = tokio::time::timeout(
        QUIET.min(deadline - tokio::time::Instant::now()),
        replies.next(),
    )
    .await
    {
        if let Ok(info) = serde_json::from_slice::<serde_json::Value>(&message.payload)
            && let Some(endpoints) = info["endpoints"].as_array()
        {
            served.extend(
                endpoints
                    .iter()
                    .filter_map(|e| e["subject"].as_str().map(str::to_string)),
            );
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    served
}
