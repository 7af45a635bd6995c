//! A served supervisor over real sockets, in-process: what a client that is not `taskmon ctl`
//! may send — nothing, garbage, too much, the wrong version or token — is refused with a message
//! and closed, while the tasks tick on.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use taskmon::serve::client::{Client, Target};
use taskmon::serve::protocol::{self, MAX_FRAME};
use taskmon::serve::{Endpoint, ServeOptions};
use taskmon::{Supervisor, TaskDef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Framed;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A supervisor with one ticking task, served on a socket in a fresh directory.
fn served(options: ServeOptions) -> (Supervisor, taskmon::serve::Server, tempfile::TempDir) {
    let sup = Supervisor::builder().build().unwrap();
    sup.spawn(
        TaskDef::new("ticker", |mut ctx| async move {
            while !ctx.is_cancelled() {
                ctx.tick();
                tokio::time::sleep(ms(5)).await;
            }
        })
        .journal(taskmon::JournalConfig {
            enabled: false,
            ..Default::default()
        }),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = sup
        .serve_with(Endpoint::Unix(dir.path().join("t.sock")), options)
        .unwrap();
    (sup, server, dir)
}

fn target(dir: &tempfile::TempDir) -> Target {
    Target::Unix(dir.path().join("t.sock"))
}

/// Raw frames on a fresh connection.
async fn raw(
    dir: &tempfile::TempDir,
) -> Framed<tokio::net::UnixStream, tokio_util::codec::LengthDelimitedCodec> {
    let stream = tokio::net::UnixStream::connect(dir.path().join("t.sock"))
        .await
        .unwrap();
    Framed::new(stream, protocol::codec())
}

async fn send(
    framed: &mut Framed<tokio::net::UnixStream, tokio_util::codec::LengthDelimitedCodec>,
    v: Value,
) {
    framed
        .send(tokio_util::bytes::Bytes::from(v.to_string()))
        .await
        .unwrap();
}

/// The next message, and then whether the connection was closed after it.
async fn answer_then_closed(
    framed: &mut Framed<tokio::net::UnixStream, tokio_util::codec::LengthDelimitedCodec>,
) -> (Value, bool) {
    let frame = tokio::time::timeout(Duration::from_secs(10), framed.next())
        .await
        .expect("an answer")
        .expect("a frame")
        .expect("readable");
    let message: Value = serde_json::from_slice(&frame).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), framed.next())
        .await
        .expect("closed, not left open");
    (message, next.is_none())
}

async fn ticks(sup: &Supervisor) -> u64 {
    sup.task(1).unwrap().ticks()
}

/// The ticker moved on since `before`.
async fn still_ticking(sup: &Supervisor, before: u64) {
    eventually(1, "the task stopped ticking", || {
        sup.task(1).unwrap().ticks() > before
    })
    .await;
}

/// Within `secs`, `done` comes true.
async fn eventually(secs: u64, what: &str, done: impl Fn() -> bool) {
    for _ in 0..secs * 100 {
        if done() {
            return;
        }
        tokio::time::sleep(ms(10)).await;
    }
    panic!("{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_lists_stops_and_watches() {
    let (_sup, server, dir) = served(ServeOptions::default());
    assert_eq!(
        server.address(),
        format!("unix:{}", dir.path().join("t.sock").display())
    );
    let mut client = Client::connect(&target(&dir), None).await.unwrap();
    assert_eq!(client.hello["tasks"], 1);
    assert_eq!(client.hello["pid"], std::process::id());

    let rows = client.request(json!({ "type": "list" })).await.unwrap();
    assert_eq!(rows["total"], 1);
    assert_eq!(rows["rows"][0]["task"], "ticker");
    assert_eq!(rows["rows"][0]["state"], "running");

    let mut watcher = Client::connect(&target(&dir), None).await.unwrap();
    assert_eq!(
        watcher.request(json!({ "type": "watch" })).await.unwrap()["type"],
        "watching"
    );

    let accepted = client
        .request(json!({ "type": "stop", "tasks": ["ticker"] }))
        .await
        .unwrap();
    assert_eq!(accepted["ids"], json!([1]));
    let joined = client
        .request(json!({ "type": "wait", "ids": [1] }))
        .await
        .unwrap();
    assert_eq!(joined["rows"][0]["state"], "stopped");

    let mut seen = Vec::new();
    while !seen.contains(&"joined".to_string()) {
        let event = watcher.next().await.unwrap().unwrap();
        assert_eq!(event["type"], "event");
        seen.push(event["event"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.first().map(String::as_str), Some("stop_requested"));

    let unknown = client
        .request(json!({ "type": "abort", "tasks": ["nobody\u{1b}[2J"] }))
        .await
        .unwrap_err();
    assert!(unknown.is_usage(), "{unknown}");
    assert!(
        unknown
            .to_string()
            .contains("no task named nobody\\u{1b}[2J"),
        "{unknown}"
    );
    server.close().await;
    assert!(!dir.path().join("t.sock").exists(), "the socket is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_too_much_unknown_and_out_of_turn_are_refused_and_closed() {
    let (sup, _server, dir) = served(ServeOptions::default());
    let before = ticks(&sup).await;

    let mut framed = raw(&dir).await;
    framed
        .send(tokio_util::bytes::Bytes::from_static(b"{not json"))
        .await
        .unwrap();
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert_eq!(refusal["type"], "error");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("malformed message"),
        "{refusal}"
    );
    assert!(closed);

    // A length prefix beyond the limit: refused before the body is read.
    let mut stream = tokio::net::UnixStream::connect(dir.path().join("t.sock"))
        .await
        .unwrap();
    stream
        .write_all(&((MAX_FRAME as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    let mut framed = Framed::new(stream, protocol::codec());
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("longer than 1048576 bytes"),
        "{refusal}"
    );
    assert!(closed);

    let mut framed = raw(&dir).await;
    send(&mut framed, json!({ "type": "hello", "version": 1 })).await;
    framed.next().await.unwrap().unwrap();
    send(&mut framed, json!({ "type": "launch_missiles" })).await;
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `launch_missiles`"),
        "{refusal}"
    );
    assert!(closed);

    let mut framed = raw(&dir).await;
    send(&mut framed, json!({ "type": "list" })).await;
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("first message must be a hello")
    );
    assert!(closed);

    let mut framed = raw(&dir).await;
    send(&mut framed, json!({ "type": "hello", "version": 99 })).await;
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert_eq!(
        refusal["message"],
        "protocol version 99 is not spoken here; this program speaks version 1"
    );
    assert!(closed);

    still_ticking(&sup, before).await;
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let (sup, _server, dir) = served(ServeOptions {
        idle_timeout: ms(200),
        ..ServeOptions::default()
    });
    let before = ticks(&sup).await;
    let mut framed = raw(&dir).await;
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert_eq!(refusal["message"], "no hello within 200ms; closing");
    assert!(closed);
    still_ticking(&sup, before).await;
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_at_once_and_one_past_the_cap_is_turned_away() {
    let (sup, _server, dir) = served(ServeOptions {
        max_clients: 17,
        ..ServeOptions::default()
    });
    let mut clients = Vec::new();
    for _ in 0..17 {
        clients.push(Client::connect(&target(&dir), None).await.unwrap());
    }
    for client in &mut clients {
        let rows = client.request(json!({ "type": "list" })).await.unwrap();
        assert_eq!(rows["rows"][0]["task"], "ticker");
    }
    let turned_away = Client::connect(&target(&dir), None).await.err().unwrap();
    assert!(
        turned_away.to_string().contains("too many clients (17)"),
        "{turned_away}"
    );
    drop(clients.pop());
    // The slot is free again once the server has seen the client go.
    let mut again = None;
    for _ in 0..100 {
        if let Ok(client) = Client::connect(&target(&dir), None).await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    assert!(again.is_some(), "a freed slot is taken again");
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_without_the_token_nothing_is_said_about_the_tasks() {
    let sup = Supervisor::builder().build().unwrap();
    sup.spawn_fn("secret-task", |ctx| async move { ctx.cancelled().await })
        .unwrap();
    let server = sup
        .serve_with(
            "tcp:127.0.0.1:0".parse().unwrap(),
            ServeOptions {
                token: Some("open-sesame-0123".into()),
                ..ServeOptions::default()
            },
        )
        .unwrap();
    let addr = server.address().strip_prefix("tcp:").unwrap().to_string();

    for token in [None, Some("open-sesame-012"), Some("open-sesame-0123!")] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let hello = json!({ "type": "hello", "version": 1, "token": token }).to_string();
        stream
            .write_all(&(hello.len() as u32).to_be_bytes())
            .await
            .unwrap();
        stream.write_all(hello.as_bytes()).await.unwrap();
        let mut everything = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut everything))
            .await
            .expect("closed")
            .unwrap();
        let text = String::from_utf8_lossy(&everything);
        assert!(text.contains("wrong or missing token"), "{text}");
        assert!(
            !text.contains("secret-task") && !text.contains("\"tasks\""),
            "{text}"
        );
    }

    let target = Target::Tcp(addr);
    let mut client = Client::connect(&target, Some("open-sesame-0123"))
        .await
        .unwrap();
    let rows = client.request(json!({ "type": "list" })).await.unwrap();
    assert_eq!(rows["rows"][0]["task"], "secret-task");

    let remote = sup.serve("tcp:0.0.0.0:0".parse().unwrap()).err().unwrap();
    assert!(
        remote.to_string().contains("not a loopback address"),
        "{remote}"
    );
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_stops_reading_is_told_what_it_missed_and_slows_nothing() {
    let (sup, _server, dir) = served(ServeOptions {
        queue: 4,
        ..ServeOptions::default()
    });
    let mut watcher = Client::connect(&target(&dir), None).await.unwrap();
    watcher.request(json!({ "type": "watch" })).await.unwrap();
    // Many events while the watcher reads nothing: far more than its queue holds.
    let before = ticks(&sup).await;
    for i in 0..2000 {
        sup.spawn_fn(format!("brief-{i}"), |_ctx| async {}).unwrap();
    }
    still_ticking(&sup, before).await;
    while sup.live_tasks() > 1 {
        tokio::time::sleep(ms(10)).await;
    }
    let mut missed = 0;
    let mut events = 0;
    while let Ok(Some(message)) = tokio::time::timeout(ms(500), watcher.next())
        .await
        .map(|m| m.unwrap())
    {
        match message["type"].as_str() {
            Some("missed") => missed += message["count"].as_u64().unwrap(),
            Some("event") => events += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(missed > 0, "the overflow was counted");
    assert!(events > 0);
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_dashboard_gets_its_window_not_every_task() {
    let (sup, _server, dir) = served(ServeOptions::default());
    for i in 0..20_000 {
        let idle = TaskDef::new(
            format!("idle-{i}"),
            |ctx| async move { ctx.cancelled().await },
        );
        sup.spawn(idle.journal(taskmon::JournalConfig {
            enabled: false,
            ..Default::default()
        }))
        .unwrap();
    }
    let mut client = Client::connect(&target(&dir), None).await.unwrap();
    assert_eq!(
        client.request(json!({ "type": "attach" })).await.unwrap()["type"],
        "attached"
    );
    let query = json!({
        "filter": "idle-19", "sort": { "column": "Name", "descending": true }, "tree": false,
        "folded": [], "selected": 0, "selected_id": null, "moved": false, "offset": 0,
        "height": 30, "log_height": 10, "log_scroll": 0, "follow": null,
    });
    client
        .send(&json!({ "type": "query", "query": query }))
        .await
        .unwrap();
    let answer = client.next().await.unwrap().unwrap();
    let frame = &answer["frame"];
    assert_eq!(frame["total"], 20_001);
    assert_eq!(frame["shown"], 1_111, "idle-19 and idle-19xx, idle-19xxx");
    let rows = frame["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 30, "only the window crosses");
    assert_eq!(rows[0]["task"]["name"], "idle-19999");
    let size = answer.to_string().len();
    assert!(size < 64 * 1024, "a frame of {size} bytes");

    // A command answers in the next frame.
    let stop = json!({ "type": "command", "command": { "command": "one", "verb": "stop", "id": 1 }, "query": query });
    client.send(&stop).await.unwrap();
    client
        .send(&json!({ "type": "query", "query": query }))
        .await
        .unwrap();
    let answer = client.next().await.unwrap().unwrap();
    assert_eq!(
        answer["frame"]["notices"][0]["text"],
        "stop requested for #1 ticker"
    );
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_client_asking_the_absurd_gets_frames_and_the_tasks_tick_on() {
    let (sup, _server, dir) = served(ServeOptions::default());
    let before = ticks(&sup).await;
    let mut client = Client::connect(&target(&dir), None).await.unwrap();
    client.request(json!({ "type": "attach" })).await.unwrap();
    let query = json!({
        "filter": "\u{1b}]0;x\u{7}", "sort": { "column": "Lost", "descending": false }, "tree": true,
        "folded": [0, 18446744073709551615u64], "selected": 18446744073709551615u64,
        "selected_id": 0, "moved": true, "offset": 18446744073709551615u64,
        "height": 18446744073709551615u64, "log_height": 18446744073709551615u64,
        "log_scroll": 18446744073709551615u64, "follow": 0,
    });
    for command in [
        json!({ "command": "one", "verb": "abort", "id": 0 }),
        json!({ "command": "marked", "verb": "restart", "ids": [0, 99, 18446744073709551615u64] }),
        json!({ "command": "grace", "grace": { "secs": 18446744073709551615u64, "nanos": 0 } }),
        json!({ "command": "spawn", "kind": "rm -rf /" }),
    ] {
        client
            .send(&json!({ "type": "command", "command": command, "query": query }))
            .await
            .unwrap();
    }
    client
        .send(&json!({ "type": "query", "query": query }))
        .await
        .unwrap();
    let answer = client.next().await.unwrap().unwrap();
    let notices: Vec<&str> = answer["frame"]["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(notices.len(), 4, "{notices:?}");
    assert!(notices[0].starts_with("cannot abort"), "{notices:?}");
    assert_eq!(
        notices[1],
        "restart requested for 0 of the 3 marked task(s)"
    );
    assert_eq!(notices[2], "grace period 24h for stops from now on");
    assert_eq!(
        notices[3],
        "cannot spawn: this program offers no kind `rm -rf /`"
    );
    assert_eq!(sup.grace(), Duration::from_secs(24 * 60 * 60));
    still_ticking(&sup, before).await;
    sup.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_built_to_serve_serves_until_it_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("built.sock");
    let sup = Supervisor::builder()
        .serve(Endpoint::Unix(socket.clone()))
        .build()
        .unwrap();
    assert_eq!(sup.served_at(), Some(format!("unix:{}", socket.display())));
    sup.spawn_fn("worker", |ctx| async move { ctx.cancelled().await })
        .unwrap();
    let mut client = Client::connect(&Target::Unix(socket.clone()), None)
        .await
        .unwrap();
    let rows = client.request(json!({ "type": "list" })).await.unwrap();
    assert_eq!(rows["rows"][0]["task"], "worker");
    drop(client);

    sup.shutdown(ms(100)).await;
    drop(sup);
    // Serving held no strong handle: the supervisor went, and its socket with it.
    assert!(
        !socket.exists(),
        "the socket is removed with the supervisor"
    );

    let taken = Supervisor::builder()
        .serve(Endpoint::Unix(dir.path().join("no/such/dir/x.sock")))
        .build()
        .err()
        .unwrap();
    assert!(taken.to_string().starts_with("cannot serve on "), "{taken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_attaching_late_sees_what_happened_before() {
    let (sup, _server, dir) = served(ServeOptions::default());
    sup.stop(1).unwrap();
    sup.joined(1).await.unwrap();
    let mut client = Client::connect(&target(&dir), None).await.unwrap();
    client.request(json!({ "type": "attach" })).await.unwrap();
    let query = json!({
        "filter": "", "sort": { "column": "Id", "descending": false }, "tree": false,
        "folded": [], "selected": 0, "selected_id": null, "moved": false, "offset": 0,
        "height": 10, "log_height": 10, "log_scroll": 0, "follow": null,
    });
    client
        .send(&json!({ "type": "query", "query": query }))
        .await
        .unwrap();
    let answer = client.next().await.unwrap().unwrap();
    let logged: Vec<&str> = answer["frame"]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(logged.first(), Some(&"StopRequested"), "{logged:?}");
    assert_eq!(logged.last(), Some(&"Joined"), "{logged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_going_away_leaves_another_programs_socket_at_its_path() {
    let sup = Supervisor::builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sock");
    let first = sup.serve(Endpoint::Unix(path.clone())).unwrap();
    // The first program's socket file is gone (it is on its way out) and a second one serves
    // at the same path before the first has finished.
    std::fs::remove_file(&path).unwrap();
    let second = sup.serve(Endpoint::Unix(path.clone())).unwrap();
    drop(first);
    assert!(path.exists(), "the second program's socket stays");
    Client::connect(&Target::Unix(path.clone()), None)
        .await
        .expect("and answers");
    drop(second);
    assert!(!path.exists());
}

/// Answers never pass the frame limit: rows of long escaped panic messages come a frame at a
/// time, for `list` and for `wait`, and every one arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_number_of_long_rows_are_listed_and_waited_for_a_frame_at_a_time() {
    taskmon::silence_task_panics(true);
    let (sup, _server, dir) = served(ServeOptions::default());
    let tasks = 600;
    for i in 1..=tasks {
        sup.spawn(
            TaskDef::new(format!("loud-{i}"), |ctx| async move {
                ctx.cancelled().await;
                // Escaped, each control character takes several bytes: about 7 KB a row.
                panic!("{}", "\u{1b}".repeat(2000));
            })
            .journal(taskmon::JournalConfig::OFF),
        )
        .unwrap();
    }
    let mut client = Client::connect(&target(&dir), None).await.unwrap();
    let ids: Vec<u64> = (2..=tasks + 1).collect();
    let accepted = client
        .request(json!({ "type": "stop", "tasks": ["loud"] }))
        .await
        .unwrap();
    assert_eq!(accepted["ids"].as_array().unwrap().len(), tasks as usize);
    let mut rows = Vec::new();
    let mut answers = 0;
    while rows.len() < ids.len() {
        let answer = client
            .request(json!({ "type": "wait", "ids": &ids[rows.len()..] }))
            .await
            .unwrap();
        answers += 1;
        let page = answer["rows"].as_array().unwrap().clone();
        assert!(!page.is_empty());
        rows.extend(page);
    }
    assert!(answers > 1, "600 rows of 7 KB cannot come in one frame");
    assert!(rows.iter().all(|r| r["state"] == "panicked"));
    let mut listed = 0;
    let mut pages = 0;
    loop {
        let answer = client
            .request(json!({ "type": "list", "offset": listed, "limit": 500 }))
            .await
            .unwrap();
        let page = answer["rows"].as_array().unwrap().len();
        pages += 1;
        listed += page;
        if page == 0 || listed >= answer["total"].as_u64().unwrap() as usize {
            break;
        }
    }
    assert_eq!(listed, tasks as usize + 1);
    assert!(pages > 2, "{pages} pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_goes_is_forgotten_at_once() {
    let (sup, _server, dir) = served(ServeOptions::default());
    let before = sup.subscribers();
    for _ in 0..20 {
        let mut client = Client::connect(&target(&dir), None).await.unwrap();
        let watching = client.request(json!({ "type": "watch" })).await.unwrap();
        assert_eq!(watching["type"], "watching");
        drop(client);
    }
    // The ticker sends no events: nothing but the client's going can remove them.
    eventually(5, "the watchers stayed subscribed", || {
        sup.subscribers() == before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_without_frames_pile_nothing_up_and_a_huge_filter_is_refused() {
    let (sup, _server, dir) = served(ServeOptions::default());
    let mut framed = raw(&dir).await;
    send(
        &mut framed,
        json!({ "type": "hello", "version": protocol::VERSION }),
    )
    .await;
    framed.next().await.unwrap().unwrap();
    send(&mut framed, json!({ "type": "attach" })).await;
    framed.next().await.unwrap().unwrap();
    let mut query = serde_json::to_value(taskmon::board::Query::default()).unwrap();
    query["filter"] = "x".repeat(1_000).into();
    query["height"] = 10.into();
    for _ in 0..2_000 {
        send(
            &mut framed,
            json!({ "type": "command", "command": { "command": "count_shown" }, "query": query }),
        )
        .await;
    }
    send(&mut framed, json!({ "type": "query", "query": query })).await;
    let frame = tokio::time::timeout(Duration::from_secs(30), framed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let frame: Value = serde_json::from_slice(&frame).unwrap();
    let notices = frame["frame"]["notices"].as_array().unwrap();
    assert!(
        !notices.is_empty() && notices.len() <= 16,
        "{} notices",
        notices.len()
    );
    query["filter"] = "x ".repeat(100_000).into();
    send(&mut framed, json!({ "type": "query", "query": query })).await;
    let (refusal, closed) = answer_then_closed(&mut framed).await;
    assert!(
        refusal["message"].as_str().unwrap().contains("filter"),
        "{refusal}"
    );
    assert!(closed);
    still_ticking(&sup, ticks(&sup).await).await;
}

/// Serving holds the supervisor only while it answers: a program that drops it while a
/// dashboard is attached, or while a client waits for a join, sees its tasks asked to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_or_waiting_client_does_not_keep_a_dropped_supervisor_alive() {
    for waiting in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let sup = Supervisor::builder().build().unwrap();
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stopped.clone();
        sup.spawn(
            TaskDef::new("worker", move |ctx| async move {
                ctx.cancelled().await;
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            })
            .journal(taskmon::JournalConfig::OFF),
        )
        .unwrap();
        let server = sup
            .serve(Endpoint::Unix(dir.path().join("t.sock")))
            .unwrap();
        let mut framed = raw(&dir).await;
        send(
            &mut framed,
            json!({ "type": "hello", "version": protocol::VERSION }),
        )
        .await;
        framed.next().await.unwrap().unwrap();
        if waiting {
            send(&mut framed, json!({ "type": "wait", "ids": [1] })).await;
        } else {
            send(&mut framed, json!({ "type": "attach" })).await;
            framed.next().await.unwrap().unwrap();
            let query = serde_json::to_value(taskmon::board::Query::default()).unwrap();
            send(&mut framed, json!({ "type": "query", "query": query })).await;
            framed.next().await.unwrap().unwrap();
        }
        tokio::time::sleep(ms(100)).await;
        drop(sup);
        eventually(
            5,
            "the dropped supervisor's task was never asked to stop",
            || stopped.load(std::sync::atomic::Ordering::SeqCst),
        )
        .await;
        drop(server);
    }
}

/// Connections that never say hello cannot keep the owner out: the oldest waiting one is
/// pushed out by each new one, and a client that speaks gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_never_keep_a_client_out() {
    let (sup, _server, dir) = served(ServeOptions::default());
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::UnixStream::connect(dir.path().join("t.sock"))
                .await
                .unwrap(),
        );
    }
    let mut client =
        tokio::time::timeout(Duration::from_secs(5), Client::connect(&target(&dir), None))
            .await
            .expect("in at once")
            .unwrap();
    let rows = client.request(json!({ "type": "list" })).await.unwrap();
    assert_eq!(rows["total"], 1);
    still_ticking(&sup, ticks(&sup).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_token_is_refused_and_localhost_is_an_address() {
    let sup = Supervisor::builder().build().unwrap();
    let endpoint: Endpoint = "tcp:localhost:0".parse().unwrap();
    let short = ServeOptions {
        token: Some("0123456789abcde".into()),
        ..ServeOptions::default()
    };
    let refused = sup.serve_with(endpoint.clone(), short).err().unwrap();
    assert!(refused.to_string().contains("shorter than 16"), "{refused}");
    let long = ServeOptions {
        token: Some("0123456789abcdef".into()),
        ..ServeOptions::default()
    };
    let server = sup.serve_with(endpoint, long).unwrap();
    assert!(server.address().starts_with("tcp:"), "{}", server.address());
}
