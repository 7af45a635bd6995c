//! The other end: connects to a served supervisor, says hello, asks and reads answers. What
//! `taskmon ctl` uses; any Rust program may too.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::protocol::{self, VERSION};

/// How long connecting and the hello may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whom to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket.
    Unix(PathBuf),
    /// `HOST:PORT`.
    Tcp(String),
}

impl Target {
    /// `tcp:HOST:PORT`, a process id (its default socket), `unix:PATH` or a socket path.
    pub fn parse(s: &str) -> Target {
        if let Some(addr) = s.strip_prefix("tcp:") {
            Target::Tcp(addr.to_string())
        } else if let Some(path) = s.strip_prefix("unix:") {
            Target::Unix(path.into())
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Target::Unix(super::runtime_dir().join(format!("{s}.sock")))
        } else {
            Target::Unix(s.into())
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(path) => {
                write!(f, "unix:{}", crate::text::escape(&path.to_string_lossy()))
            }
            Target::Tcp(addr) => write!(f, "tcp:{}", crate::text::escape(addr)),
        }
    }
}

/// What went wrong talking to a program.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody answered at the target.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The target, as given.
        target: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The program refused the request, or the connection.
    #[error("the program said: {message}")]
    Refused {
        /// Its message, escaped.
        message: String,
        /// `unknown_task` or `bad_request` when the request was at fault.
        code: Option<String>,
    },
    /// The other end is not to be trusted: a socket in a directory others control, a
    /// program of another user.
    #[error("{0}")]
    Untrusted(String),
    /// The connection ended or failed.
    #[error("the connection was lost: {0}")]
    Lost(String),
    /// What was asked cannot be done (every task named has ended, say).
    #[error("{0}")]
    Usage(String),
    /// The program sent something that is not the protocol.
    #[error("the program answered something taskmon cannot read: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether the request itself was at fault (an unknown task, a bad request).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ClientError::Refused { code: Some(_), .. } | ClientError::Usage(_)
        )
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection that has said hello.
pub struct Client {
    framed: Framed<Box<dyn Stream>, LengthDelimitedCodec>,
    /// The program's hello: `program`, `pid`, `tasks`.
    pub hello: Value,
}

impl Client {
    /// Connects and says hello, with `token` over TCP.
    pub async fn connect(target: &Target, token: Option<&str>) -> Result<Client, ClientError> {
        let connect_error = |source| ClientError::Connect {
            target: target.to_string(),
            source,
        };
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 5s");
        let stream: Box<dyn Stream> = match target {
            Target::Unix(path) => {
                // In taskmon's own directory, a socket is trusted only if the directory is as
                // the server makes it: anyone may have made `$TMPDIR/taskmon-UID` first.
                if let Some(dir) = path.parent()
                    && dir == super::runtime_dir()
                    && !super::is_private(dir).unwrap_or(false)
                {
                    return Err(ClientError::Untrusted(format!(
                        "{} is not this user's private directory (it must belong to you and be closed to others); taskmon does not connect through it",
                        crate::text::escape(&dir.to_string_lossy())
                    )));
                }
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                        .await
                        .map_err(|_| connect_error(timed_out()))?
                        .map_err(connect_error)?;
                // Nothing is sent to a program of another user.
                let peer = stream.peer_cred().map_err(connect_error)?.uid();
                if peer != super::euid() {
                    return Err(ClientError::Untrusted(format!(
                        "the program at {target} runs as another user (uid {peer}); taskmon talks only to your own programs"
                    )));
                }
                Box::new(stream)
            }
            Target::Tcp(addr) => Box::new(
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| connect_error(timed_out()))?
                    .map_err(connect_error)?,
            ),
        };
        let mut client = Client {
            framed: Framed::new(stream, protocol::codec()),
            hello: Value::Null,
        };
        // A token proves who we are over TCP only: a Unix socket's peer is checked by its
        // user, and the token is not handed to a socket that has no use for it.
        let hello = match target {
            Target::Tcp(_) => json!({ "type": "hello", "version": VERSION, "token": token }),
            Target::Unix(_) => json!({ "type": "hello", "version": VERSION }),
        };
        client.hello = tokio::time::timeout(CONNECT_TIMEOUT, client.request(hello))
            .await
            .map_err(|_| connect_error(timed_out()))??;
        Ok(client)
    }

    /// Sends `request` and reads the answer; an `error` answer is [`ClientError::Refused`].
    pub async fn request(&mut self, request: Value) -> Result<Value, ClientError> {
        if let Err(failed) = self.send(&request).await {
            // The program may have refused and closed before reading: its reason is still there.
            return match self.next().await {
                Err(refused @ ClientError::Refused { .. }) => Err(refused),
                _ => Err(failed),
            };
        }
        self.next()
            .await?
            .ok_or_else(|| ClientError::Lost("the program closed the connection".into()))
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &Value) -> Result<(), ClientError> {
        let bytes =
            serde_json::to_vec(message).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.framed
            .send(tokio_util::bytes::Bytes::from(bytes))
            .await
            .map_err(|e: std::io::Error| ClientError::Lost(e.to_string()))
    }

    /// The next message, `None` once the program closed the connection.
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        let Some(frame) = self.framed.next().await else {
            return Ok(None);
        };
        let bytes = frame.map_err(|e| ClientError::Lost(e.to_string()))?;
        let message: Value =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if message["type"] == "error" {
            return Err(ClientError::Refused {
                message: crate::text::escape(message["message"].as_str().unwrap_or(""))
                    .into_owned(),
                code: message["code"].as_str().map(str::to_string),
            });
        }
        Ok(Some(message))
    }
}
