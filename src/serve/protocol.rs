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
    Status {},
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
    /// Runs the ended tasks named again, as `r` does on the dashboard.
    Restart {
        /// Names or ids.
        tasks: Vec<String>,
    },
    /// Answers once every task in `ids` has been joined, with their rows.
    Wait {
        /// Task ids.
        ids: Vec<u64>,
    },
    /// Graceful stop of every task.
    StopAll {},
    /// Abort of every task.
    AbortAll {},
    /// A new grace period for stops requested from now on.
    Grace {
        /// Milliseconds, at most a day.
        ms: u64,
    },
    /// Starts the flight recorder (see [`crate::record`]) writing to `path`, a path of the
    /// program's machine (absolute: the program's working directory is not the client's).
    #[cfg(feature = "record")]
    RecordStart {
        /// Where.
        path: String,
        /// Keep only the newest this many bytes, in rotated segments.
        #[serde(default)]
        max_bytes: Option<u64>,
    },
    /// Ends the recording under way, with a last sample.
    #[cfg(feature = "record")]
    RecordStop {},
    /// Every lifecycle event from now on, until the client goes.
    Watch {},
    /// Become a dashboard: from now on the client sends `query` and `command` and the program
    /// answers each query with a `frame`, worked out by a board it keeps for this client.
    Attach {},
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

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Value {
        serde_json::to_value(crate::board::Query::default()).unwrap()
    }

    /// One well-formed message of every type a client may send.
    fn every_request() -> Vec<Value> {
        let command = |c: Value| json!({ "type": "command", "command": c, "query": query() });
        vec![
            json!({ "type": "hello", "version": VERSION }),
            json!({ "type": "status" }),
            json!({ "type": "list", "offset": 0, "limit": 10 }),
            json!({ "type": "stop", "tasks": ["a"] }),
            json!({ "type": "abort", "tasks": ["a"] }),
            json!({ "type": "restart", "tasks": ["a"] }),
            json!({ "type": "wait", "ids": [1] }),
            json!({ "type": "stop_all" }),
            json!({ "type": "abort_all" }),
            json!({ "type": "grace", "ms": 1000 }),
            json!({ "type": "record_start", "path": "/tmp/x.tmrec", "max_bytes": 100000000 }),
            json!({ "type": "record_stop" }),
            json!({ "type": "watch" }),
            json!({ "type": "attach" }),
            json!({ "type": "query", "query": query() }),
            command(json!({ "command": "one", "verb": "stop", "id": 1 })),
            command(json!({ "command": "marked", "verb": "abort", "ids": [1] })),
            command(json!({ "command": "shown", "verb": "restart" })),
            command(json!({ "command": "stop_all" })),
            command(json!({ "command": "abort_all" })),
            command(json!({ "command": "grace", "grace": { "secs": 1, "nanos": 0 } })),
            command(json!({ "command": "spawn", "kind": "select" })),
            command(json!({ "command": "clear_ended" })),
            command(json!({ "command": "count_shown" })),
        ]
    }

    fn parse(message: &Value) -> Result<Request, serde_json::Error> {
        serde_json::from_value(message.clone())
    }

    /// `{"type":"abort_all","dry_run":true}` aborted every task: a field the program does not
    /// know may change what the client meant, so every message with one is refused, at every
    /// level (the message, a dashboard's command, its query, the query's sort).
    #[test]
    fn every_request_with_a_field_it_does_not_know_is_refused() {
        for message in every_request() {
            assert!(parse(&message).is_ok(), "{message}");
            let mut extra = message.clone();
            extra["dry_run"] = true.into();
            assert!(parse(&extra).is_err(), "accepted {extra}");
            if message.get("command").is_some() {
                let mut nested = message.clone();
                nested["command"]["dry_run"] = true.into();
                assert!(parse(&nested).is_err(), "accepted {nested}");
            }
            if message.get("query").is_some() {
                let mut nested = message.clone();
                nested["query"]["dry_run"] = true.into();
                assert!(parse(&nested).is_err(), "accepted {nested}");
                let mut sort = message.clone();
                sort["query"]["sort"]["dry_run"] = true.into();
                assert!(parse(&sort).is_err(), "accepted {sort}");
            }
        }
    }
}
