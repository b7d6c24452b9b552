//! `cargo xtask tap [subject filter]`: a live, read-only view of the bus. Every request,
//! reply, error and event on the subjects the filter matches (default: all) is printed as
//! one JSON line on stdout: kind, subject, message id, sender, response-to, trace id,
//! status code, latency from request to reply, and the protobuf payload decoded by the
//! descriptor set of the subject's rpc or event — which no other NATS tool can do.
//!
//! An xtask command rather than a binary of its own: it is a development tool, it needs
//! only the compiled descriptor set (`switchboard::proto::DESCRIPTOR_SET`) and NATS, and
//! `cargo xtask` is where developers already run the stack. It connects with the same
//! `NATS_*` settings as every binary; without `NATS_URL` it joins the server of a running
//! `cargo xtask dev` (its URL is in `.dev/nats/url`).
//!
//! JetStream's own traffic (`$JS.…`), the Services API (`$SRV.…`) and acknowledgements are
//! left out. A reply is matched to its request by `Sb-Response-To`; replies to requests
//! sent before the tap started, or more than `PENDING_LIMIT` requests ago, print without
//! a decoded payload.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use async_nats::{HeaderMap, Message};
use futures::StreamExt as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::{Value, json};
use switchboard::bus::BusSettings;
use switchboard::settings::Env;
use switchboard::{naming, wire};

/// Requests remembered for matching their replies.
const PENDING_LIMIT: usize = 10_000;

/// Runs the tap with `args` (at most one: the subject filter) until interrupted.
pub fn run(repo_root: &Path, args: &[String]) -> Result<ExitCode> {
    let filter = match args {
        [] => ">".to_owned(),
        [filter] if !filter.starts_with('-') => filter.clone(),
        _ => bail!("usage: cargo xtask tap [subject filter]"),
    };
    let env = Env::from_process();
    let mut settings = BusSettings::from_env(&env).context("the NATS_* variables")?;
    if env.string("NATS_URL").is_none() {
        let file = repo_root.join(".dev").join("nats").join("url");
        if let Ok(url) = std::fs::read_to_string(&file) {
            settings.nats.urls = vec![url.trim().to_owned()];
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    runtime.block_on(tap(&settings, &filter))?;
    Ok(ExitCode::SUCCESS)
}

async fn tap(settings: &BusSettings, filter: &str) -> Result<()> {
    let catalog = Catalog::new(switchboard::proto::DESCRIPTOR_SET)?;
    let bus = switchboard::Bus::connect(settings, "tap")
        .await
        .with_context(|| format!("connecting to NATS at {}", settings.nats.urls.join(",")))?;
    let client = bus.nats().clone();
    let mut messages = client
        .subscribe(filter.to_owned())
        .await
        .with_context(|| format!("subscribing to {filter}"))?;
    confirm(&client).await?;
    eprintln!(
        "tap: listening on {filter} at {}",
        settings.nats.urls.join(",")
    );
    let mut pending = Pending::default();
    while let Some(message) = messages.next().await {
        if let Some(line) = catalog.describe(&message, &mut pending) {
            println!("{line}");
        }
    }
    Ok(())
}

/// Returns once the server has registered the subscriptions made before: it handles one
/// connection's commands in order, so a message on a fresh subject sent after them comes
/// back only once they are in place.
async fn confirm(client: &async_nats::Client) -> Result<()> {
    let probe = client.new_inbox();
    let mut echo = client.subscribe(probe.clone()).await?;
    client.publish(probe, "".into()).await?;
    tokio::time::timeout(std::time::Duration::from_secs(10), echo.next())
        .await
        .context("the server did not confirm the subscription")?;
    Ok(())
}

/// What the tap knows of every rpc and event.
struct Catalog {
    pool: DescriptorPool,
    /// Rpc subject → (request type, reply type).
    rpcs: HashMap<String, (MessageDescriptor, MessageDescriptor)>,
}

/// Requests seen, by message id, for their replies: subject, reply type, when.
#[derive(Default)]
struct Pending {
    by_id: HashMap<String, (String, MessageDescriptor, Instant)>,
    order: VecDeque<String>,
}

impl Pending {
    fn insert(&mut self, id: String, subject: String, reply: MessageDescriptor) {
        if self.order.len() >= PENDING_LIMIT
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, (subject, reply, Instant::now()));
    }
}

impl Catalog {
    fn new(descriptor_set: &[u8]) -> Result<Self> {
        let pool = DescriptorPool::decode(descriptor_set).context("the descriptor set")?;
        let mut rpcs = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                let subject = naming::rpc_subject(service.package_name(), method.name());
                rpcs.insert(subject, (method.input(), method.output()));
            }
        }
        Ok(Self { pool, rpcs })
    }

    /// The line for `message`, or `None` for traffic the tap leaves out.
    fn describe(&self, message: &Message, pending: &mut Pending) -> Option<String> {
        let subject = message.subject.as_str();
        if subject.starts_with("$JS.") || subject.starts_with("$SRV.") {
            return None;
        }
        let empty = HeaderMap::new();
        let headers = message.headers.as_ref().unwrap_or(&empty);
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let mut line = json!({
            "subject": subject,
            "message_id": header(wire::MESSAGE_ID),
            "sender": header(wire::SENDER),
            "trace_id": header(wire::TRACEPARENT)
                .and_then(|t| t.split('-').nth(1).map(str::to_owned)),
        });
        let (kind, payload) = if let Some(request_id) = header(wire::RESPONSE_TO) {
            line["response_to"] = json!(request_id);
            let request = pending.by_id.remove(&request_id);
            if let Some((request_subject, _, at)) = &request {
                line["request_subject"] = json!(request_subject);
                line["latency_ms"] = json!(at.elapsed().as_secs_f64() * 1000.0);
            }
            match header(wire::SERVICE_ERROR_CODE) {
                Some(code) => {
                    line["status"] = json!(code.parse::<u16>().ok());
                    line["error"] = json!(header(wire::SERVICE_ERROR));
                    (
                        "error",
                        self.message("switchboard.v1.Status", &message.payload),
                    )
                }
                None => (
                    "reply",
                    request.map(|(_, reply, _)| decode(&reply, &message.payload)),
                ),
            }
        } else if let Some(event_type) = header(wire::EVENT_TYPE) {
            line["event_type"] = json!(event_type);
            let kind = if naming::is_dead_letter(subject) {
                line["dead_letter_reason"] = json!(header(wire::DLQ_REASON));
                "dead_letter"
            } else {
                "event"
            };
            (kind, self.message(&event_type, &message.payload))
        } else if let Some((request, reply)) = self.rpcs.get(subject) {
            if let Some(id) = header(wire::MESSAGE_ID) {
                pending.insert(id, subject.to_owned(), reply.clone());
            }
            ("request", Some(decode(request, &message.payload)))
        } else {
            // Neither ours nor a reply to ours: an acknowledgement, a raw client's message.
            return None;
        };
        line["kind"] = json!(kind);
        if let Some(payload) = payload {
            line["payload"] = payload;
        }
        Some(line.to_string())
    }

    /// `payload` decoded as the message called `name`, when the pool has it.
    fn message(&self, name: &str, payload: &[u8]) -> Option<Value> {
        let descriptor = self.pool.get_message_by_name(name)?;
        Some(decode(&descriptor, payload))
    }
}

/// `payload` as `descriptor` in protobuf's JSON mapping, or the reason it does not decode.
fn decode(descriptor: &MessageDescriptor, payload: &[u8]) -> Value {
    match DynamicMessage::decode(descriptor.clone(), payload) {
        Ok(message) => serde_json::to_value(&message)
            .unwrap_or_else(|error| json!({ "undecodable": error.to_string() })),
        Err(error) => json!({ "undecodable": error.to_string() }),
    }
}
