//! The wire protocol of `taskmon ctl` and of any program that speaks to a served supervisor:
//! JSON objects, each in a frame of a 4-byte big-endian length and that many bytes, described in
//! `docs/protocol.md`. Both sides refuse a frame longer than [`MAX_FRAME`].

use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::codec::LengthDelimitedCodec;

/// The version spoken; the first `hello` of each side names it, and a mismatch is refused.
pub const VERSION: u32 = 1;

/// The longest frame either side accepts, in bytes.
pub const MAX_FRAME: usize = 1 << 20;

/// The most rows one `list` answer carries; a client pages through the rest.
pub const MAX_ROWS: usize = 500;

/// The codec of both sides: length-prefixed frames of at most [`MAX_FRAME`] bytes.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// What a client asks. Unknown fields and unknown types are refused.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Request {
    /// The first message: the version the client speaks, and the token over TCP.
    Hello {
        /// [`VERSION`] of the client.
        version: u32,
        /// Required over TCP.
        #[serde(default)]
        token: Option<String>,
    },
    /// The program, its counts per state and its grace period.
    Status,
    /// Rows `offset..offset + limit` (at most [`MAX_ROWS`]) in id order.
    List {
        /// Rows to skip.
        #[serde(default)]
        offset: usize,
        /// Rows wanted.
        #[serde(default = "max_rows")]
        limit: usize,
    },
    /// Graceful stop of the tasks named (a name, an id, or the base name of `count` copies).
    Stop {
        /// Names or ids.
        tasks: Vec<String>,
    },
    /// Abort of the tasks named.
    Abort {
        /// Names or ids.
        tasks: Vec<String>,
    },
    /// Answers once every task in `ids` has been joined, with their rows.
    Wait {
        /// Task ids.
        ids: Vec<u64>,
    },
    /// Graceful stop of every task.
    StopAll,
    /// Abort of every task.
    AbortAll,
    /// A new grace period for stops requested from now on.
    Grace {
        /// Milliseconds, at most a day.
        ms: u64,
    },
    /// Every lifecycle event from now on, until the client goes.
    Watch,
    /// Become a dashboard: from now on the client sends `query` and `command` and the program
    /// answers each query with a `frame`, worked out by a board it keeps for this client.
    Attach,
    /// What an attached dashboard shows; answered with a `frame` (at most 10 a second).
    Query {
        /// The rows, the window, the selection, the log.
        query: crate::board::Query,
    },
    /// What an attached dashboard asks of the tasks; the answer comes in the next frame.
    Command {
        /// The request.
        command: crate::board::Command,
        /// The query in force, for requests about the tasks shown.
        query: crate::board::Query,
    },
}

fn max_rows() -> usize {
    MAX_ROWS
}

/// An answer that refuses: the connection may be closed after it.
pub fn error(message: impl std::fmt::Display) -> Value {
    json!({ "type": "error", "message": message.to_string() })
}
