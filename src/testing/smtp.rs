//! A small but real SMTP receiver (RFC 5321) for tests: a Tokio listener on
//! `127.0.0.1:0` that speaks enough of the protocol for lettre's client — the `220`
//! greeting, `EHLO`/`HELO`, `MAIL FROM`, `RCPT TO`, `DATA` (`354`, dot-stuffed lines up to
//! `.`), `RSET`, `NOOP`, `QUIT` — without TLS or `AUTH`, so the service reaches it with the
//! unencrypted `smtp://127.0.0.1:PORT` form of `SMTP_URL`.
//!
//! It records each accepted message's envelope and raw data, lets a test await a number
//! of messages with a timeout, and can refuse: a recipient for good (`550` at `RCPT`) or
//! the next messages for now (`451` after their data).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The longest command or data line accepted (RFC 5321 allows 1000 with CRLF for text).
const MAX_LINE: usize = 4096;
/// The largest message accepted.
const MAX_MESSAGE: usize = 1 << 20;

/// One message the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `MAIL FROM` address.
    pub mail_from: String,
    /// The accepted `RCPT TO` addresses.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines ending in CRLF.
    pub data: String,
}

impl Received {
    /// The first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((field, value)) = line.split_once(':')
                && field.trim().eq_ignore_ascii_case(name)
            {
                found = Some(value.trim().to_owned());
            }
        }
        found
    }

    /// The text after the headers, with LF line ends.
    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.replace("\r\n", "\n"))
            .unwrap_or_default()
    }
}

/// What the receiver shares between its connections and the test.
#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Recipients refused for good at `RCPT TO`.
    refused: Mutex<HashSet<String>>,
    /// How many of the next messages to refuse for now after their data.
    defer: Mutex<usize>,
    /// How many messages were refused with `451`.
    deferred: Mutex<usize>,
}

impl Shared {
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running receiver; it stops when dropped.
pub struct SmtpReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<usize>,
    accept: JoinHandle<()>,
}

impl SmtpReceiver {
    /// Listens on a free port of `127.0.0.1`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a free port");
        let addr = listener.local_addr().expect("a local address");
        let shared = Arc::new(Shared::default());
        let (count_tx, count) = watch::channel(0);
        let count_tx = Arc::new(count_tx);
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    let count_tx = count_tx.clone();
                    tokio::spawn(async move {
                        // A client that goes away mid-session only ends its session.
                        let _ = session(stream, &shared, &count_tx).await;
                    });
                }
            }
        });
        Self {
            addr,
            shared,
            count,
            accept,
        }
    }

    /// `SMTP_URL` for this receiver: plain SMTP, no TLS (lettre's `smtp://` without
    /// `?tls=`).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        Shared::lock(&self.shared.received).clone()
    }

    /// How many messages were refused for now (`451`).
    pub fn deferred(&self) -> usize {
        *Shared::lock(&self.shared.deferred)
    }

    /// Waits until at least `count` messages were accepted, for at most `limit`; all of
    /// them.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let mut watching = self.count.clone();
        tokio::time::timeout(limit, watching.wait_for(|n| *n >= count))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{count} messages within {limit:?}; got {:?}",
                    self.received()
                )
            })
            .expect("the receiver runs");
        self.received()
    }

    /// Refuses `address` for good (`550 5.1.1`) from now on.
    pub fn refuse_recipient(&self, address: &str) {
        Shared::lock(&self.shared.refused).insert(address.to_ascii_lowercase());
    }

    /// Refuses the next `count` messages for now (`451 4.3.0` after their data).
    pub fn defer_next(&self, count: usize) {
        *Shared::lock(&self.shared.defer) = count;
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The address inside `<…>` of a `MAIL FROM:` or `RCPT TO:` argument, parameters
/// dropped.
fn path(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

/// One SMTP session, until `QUIT` or the client closes.
async fn session(
    stream: TcpStream,
    shared: &Shared,
    count: &watch::Sender<usize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 localhost ESMTP switchboard-test\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if (&mut lines)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?
            == 0
        {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let (verb, argument) = command
            .split_once(' ')
            .map_or((command, ""), |(verb, rest)| (verb, rest.trim()));
        let upper = verb.to_ascii_uppercase();
        let reply: &[u8] = match upper.as_str() {
            "EHLO" => b"250-localhost greets you\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" => match argument
                .to_ascii_uppercase()
                .starts_with("FROM:")
                .then(|| path(argument))
                .flatten()
            {
                Some(sender) => {
                    from = Some(sender);
                    to.clear();
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => {
                let recipient = argument
                    .to_ascii_uppercase()
                    .starts_with("TO:")
                    .then(|| path(argument))
                    .flatten();
                match (&from, recipient) {
                    (None, _) => b"503 5.5.1 MAIL first\r\n",
                    (_, None) => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
                    (Some(_), Some(recipient))
                        if Shared::lock(&shared.refused)
                            .contains(&recipient.to_ascii_lowercase()) =>
                    {
                        b"550 5.1.1 no such mailbox here\r\n"
                    }
                    (Some(_), Some(recipient)) => {
                        to.push(recipient);
                        b"250 2.1.5 OK\r\n"
                    }
                }
            }
            "DATA" if from.is_none() || to.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut lines).await?;
                let envelope = (from.take(), std::mem::take(&mut to));
                let defer = {
                    let mut defer = Shared::lock(&shared.defer);
                    let now = *defer > 0;
                    *defer = defer.saturating_sub(1);
                    now
                };
                match (data, envelope) {
                    (None, _) => b"552 5.3.4 message too big\r\n",
                    (Some(_), _) if defer => {
                        *Shared::lock(&shared.deferred) += 1;
                        b"451 4.3.0 try again later\r\n"
                    }
                    (Some(data), (Some(mail_from), rcpt_to)) => {
                        let total = {
                            let mut received = Shared::lock(&shared.received);
                            received.push(Received {
                                mail_from,
                                rcpt_to,
                                data,
                            });
                            received.len()
                        };
                        count.send_replace(total);
                        b"250 2.0.0 OK queued\r\n"
                    }
                    (Some(_), (None, _)) => b"503 5.5.1 MAIL first\r\n",
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The data after `354`, up to the line holding only `.`, dot-unstuffed; `None` when it
/// is larger than [`MAX_MESSAGE`] (read to its end all the same).
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + content.len() > MAX_MESSAGE {
            too_big = true;
        } else {
            data.extend_from_slice(content);
        }
    }
    // The CRLF before the `.` line belongs to the end-of-data sequence (RFC 5321 4.1.1.4).
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    Ok((!too_big).then(|| String::from_utf8_lossy(&data).into_owned()))
}
