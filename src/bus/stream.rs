//! Streaming replies, the caller's side: one request, several replies on the caller's own
//! inbox, in order.
//!
//! The service sends each item as a request to the caller's inbox carrying `Sb-Stream-Seq`
//! (1, 2, …) and waits for the caller's empty acknowledgement, which the stream sends when
//! it hands the item on: a caller that reads slowly slows the service down, and a caller
//! that is gone (its stream dropped, its subscription removed) makes the service's next
//! send fail at once with "no responders", so the handler stops. The final message carries
//! `Sb-Stream-End: true` and no item; an error reply (the usual error headers) ends the
//! stream too.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_nats::StatusCode;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use prost::Message;

use super::{Bus, BusError, CallOptions, reply_body, with_traceparent};
use crate::telemetry::spans;
use crate::wire::{Rpc, names};

/// The items of a streaming reply, ending on the final reply, on an error (returned as the
/// last item), or at the call's deadline or idle timeout (a `Timeout` item). Dropping it
/// unsubscribes, which tells the service to stop.
pub struct ReplyStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, BusError>> + Send>>,
}

impl<T> std::fmt::Debug for ReplyStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyStream").finish_non_exhaustive()
    }
}

impl<T> Stream for ReplyStream<T> {
    type Item = Result<T, BusError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Where a stream being read stands.
struct Reading {
    subscriber: async_nats::Subscriber,
    client: async_nats::Client,
    subject: &'static str,
    deadline: SystemTime,
    idle: Option<Duration>,
    /// The `Sb-Stream-Seq` the next message must carry.
    next: u64,
    /// Set once the stream ended (its last item was returned).
    ended: bool,
}

impl Reading {
    /// The next item, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<Result<Bytes, BusError>> {
        if self.ended {
            return None;
        }
        let result = self.receive().await;
        match &result {
            Some(Ok(_)) => {}
            _ => self.ended = true,
        }
        result
    }

    async fn receive(&mut self) -> Option<Result<Bytes, BusError>> {
        let subject = self.subject;
        let left = self
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let wait = self.idle.map_or(left, |idle| idle.min(left));
        let message = match tokio::time::timeout(wait, self.subscriber.next()).await {
            Err(_) => {
                return Some(Err(BusError::Timeout {
                    subject,
                    waited: wait,
                }));
            }
            Ok(None) => {
                return Some(Err(BusError::Transport {
                    subject,
                    reason: "the stream's subscription ended".into(),
                }));
            }
            Ok(Some(message)) => message,
        };
        if message.status == Some(StatusCode::NO_RESPONDERS) {
            return Some(Err(BusError::NoResponders { subject }));
        }
        let header = |name| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let seq = header(names::STREAM_SEQ).and_then(|s| s.trim().parse::<u64>().ok());
        let end = header(names::STREAM_END).is_some_and(|v| v == "true");
        // An error reply ends the stream whatever its place.
        if header(names::SERVICE_ERROR_CODE).is_some() {
            return Some(match reply_body(subject, message) {
                Err(error) => Err(error),
                Ok(_) => Err(BusError::Transport {
                    subject,
                    reason: "an unreadable error reply".into(),
                }),
            });
        }
        if seq != Some(self.next) {
            return Some(Err(BusError::Transport {
                subject,
                reason: format!(
                    "streamed reply {seq:?} arrived where {} was due (a reply was lost)",
                    self.next
                ),
            }));
        }
        self.next += 1;
        if end {
            return None;
        }
        if let Some(reply) = message.reply
            && let Err(error) = self.client.publish(reply, Bytes::new()).await
        {
            return Some(Err(BusError::Transport {
                subject,
                reason: error.to_string(),
            }));
        }
        Some(Ok(message.payload))
    }
}

impl Bus {
    /// Sends `request` to the streaming rpc `rpc` and returns its replies as a stream of
    /// decoded items, once the service answered (its first item, or the end). A first
    /// reply that is an error (refused, no responders, overloaded), an open circuit or a
    /// failure to subscribe fail the call; an error later arrives as the stream's last
    /// item.
    pub async fn stream<Req, Item>(
        &self,
        rpc: &Rpc,
        request: &Req,
        options: CallOptions,
    ) -> Result<ReplyStream<Item>, BusError>
    where
        Req: Message,
        Item: Message + Default + Send + 'static,
    {
        let subject = rpc.subject;
        let bytes = self
            .stream_bytes(rpc, Bytes::from(request.encode_to_vec()), options)
            .await?;
        Ok(ReplyStream {
            inner: Box::pin(bytes.map(move |item| {
                item.and_then(|bytes| {
                    Item::decode(bytes).map_err(|e| BusError::Decode {
                        subject,
                        reason: e.to_string(),
                    })
                })
            })),
        })
    }

    /// [`Self::stream`] with the request already encoded and the items left encoded (the
    /// gateway's way).
    pub async fn stream_bytes(
        &self,
        rpc: &Rpc,
        payload: Bytes,
        options: CallOptions,
    ) -> Result<ReplyStream<Bytes>, BusError> {
        let subject = rpc.subject;
        let deadline = self.deadline(&options);
        let client = self.shared.client.clone();
        let transport = |error: &dyn std::fmt::Display| BusError::Transport {
            subject,
            reason: error.to_string(),
        };
        let permit = self.shared.breakers.admit(subject)?;
        let span = spans::rpc_client(subject, 1);
        let headers = with_traceparent(self.headers(&options, deadline), &span);
        let inbox = client.new_inbox();
        let subscriber = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| transport(&e))?;
        client
            .publish_with_reply_and_headers(subject, inbox, headers, payload)
            .await
            .map_err(|e| transport(&e))?;
        let mut reading = Reading {
            subscriber,
            client,
            subject,
            deadline,
            idle: options.idle_timeout,
            next: 1,
            ended: false,
        };
        // The first reply says whether anyone serves the rpc: it counts for the breaker.
        let first = {
            use tracing::Instrument as _;
            reading.next().instrument(span.clone()).await
        };
        let opened: Result<Bytes, BusError> = match &first {
            Some(Err(error)) => Err(error.clone()),
            _ => Ok(Bytes::new()),
        };
        permit.record(&opened);
        if let Err(error) = opened {
            spans::failed(&span, error.error_type());
            return Err(error);
        }
        let rest = futures::stream::unfold(reading, |mut reading| async move {
            reading.next().await.map(|item| (item, reading))
        });
        Ok(ReplyStream {
            inner: Box::pin(futures::stream::iter(first).chain(rest)),
        })
    }
}
