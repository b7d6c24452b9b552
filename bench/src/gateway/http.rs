//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per requester,
//! through hyper's low-level client (no pool, no retries), so every request of a requester
//! goes over the same TCP connection, one at a time.

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One GraphQL `POST`, prepared once and sent many times (every part is cheap to clone).
#[derive(Debug, Clone)]
pub struct Post {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The request target, e.g. `/graphql`.
    pub path: Uri,
    /// `Host` header value.
    pub host: HeaderValue,
    /// `Authorization: Bearer <token>` value.
    pub authorization: HeaderValue,
    /// The JSON body.
    pub body: Bytes,
}

impl Post {
    /// A `POST` of `body` to `path` at `addr`, carrying `token`.
    pub fn new(addr: SocketAddr, path: &'static str, token: &str, body: Bytes) -> Result<Self> {
        Ok(Self {
            addr,
            path: Uri::from_static(path),
            host: HeaderValue::from_str(&addr.to_string()).context("a Host header")?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))
                .context("an Authorization header")?,
            body,
        })
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Connection {
    /// Sends requests over the connection; the connection closes when it is dropped.
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `addr` (with `TCP_NODELAY`) and spawns the task that drives the
    /// connection.
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP/1.1 handshake with {addr}"))?;
        tokio::spawn(async move {
            // The connection ends when its `SendRequest` is dropped; an error before then
            // also fails the next `send`, which reports it.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends `post` and returns the status and the whole body.
    pub async fn send(&mut self, post: &Post) -> Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("the connection closed")?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(post.path.clone())
            .header(HOST, post.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, post.authorization.clone())
            .body(Full::new(post.body.clone()))
            .context("building a request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("POST {} to {}", post.path, post.addr))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the body of POST {}", post.path))?
            .to_bytes();
        Ok((status, body))
    }
}
