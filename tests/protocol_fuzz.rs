//! The serve protocol under attack, against the real `taskmon run --serve`: for a bounded time
//! (`TASKMON_FUZZ_SECS`, 8 s by default; the seed is printed and `TASKMON_FUZZ_SEED` replays one),
//! clients send every message type with fields the program does not know, hostile values (huge
//! numbers, huge strings, deep nesting, escapes), garbage frames and lying length prefixes, and go
//! away at every step: mid-frame, after attaching, while watching without reading. Afterwards every
//! task is in the state it was, ticking on, the program's memory stayed bounded, and it still
//! shuts down cleanly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

/// The protocol's frame limit and version, as docs/protocol.md gives them.
const MAX_FRAME: usize = 1 << 20;
const VERSION: u64 = 1;

const SCENARIO: &str = r#"
[[task]]
name = "w"
kind = "select"
count = 20
interval = "10ms"
journal = false
[[task]]
name = "writer"
kind = "polling"
interval = "10ms"
"#;

type Connection = Framed<UnixStream, LengthDelimitedCodec>;

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

async fn connect(socket: &Path) -> Option<Connection> {
    let stream = UnixStream::connect(socket).await.ok()?;
    Some(Framed::new(stream, codec()))
}

async fn send(connection: &mut Connection, message: &Value) -> bool {
    connection
        .send(Bytes::from(message.to_string()))
        .await
        .is_ok()
}

/// The next message, if one comes within `secs`; `Err` when none came in time.
async fn next(connection: &mut Connection, secs: u64) -> Result<Option<Value>, ()> {
    match tokio::time::timeout(Duration::from_secs(secs), connection.next()).await {
        Err(_) => Err(()),
        Ok(Some(Ok(frame))) => Ok(serde_json::from_slice(&frame).ok()),
        Ok(_) => Ok(None),
    }
}

/// A connection past its hello, or `None` when the program turned it away (too many waiting).
async fn greeted(socket: &Path) -> Option<Connection> {
    let mut connection = connect(socket).await?;
    if !send(
        &mut connection,
        &json!({ "type": "hello", "version": VERSION }),
    )
    .await
    {
        return None;
    }
    match next(&mut connection, 10).await {
        Ok(Some(answer)) if answer["type"] == "hello" => Some(connection),
        _ => None,
    }
}

/// An attached dashboard's query, as the program expects it.
fn query(rng: &mut fastrand::Rng) -> Value {
    let mut query = serde_json::to_value(taskmon::board::Query::default()).unwrap();
    query["tree"] = rng.bool().into();
    query["height"] = rng.usize(0..100).into();
    query
}

/// Every message type a client may send, naming tasks that do not exist: as sent, none of them
/// may touch the tasks, and each is then given a field the program does not know.
fn every_request(rng: &mut fastrand::Rng) -> Vec<Value> {
    let q = query(rng);
    let command = |c: Value| json!({ "type": "command", "command": c, "query": q.clone() });
    vec![
        json!({ "type": "hello", "version": VERSION }),
        json!({ "type": "status" }),
        json!({ "type": "list", "offset": 0, "limit": 10 }),
        json!({ "type": "stop", "tasks": ["nobody"] }),
        json!({ "type": "abort", "tasks": ["nobody"] }),
        json!({ "type": "wait", "ids": [999_999] }),
        json!({ "type": "stop_all" }),
        json!({ "type": "abort_all" }),
        json!({ "type": "grace", "ms": 3000 }),
        json!({ "type": "watch" }),
        json!({ "type": "attach" }),
        json!({ "type": "query", "query": q.clone() }),
        command(json!({ "command": "one", "verb": "stop", "id": 999_999 })),
        command(json!({ "command": "marked", "verb": "abort", "ids": [999_999] })),
        command(json!({ "command": "shown", "verb": "restart" })),
        command(json!({ "command": "stop_all" })),
        command(json!({ "command": "abort_all" })),
        command(json!({ "command": "grace", "grace": { "secs": 3, "nanos": 0 } })),
        command(json!({ "command": "spawn", "kind": "select" })),
        command(json!({ "command": "clear_ended" })),
        command(json!({ "command": "count_shown" })),
    ]
}

/// Whether `message`, as it is, may act on every task (so only its refused forms are sent).
fn acts_on_every_task(message: &Value) -> bool {
    let kind = message["type"].as_str().unwrap_or("");
    let command = message["command"]["command"].as_str().unwrap_or("");
    matches!(kind, "stop_all" | "abort_all")
        || matches!(command, "stop_all" | "abort_all" | "shown" | "spawn")
}

/// Values that break the careless: limits, types, sizes, escapes, depth.
fn hostile(rng: &mut fastrand::Rng) -> Value {
    let deep = |depth: usize| {
        let text = "[".repeat(depth) + &"]".repeat(depth);
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
    };
    match rng.usize(0..16) {
        0 => json!(u64::MAX),
        1 => json!(-1),
        2 => json!(1e308),
        3 => json!(0.5),
        4 => json!(""),
        5 => json!("x".repeat(rng.usize(1_000..900_000))),
        6 => json!("\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}\u{200b}"),
        7 => Value::Null,
        8 => json!(true),
        9 => json!({}),
        10 => json!([]),
        11 => deep(100),
        12 => json!(vec!["nobody"; rng.usize(1..100_000)]),
        13 => json!(vec![u64::MAX; rng.usize(1..50_000)]),
        14 => json!({ "secs": u64::MAX, "nanos": u32::MAX }),
        _ => json!("nobody ".repeat(rng.usize(1..100_000))),
    }
}

/// The paths of every field in `message` (objects only), for a mutation to pick one.
fn fields(message: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = message {
        for (key, value) in map {
            let mut path = at.clone();
            path.push(key.clone());
            out.push(path.clone());
            fields(value, path, out);
        }
    }
}

fn at_path<'a>(message: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(message, |v, key| &mut v[key.as_str()])
}

/// What one fuzzing step sends, and what it must get back.
enum Step {
    /// Must be refused with an error, and the connection closed.
    Refused { before: Vec<Value>, message: Value },
    /// Anything may come back, or an error, but within a bound and without touching the tasks.
    Answered { before: Vec<Value>, message: Value },
    /// Bytes that are not a message of the protocol.
    Garbage(Vec<u8>),
    /// A client that goes away, or stays without reading.
    Abandoned(u8),
}

/// What must be said before `message` may be sent: attach comes before query and command.
fn preamble(message: &Value) -> Vec<Value> {
    match message["type"].as_str() {
        Some("query" | "command") => vec![json!({ "type": "attach" })],
        _ => vec![],
    }
}

fn step(rng: &mut fastrand::Rng) -> Step {
    let requests = every_request(rng);
    let base = requests[rng.usize(0..requests.len())].clone();
    let before = preamble(&base);
    match rng.usize(0..10) {
        // A field the program does not know, at any level of any message.
        0..=3 => {
            let mut paths = vec![vec![]];
            fields(&base, vec![], &mut paths);
            let objects: Vec<Vec<String>> = paths
                .into_iter()
                .filter(|p| {
                    let mut probe = base.clone();
                    at_path(&mut probe, p).is_object()
                })
                .collect();
            let mut message = base.clone();
            let target = at_path(&mut message, &objects[rng.usize(0..objects.len())]);
            let name = ["dry_run", "force", "all", "type2", "\u{1b}[2J"][rng.usize(0..5)];
            target[name] = hostile(rng);
            Step::Refused { before, message }
        }
        // A hostile value in place of a field's, where the message as sent cannot act on every
        // task; a hostile `type` included.
        4..=6 if !acts_on_every_task(&base) => {
            let mut paths = Vec::new();
            fields(&base, vec![], &mut paths);
            let mut message = base.clone();
            let path = &paths[rng.usize(0..paths.len())];
            *at_path(&mut message, path) = hostile(rng);
            Step::Answered { before, message }
        }
        4..=6 => Step::Refused {
            before,
            message: json!({ "type": base["type"], "dry_run": true }),
        },
        7 => {
            let garbage = match rng.usize(0..5) {
                0 => (0..rng.usize(0..2000)).map(|_| rng.u8(..)).collect(),
                1 => b"{\"type\":\"stop_all\"".to_vec(),
                2 => b"[1,2,3]".to_vec(),
                3 => Vec::new(),
                _ => {
                    let mut text = base.to_string().into_bytes();
                    text.truncate(rng.usize(0..text.len()));
                    text
                }
            };
            Step::Garbage(garbage)
        }
        _ => Step::Abandoned(rng.u8(0..6)),
    }
}

/// Plays one step on fresh connections; connections meant to stay (watchers that never read)
/// are pushed to `kept`.
async fn play(socket: &Path, step: Step, kept: &mut Vec<Connection>) {
    match step {
        Step::Refused { message, .. } | Step::Answered { message, .. }
            if message["type"] == "hello" =>
        {
            // A hello is the first message: sent on a connection that has said nothing.
            let Some(mut connection) = connect(socket).await else {
                return;
            };
            if send(&mut connection, &message).await {
                let _ = next(&mut connection, 10).await;
            }
        }
        Step::Refused { before, message } => {
            let Some(mut connection) = ready_for(socket, &before, &message).await else {
                return;
            };
            let answer = next(&mut connection, 10)
                .await
                .unwrap_or_else(|()| panic!("no answer to {}", shown(&message)));
            if let Some(answer) = answer {
                assert_eq!(
                    answer["type"],
                    "error",
                    "refused: {} got {answer}",
                    shown(&message)
                );
                let closed = next(&mut connection, 10).await;
                assert!(
                    matches!(closed, Ok(None)),
                    "closed after refusing {}",
                    shown(&message)
                );
            }
        }
        Step::Answered { before, message } => {
            let Some(mut connection) = ready_for(socket, &before, &message).await else {
                return;
            };
            // A dashboard's command is answered in the frame of its next query.
            if message["type"] == "command" {
                let mut rng = fastrand::Rng::new();
                let q = json!({ "type": "query", "query": query(&mut rng) });
                if !send(&mut connection, &q).await {
                    return;
                }
            }
            next(&mut connection, 10)
                .await
                .unwrap_or_else(|()| panic!("no answer to {}", shown(&message)));
        }
        Step::Garbage(bytes) => {
            let Some(mut connection) = greeted(socket).await else {
                return;
            };
            if connection.send(Bytes::from(bytes)).await.is_ok() {
                next(&mut connection, 10)
                    .await
                    .unwrap_or_else(|()| panic!("no answer to garbage"));
            }
        }
        Step::Abandoned(how) => match how {
            // Connects and goes.
            0 => drop(connect(socket).await),
            // A length prefix that lies, then half a frame, then gone.
            1 => {
                if let Ok(mut stream) = UnixStream::connect(socket).await {
                    let _ = stream.write_all(&1000u32.to_be_bytes()).await;
                    let _ = stream.write_all(b"{\"type\":").await;
                }
            }
            // A length prefix past the limit.
            2 => {
                if let Ok(mut stream) = UnixStream::connect(socket).await {
                    let _ = stream.write_all(&u32::MAX.to_be_bytes()).await;
                }
            }
            // Attaches, asks for frames as fast as it can, reads none, goes.
            3 => {
                if let Some(mut connection) = greeted(socket).await {
                    send(&mut connection, &json!({ "type": "attach" })).await;
                    for _ in 0..50 {
                        let mut rng = fastrand::Rng::new();
                        let q = json!({ "type": "query", "query": query(&mut rng) });
                        if !send(&mut connection, &q).await {
                            break;
                        }
                    }
                }
            }
            // Watches and never reads, for the rest of the run (a few of them).
            4 if kept.len() < 8 => {
                if let Some(mut connection) = greeted(socket).await {
                    send(&mut connection, &json!({ "type": "watch" })).await;
                    kept.push(connection);
                }
            }
            // Waits for a task that does not end, then goes.
            _ => {
                if let Some(mut connection) = greeted(socket).await {
                    send(&mut connection, &json!({ "type": "wait", "ids": [1] })).await;
                }
            }
        },
    }
}

/// A connection past its hello and `before`, on which `message` has been sent; `None` when the
/// program turned it away or closed it first.
async fn ready_for(socket: &Path, before: &[Value], message: &Value) -> Option<Connection> {
    let mut connection = greeted(socket).await?;
    for m in before {
        send(&mut connection, m).await;
        let _ = next(&mut connection, 10).await;
    }
    send(&mut connection, message).await.then_some(connection)
}

/// A message for an assertion's text: huge values cut.
fn shown(message: &Value) -> String {
    let text = message.to_string();
    if text.len() > 300 {
        format!("{}… ({} bytes)", &text[..300], text.len())
    } else {
        text
    }
}

/// Every task's id, state and ticks, listed over a connection of its own.
async fn tasks(socket: &Path) -> Vec<(u64, String, u64)> {
    let mut connection = greeted(socket).await.expect("the owner gets in");
    send(&mut connection, &json!({ "type": "list" })).await;
    let answer = next(&mut connection, 10).await.unwrap().unwrap();
    assert_eq!(answer["type"], "rows", "{answer}");
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
                r["ticks"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Resident and peak resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Program {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> Program {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let socket = dir.path().join("t.sock");
    let child = Command::new(TASKMON)
        .args(["run", "--json", "--for", "1h", "--scenario"])
        .arg(&scenario)
        .arg("--serve")
        .arg(format!("unix:{}", socket.display()))
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "never served");
        std::thread::sleep(Duration::from_millis(20));
    }
    Program {
        child,
        socket,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_change_no_task_and_leave_the_program_bounded() {
    let secs: u64 = std::env::var("TASKMON_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("TASKMON_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("protocol fuzz: seed {seed} (TASKMON_FUZZ_SEED={seed} replays it), {secs} s");

    let mut program = start();
    let socket = program.socket.clone();
    // Let every task start ticking before taking the picture.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = tasks(&socket).await;
    assert_eq!(before.len(), 21);
    assert!(before.iter().all(|(_, state, _)| state == "running"));
    let (rss_before, _) = memory_kib(program.child.id());

    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let socket = socket.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(worker));
                let mut kept = Vec::new();
                let mut steps = 0u64;
                while Instant::now() < deadline {
                    play(&socket, step(&mut rng), &mut kept).await;
                    steps += 1;
                }
                (steps, kept)
            })
        })
        .collect();
    let mut steps = 0;
    let mut kept = Vec::new();
    for worker in workers {
        let (n, connections) = worker.await.expect("a fuzzing worker failed");
        steps += n;
        kept.extend(connections);
    }
    println!("protocol fuzz: {steps} steps");
    assert!(steps > 100, "the fuzzer got somewhere: {steps} steps");

    let after = tasks(&socket).await;
    assert_eq!(after.len(), before.len(), "no task added or removed");
    for ((id, state, ticks), (id_before, _, ticks_before)) in after.iter().zip(&before) {
        assert_eq!(id, id_before);
        assert_eq!(state, "running", "#{id} is still running");
        assert!(
            ticks > ticks_before,
            "#{id} ticked on: {ticks_before} → {ticks}"
        );
    }
    let (rss_after, peak) = memory_kib(program.child.id());
    println!(
        "protocol fuzz: resident {rss_before} KiB before, {rss_after} KiB after, peak {peak} KiB"
    );
    // Huge messages are read a frame (1 MiB) at a time by at most 64 clients; what stays after
    // them is small.
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory held after the fuzzing: {rss_before} KiB → {rss_after} KiB"
    );
    assert!(peak < 512 * 1024, "peak memory {peak} KiB");
    drop(kept);

    // The program still ends as asked, every task stopped and joined.
    let pid = program.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = program.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
