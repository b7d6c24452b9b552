//! Streaming replies, the service's side: a handler sends items through a [`ReplySink`];
//! the runtime sends the final reply when the handler returns (see `bus/stream.rs` for
//! the protocol).

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use async_nats::client::RequestErrorKind;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use prost::Message;

use super::ServiceError;
use crate::wire::{ErrorCode, names};

/// Where one streaming request's replies go.
pub(crate) struct StreamTarget {
    pub(crate) client: async_nats::Client,
    pub(crate) reply_to: Subject,
    /// The request's `Sb-Message-Id`, as every reply's `Sb-Response-To`.
    pub(crate) response_to: Option<String>,
    pub(crate) deadline: SystemTime,
    /// The `Sb-Stream-Seq` of the last message sent.
    pub(crate) sent: AtomicU64,
    /// Set once the caller is known to be gone: nothing more is sent.
    pub(crate) closed: AtomicBool,
}

impl StreamTarget {
    /// The headers of the next message, which takes the next sequence number.
    pub(crate) fn next_headers(&self) -> HeaderMap {
        let seq = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let mut headers = HeaderMap::new();
        if let Some(id) = &self.response_to {
            headers.insert(names::RESPONSE_TO, id.as_str());
        }
        headers.insert(names::STREAM_SEQ, seq.to_string());
        headers
    }
}

/// Why an item could not be sent; either way the handler should return (with `?`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamClosed {
    /// The caller stopped listening (dropped its stream, or went away).
    #[error("the caller stopped listening")]
    CallerGone,
    /// The request's deadline passed.
    #[error("the stream's deadline passed")]
    DeadlinePassed,
    /// The connection failed.
    #[error("the reply could not be sent: {0}")]
    Transport(String),
}

impl From<StreamClosed> for ServiceError {
    fn from(closed: StreamClosed) -> Self {
        match closed {
            // Nobody reads the final reply; the runtime does not send it.
            StreamClosed::CallerGone => ServiceError::new(ErrorCode::Conflict, closed.to_string()),
            StreamClosed::DeadlinePassed => {
                ServiceError::new(ErrorCode::DeadlineExceeded, closed.to_string())
            }
            StreamClosed::Transport(_) => ServiceError::internal(closed),
        }
    }
}

/// The typed sink of a streaming rpc's replies: each [`ReplySink::send`] is one reply,
/// delivered in order. Returning from the handler ends the stream (an error ends it with
/// the error).
pub struct ReplySink<T> {
    target: Arc<StreamTarget>,
    _item: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for ReplySink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplySink")
            .field("reply_to", &self.target.reply_to)
            .finish_non_exhaustive()
    }
}

impl<T: Message> ReplySink<T> {
    pub(crate) fn new(target: Arc<StreamTarget>) -> Self {
        Self {
            target,
            _item: PhantomData,
        }
    }

    /// Sends `item` and waits until the caller took it (so a slow caller slows the
    /// handler, never a queue). Fails once the caller is gone or the deadline passed.
    pub async fn send(&self, item: &T) -> Result<(), StreamClosed> {
        let target = &self.target;
        if target.closed.load(Ordering::Relaxed) {
            return Err(StreamClosed::CallerGone);
        }
        let left = target
            .deadline
            .duration_since(SystemTime::now())
            .map_err(|_| StreamClosed::DeadlinePassed)?;
        let request = async_nats::Request::new()
            .headers(target.next_headers())
            .payload(Bytes::from(item.encode_to_vec()))
            .timeout(Some(left));
        match target
            .client
            .send_request(target.reply_to.clone(), request)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                target.closed.store(true, Ordering::Relaxed);
                Err(match error.kind() {
                    RequestErrorKind::NoResponders => StreamClosed::CallerGone,
                    RequestErrorKind::TimedOut => StreamClosed::DeadlinePassed,
                    _ => StreamClosed::Transport(error.to_string()),
                })
            }
        }
    }

    /// Whether the caller is known to have stopped listening.
    pub fn is_closed(&self) -> bool {
        self.target.closed.load(Ordering::Relaxed)
    }
}
