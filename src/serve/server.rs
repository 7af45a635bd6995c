//! One task accepts; one task per client reads its requests and answers them. Nothing here
//! ever waits on the supervisor's behalf: a slow client only slows its own connection, and the
//! events it watches reach it through a bounded queue that counts what it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ServeOptions;
use super::protocol::{self, MAX_FRAME, MAX_ROWS, Request, VERSION};
use crate::format;
use crate::supervisor::{State, Supervisor, TaskId, TaskReport, TaskSnapshot};

/// The longest grace period a client may set, as for `--grace`.
const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

pub(super) enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// What every connection reads.
pub(super) struct Shared {
    /// Weak: serving does not keep the supervisor alive, so a program that drops it (with a
    /// server made by `SupervisorBuilder::serve` inside) stops serving.
    sup: std::sync::Weak<crate::supervisor::Inner>,
    options: ServeOptions,
    /// Required of TCP clients.
    token: Option<String>,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
    tracker: TaskTracker,
    program: String,
    /// Connections that have not said hello yet.
    waiting: Waiting,
    /// Wrong tokens so far: each makes the next refusal slower.
    wrong_tokens: AtomicU64,
    /// The program's last events, for the log of a dashboard that attaches now.
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<crate::Event>>>,
}

impl Shared {
    /// The supervisor, while the program keeps it.
    fn sup(&self) -> Option<Supervisor> {
        Supervisor::upgrade(&self.sup)
    }

    pub(super) fn new(
        sup: Supervisor,
        options: ServeOptions,
        token: Option<String>,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let program = std::env::args()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        let recent = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let (kept, serving) = (recent.clone(), stop.clone());
        sup.on_delivery(move |delivery| {
            let events = delivery.events();
            // Of a batch (a stop of everything), only what the log can hold.
            let tail = &events[events.len().saturating_sub(crate::board::LOG_CAPACITY)..];
            let mut kept = kept.lock().expect("recent events");
            for event in tail {
                if kept.len() == crate::board::LOG_CAPACITY {
                    kept.pop_front();
                }
                kept.push_back(event.clone());
            }
            !serving.is_cancelled()
        });
        Self {
            recent,
            waiting: Waiting::default(),
            wrong_tokens: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(options.max_clients)),
            sup: sup.downgrade(),
            options,
            token,
            stop,
            tracker,
            program,
        }
    }
}

/// How many connections may wait for their hello at once (beside the clients that said it).
const MAX_WAITING: usize = 16;

/// The connections that have not said hello, oldest first.
#[derive(Default)]
struct Waiting {
    queue: std::sync::Mutex<std::collections::VecDeque<(u64, CancellationToken)>>,
    next: AtomicU64,
}

/// A connection's place among the waiting ones; left when dropped.
struct Place<'a> {
    waiting: &'a Waiting,
    number: u64,
    pushed_out: CancellationToken,
}

impl Waiting {
    /// Takes a place, pushing the oldest waiting connection out when there is no room.
    fn enter(&self) -> Place<'_> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let pushed_out = CancellationToken::new();
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= MAX_WAITING
            && let Some((_, oldest)) = queue.pop_front()
        {
            oldest.cancel();
        }
        queue.push_back((number, pushed_out.clone()));
        Place {
            waiting: self,
            number,
            pushed_out,
        }
    }
}

impl Place<'_> {
    async fn pushed_out(&self) {
        self.pushed_out.cancelled().await
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut queue = self.waiting.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.retain(|(n, _)| *n != self.number);
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

type Connection = Framed<Box<dyn Stream>, LengthDelimitedCodec>;

/// Accepts until told to stop. A failed accept (out of file descriptors, say) is waited out
/// rather than ending the service.
pub(super) async fn accept(listener: Listener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.cancelled() => return,
            accepted = next(&listener) => accepted,
        };
        match accepted {
            Ok((stream, needs_token)) => {
                let shared = shared.clone();
                shared
                    .tracker
                    .clone()
                    .spawn(serve_client(stream, needs_token, shared));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// The next connection, and whether it must show the token. A Unix peer of another user is
/// refused here, before a byte is read.
async fn next(listener: &Listener) -> std::io::Result<(Box<dyn Stream>, bool)> {
    match listener {
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            let owner = stream.peer_cred().map(|c| c.uid()).ok() == Some(super::euid());
            if !owner {
                let mut framed =
                    Framed::new(Box::new(stream) as Box<dyn Stream>, protocol::codec());
                let _ = send(
                    &mut framed,
                    &protocol::error("only the user running this program may connect"),
                )
                .await;
                return Err(std::io::Error::other("peer of another user"));
            }
            Ok((Box::new(stream), false))
        }
        Listener::Tcp(l) => {
            let (stream, _) = l.accept().await?;
            Ok((Box::new(stream), true))
        }
    }
}

async fn send(framed: &mut Connection, message: &impl serde::Serialize) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    framed.send(tokio_util::bytes::Bytes::from(bytes)).await
}

/// Why a frame could not be taken as a request.
fn unreadable(e: &std::io::Error) -> Value {
    let too_long = e
        .get_ref()
        .is_some_and(|inner| inner.is::<tokio_util::codec::LengthDelimitedCodecError>());
    if too_long {
        protocol::error(format!("message longer than {MAX_FRAME} bytes; closing"))
    } else {
        protocol::error(format!("unreadable message: {e}; closing"))
    }
}

/// The request in a frame read; `None` when the connection ends: the client went, or what it
/// sent could not be read (it has been told why).
async fn request_in(
    frame: Option<std::io::Result<tokio_util::bytes::BytesMut>>,
    framed: &mut Connection,
) -> Option<Request> {
    let refusal = match frame? {
        Err(e) => unreadable(&e),
        Ok(bytes) => match parse(&bytes) {
            Ok(request) => return Some(request),
            Err(refusal) => refusal,
        },
    };
    let _ = send(framed, &refusal).await;
    None
}

fn parse(bytes: &[u8]) -> Result<Request, Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        let mut error = protocol::error(format!("malformed message: {e}; closing"));
        error["code"] = "bad_request".into();
        error
    })
}

async fn serve_client(stream: Box<dyn Stream>, needs_token: bool, shared: Arc<Shared>) {
    let mut framed = Framed::new(stream, protocol::codec());
    // Until its hello, a connection is one of a few waiting ones; a new one pushes the oldest
    // out, so connections that never speak cannot keep out a client that does.
    let waiting = shared.waiting.enter();
    let said_hello = tokio::select! {
        said = handshake(&mut framed, needs_token, &shared) => said,
        () = waiting.pushed_out() => Err(protocol::error("too many connections waiting to say hello; closing")),
    };
    drop(waiting);
    let hello = match said_hello {
        Ok(hello) => hello,
        Err(refusal) => {
            let _ = tokio::time::timeout(shared.options.idle_timeout, send(&mut framed, &refusal))
                .await;
            return;
        }
    };
    let Ok(_slot) = shared.slots.clone().try_acquire_owned() else {
        let message = format!(
            "too many clients ({}); try again later",
            shared.options.max_clients
        );
        let _ = tokio::time::timeout(
            shared.options.idle_timeout,
            send(&mut framed, &protocol::error(message)),
        )
        .await;
        return;
    };
    if send(&mut framed, &hello).await.is_err() {
        return;
    }
    loop {
        let frame = tokio::select! {
            _ = shared.stop.cancelled() => return,
            frame = framed.next() => frame,
        };
        let Some(request) = request_in(frame, &mut framed).await else {
            return;
        };
        let Some(sup) = shared.sup() else {
            let _ = send(&mut framed, &no_supervisor()).await;
            return;
        };
        let answer = match request {
            Request::Watch {} => {
                drop(sup);
                return watch(framed, &shared).await;
            }
            Request::Attach {} => return attached(framed, &shared, sup).await,
            Request::Wait { ids } => {
                drop(sup);
                tokio::select! {
                    _ = shared.stop.cancelled() => return,
                    // Gone by itself: answered below by the next request, or noticed now.
                    _ = closed(&mut framed) => return,
                    answer = wait(&shared, ids) => answer,
                }
            }
            request => {
                // Worked out off the runtime that fires the grace timers: a request about
                // every task (a name looked up among 100,000) delays no escalation.
                let program = shared.program.clone();
                match tokio::task::spawn_blocking(move || answer(&program, &sup, request)).await {
                    Ok(answer) => answer,
                    Err(_) => protocol::error("the request failed inside the program"),
                }
            }
        };
        if send(&mut framed, &answer).await.is_err() {
            return;
        }
    }
}

/// The first message must be a `hello` of this version (with the token over TCP), within the
/// idle timeout. Until then nothing about the tasks is said.
async fn handshake(
    framed: &mut Connection,
    needs_token: bool,
    shared: &Shared,
) -> Result<Value, Value> {
    let timeout = shared.options.idle_timeout;
    let frame = tokio::time::timeout(timeout, framed.next())
        .await
        .map_err(|_| {
            protocol::error(format!(
                "no hello within {}; closing",
                format::humanize(timeout)
            ))
        })?;
    let bytes = match frame {
        None => return Err(Value::Null),
        Some(Err(e)) => return Err(unreadable(&e)),
        Some(Ok(bytes)) => bytes,
    };
    let Request::Hello { version, token } = parse(&bytes)? else {
        return Err(protocol::error(
            "the first message must be a hello; closing",
        ));
    };
    if version != VERSION {
        return Err(protocol::error(format!(
            "protocol version {version} is not spoken here; this program speaks version {VERSION}"
        )));
    }
    if needs_token {
        let expected = shared.token.as_deref().unwrap_or_default().as_bytes();
        let given = token.as_deref().unwrap_or_default().as_bytes();
        if !same_secret(expected, given) {
            // Each wrong guess is answered later than the last: 10 ms more, up to 2 s.
            let wrong = shared.wrong_tokens.fetch_add(1, Ordering::Relaxed) + 1;
            let delay = std::time::Duration::from_millis(10 * wrong.min(200));
            tokio::time::sleep(delay).await;
            return Err(protocol::error("wrong or missing token; closing"));
        }
    }
    Ok(json!({
        "type": "hello",
        "version": VERSION,
        "program": shared.program,
        "pid": std::process::id(),
        "tasks": shared.sup().map_or(0, |sup| sup.len()),
    }))
}

/// Equal, in a time that does not tell how much of `given` was right.
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    let mut differ = expected.len() ^ given.len();
    for (i, &e) in expected.iter().enumerate() {
        differ |= usize::from(e ^ given.get(i).copied().unwrap_or(!e));
    }
    differ == 0 && !expected.is_empty()
}

/// Resolves when the client closes its side or sends anything: while it waits for an
/// answer, a client has nothing to say.
async fn closed(framed: &mut Connection) {
    let _ = framed.next().await;
}

fn answer(program: &str, sup: &Supervisor, request: Request) -> Value {
    match request {
        Request::Status {} => {
            let mut counts = serde_json::Map::new();
            let states = sup.states();
            for state in State::all() {
                let n = states.iter().filter(|&&s| s == state).count();
                if n > 0 {
                    counts.insert(state.as_str().into(), n.into());
                }
            }
            json!({
                "type": "status",
                "program": program,
                "pid": std::process::id(),
                "uptime_ms": format::millis(sup.uptime()),
                "grace_ms": format::millis(sup.grace()),
                "tasks": states.len(),
                "counts": counts,
                "recording": recording(sup),
            })
        }
        Request::List { offset, limit } => {
            let total = sup.len();
            let first = offset.min(total);
            let end = first.saturating_add(limit.min(MAX_ROWS)).min(total);
            let ids: Vec<TaskId> = (first as TaskId + 1..=end as TaskId).collect();
            let rows = within_frame(sup.snapshots(&ids).into_iter().map(row));
            json!({ "type": "rows", "total": total, "offset": first, "rows": rows })
        }
        Request::Stop { tasks } => each(sup, &tasks, Supervisor::stop),
        Request::Abort { tasks } => each(sup, &tasks, Supervisor::abort),
        Request::Restart { tasks } => each(sup, &tasks, Supervisor::restart),
        Request::StopAll {} => json!({ "type": "done", "count": sup.stop_all() }),
        Request::AbortAll {} => json!({ "type": "done", "count": sup.abort_all() }),
        Request::Grace { ms } => {
            let grace = std::time::Duration::from_millis(ms).min(MAX_GRACE);
            sup.set_grace(grace);
            json!({ "type": "done", "grace_ms": format::millis(grace) })
        }
        #[cfg(feature = "record")]
        Request::RecordStart { path, max_bytes } => {
            let path = std::path::PathBuf::from(path);
            if !path.is_absolute() {
                return protocol::error(format!(
                    "record to an absolute path: `{}` would be found from the program's working directory",
                    crate::text::escape(&path.display().to_string())
                ));
            }
            let options = crate::record::RecordOptions {
                max_bytes,
                ..Default::default()
            };
            match sup.record(&path, options) {
                Ok(()) => json!({ "type": "recording", "path": path.display().to_string() }),
                Err(e) => protocol::error(e),
            }
        }
        #[cfg(feature = "record")]
        Request::RecordStop {} => match sup.stop_recording() {
            Some(summary) => json!({
                "type": "recorded",
                "path": summary.path.display().to_string(),
                "events": summary.events,
                "samples": summary.samples,
                "bytes": summary.bytes.saturating_sub(summary.bytes_removed),
                "events_dropped": summary.events_dropped,
                "samples_dropped": summary.samples_dropped,
                "error": summary.error,
            }),
            None => protocol::error("nothing is being recorded"),
        },
        Request::Hello { .. } => protocol::error("hello was said already"),
        Request::Query { .. } | Request::Command { .. } => {
            protocol::error("query and command come after attach")
        }
        Request::Watch {} | Request::Wait { .. } | Request::Attach {} => {
            unreachable!("answered by the caller")
        }
    }
}

/// Where the program records, if it does.
fn recording(sup: &Supervisor) -> Option<String> {
    #[cfg(feature = "record")]
    return sup.recording().map(|r| r.path.display().to_string());
    #[cfg(not(feature = "record"))]
    {
        let _ = sup;
        None
    }
}

/// Said when the program has dropped its supervisor.
fn no_supervisor() -> Value {
    protocol::error("the program no longer supervises")
}

/// The rows of one answer, as many as fit in one frame (at least one: a row is never near a
/// frame's size, its texts being capped). The client asks again for the rest, from where the
/// answer ends.
#[derive(Default)]
struct Rows {
    rows: Vec<Value>,
    bytes: usize,
}

impl Rows {
    /// What is left of a frame for the rest of an answer.
    const BUDGET: usize = MAX_FRAME - 64 * 1024;

    /// Takes `row` if it fits; false when the answer is full.
    fn take(&mut self, row: Value) -> bool {
        self.bytes += serde_json::to_vec(&row).map_or(0, |b| b.len()) + 1;
        if self.bytes > Self::BUDGET && !self.rows.is_empty() {
            return false;
        }
        self.rows.push(row);
        true
    }
}

fn within_frame(rows: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut kept = Rows::default();
    for row in rows {
        if !kept.take(row) {
            break;
        }
    }
    kept.rows
}

/// A live task's row: the report's JSON without the journal check, which is made at the end.
fn row(snapshot: TaskSnapshot) -> Value {
    format::report_json(&TaskReport::unchecked(snapshot))
}

/// Finds the tasks named — `#3` or `id:3` for an id, a name, the base name of `count` copies
/// (`NAME-1`, `NAME-2`… up to the first number missing), or a bare number when it is no task's
/// name — and asks `request` of each. Unknown or ambiguous names refuse the whole request,
/// before anything is done.
fn each(
    sup: &Supervisor,
    names: &[String],
    request: fn(&Supervisor, TaskId) -> Result<(), crate::SupervisorError>,
) -> Value {
    let all = sup.snapshot();
    let by_name: std::collections::HashMap<&str, TaskId> =
        all.iter().map(|s| (&*s.name, s.id)).collect();
    let exists = |id: TaskId| id >= 1 && id as usize <= all.len();
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        let explicit_id = name
            .strip_prefix('#')
            .or_else(|| name.strip_prefix("id:"))
            .and_then(|n| n.parse::<TaskId>().ok());
        if let Some(id) = explicit_id {
            if exists(id) {
                ids.push(id);
            } else {
                unknown.push(crate::text::escape(name).into_owned());
            }
            continue;
        }
        let as_id = name.parse::<TaskId>().ok().filter(|&id| exists(id));
        let named = by_name.get(name.as_str()).copied();
        let found: Vec<TaskId> = match (as_id, named) {
            (Some(id), Some(other)) if id != other => {
                let mut error = protocol::error(format!(
                    "`{0}` is both task #{id} and the name of task #{other}: say #{id} or id:{id} for the id",
                    crate::text::escape(name)
                ));
                error["code"] = "ambiguous".into();
                return error;
            }
            (_, Some(id)) | (Some(id), None) => vec![id],
            (None, None) => copies_of(name, &by_name),
        };
        if found.is_empty() {
            unknown.push(crate::text::escape(name).into_owned());
        }
        ids.extend(found);
    }
    if !unknown.is_empty() {
        let mut error = protocol::error(format!("no task named {}", unknown.join(", ")));
        error["code"] = "unknown_task".into();
        return error;
    }
    ids.sort_unstable();
    ids.dedup();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for id in ids {
        match request(sup, id) {
            Ok(()) => accepted.push(id),
            Err(e) => refused.push(json!({ "id": id, "message": e.to_string() })),
        }
    }
    json!({ "type": "accepted", "ids": accepted, "refused": refused })
}

/// The copies a scenario's `count` makes of `base`: `base-1`, `base-2`… up to the first number
/// missing, so that an unrelated `base-10` beside `base-1`…`base-3` is not one of them.
fn copies_of(base: &str, by_name: &std::collections::HashMap<&str, TaskId>) -> Vec<TaskId> {
    (1u64..)
        .map_while(|n| by_name.get(format!("{base}-{n}").as_str()).copied())
        .collect()
}

/// The rows of the tasks once every one has been joined, with their journals checked: as many
/// as one frame holds, in the order asked; `total` says how many were asked, and the client
/// asks again for those after the rows it got. Holds the supervisor only between the waits.
async fn wait(shared: &Shared, ids: Vec<TaskId>) -> Value {
    let total = ids.len();
    let mut rows = Rows::default();
    for id in ids {
        let ended = match shared.sup().map(|sup| sup.wait_ended(id)) {
            None => return no_supervisor(),
            Some(Err(e)) => {
                let mut error = protocol::error(e.to_string());
                error["code"] = "unknown_task".into();
                return error;
            }
            Some(Ok(ended)) => ended,
        };
        ended.await;
        let Some(sup) = shared.sup() else {
            return no_supervisor();
        };
        let (Ok(snapshot), path) = (sup.task(id), sup.journal_path(id)) else {
            return no_supervisor();
        };
        drop(sup);
        let report = tokio::task::spawn_blocking(move || TaskReport::verify(snapshot, path)).await;
        match report {
            // One that does not fit is joined all the same: the next wait finds it at once.
            Ok(report) => {
                if !rows.take(format::report_json(&report)) {
                    break;
                }
            }
            Err(e) => {
                return protocol::error(format!("checking #{id}'s journal failed: {e}"));
            }
        }
    }
    json!({ "type": "rows", "total": total, "offset": 0, "rows": rows.rows })
}

/// Subscribes a bounded queue to the supervisor's events; what does not fit is counted. The
/// subscription ends when the client's task drops it, however it ends.
fn subscribe(
    shared: &Shared,
    sup: &Supervisor,
) -> (
    mpsc::Receiver<crate::Event>,
    Arc<AtomicU64>,
    crate::supervisor::Subscription,
) {
    let (tx, rx) = mpsc::channel(shared.options.queue.max(1));
    let missed = Arc::new(AtomicU64::new(0));
    let counter = missed.clone();
    let subscription = sup.subscribe_scoped(move |delivery| {
        for event in delivery.events() {
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    });
    (rx, missed, subscription)
}

/// The fewest milliseconds between two frames to one client: at most 10 a second.
const FRAME_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A dashboard over the connection: a board of its own, fed the supervisor's events through a
/// bounded queue, answering each query with a frame. A client that reads slowly only delays
/// its own frames; events it had no room for are counted and said in its status line. The
/// board's work is done off the runtime that fires the grace timers, with the supervisor lent
/// for it: between requests the client holds nothing that keeps the program's supervisor alive.
async fn attached(mut framed: Connection, shared: &Shared, sup: Supervisor) {
    let mut board = crate::board::Board::new(sup.clone(), shared.options.kinds.clone());
    let recent: Vec<crate::Event> = shared
        .recent
        .lock()
        .expect("recent events")
        .iter()
        .cloned()
        .collect();
    for event in recent {
        board.push_event(event);
    }
    let (mut events, missed, _subscription) = subscribe(shared, &sup);
    board.release();
    drop(sup);
    if send(&mut framed, &json!({ "type": "attached" }))
        .await
        .is_err()
    {
        return;
    }
    let mut last_frame: Option<tokio::time::Instant> = None;
    loop {
        let message = tokio::select! {
            _ = shared.stop.cancelled() => return,
            Some(event) = events.recv() => {
                board.push_event(event);
                while let Ok(event) = events.try_recv() {
                    board.push_event(event);
                }
                continue;
            }
            message = framed.next() => message,
        };
        let Some(request) = request_in(message, &mut framed).await else {
            return;
        };
        let query = match &request {
            Request::Command { query, .. } | Request::Query { query } => query,
            _ => {
                let _ = send(
                    &mut framed,
                    &protocol::error("an attached dashboard sends query or command; closing"),
                )
                .await;
                return;
            }
        };
        if let Err(refusal) = query.within_limits() {
            let _ = send(&mut framed, &protocol::error(format!("{refusal}; closing"))).await;
            return;
        }
        if let Request::Query { .. } = request {
            if let Some(at) = last_frame {
                tokio::time::sleep_until(at + FRAME_EVERY).await;
            }
            last_frame = Some(tokio::time::Instant::now());
            while let Ok(event) = events.try_recv() {
                board.push_event(event);
            }
        }
        let Some(sup) = shared.sup() else {
            let _ = send(&mut framed, &no_supervisor()).await;
            return;
        };
        board.lend(sup);
        let worked = tokio::task::spawn_blocking(move || {
            let frame = match request {
                Request::Command { command, query } => {
                    board.command(command, &query);
                    None
                }
                Request::Query { query } => Some(board.frame(&query)),
                _ => None,
            };
            board.release();
            (board, frame)
        })
        .await;
        let Ok((kept, frame)) = worked else {
            let _ = send(
                &mut framed,
                &protocol::error("the dashboard's board failed"),
            )
            .await;
            return;
        };
        board = kept;
        let Some(mut frame) = frame else {
            continue;
        };
        let lost = missed.swap(0, Ordering::Relaxed);
        if lost > 0 {
            frame.notices.push(crate::board::Notice {
                text: format!("{lost} event(s) missed: this dashboard did not keep up"),
                task: None,
            });
        }
        let message = json!({ "type": "frame", "frame": frame });
        if send(&mut framed, &message).await.is_err() {
            return;
        }
    }
}

/// Every event from now on, as `run --json` prints them; events that did not fit the client's
/// queue are counted and the count sent before the next one. Any message from the client, or
/// its going, ends the watch, and with it the subscription. A watcher does not keep the
/// supervisor alive: its events end when the supervisor goes.
async fn watch(mut framed: Connection, shared: &Shared) {
    let Some(sup) = shared.sup() else {
        return;
    };
    let (mut rx, missed, _subscription) = subscribe(shared, &sup);
    drop(sup);
    if send(&mut framed, &json!({ "type": "watching" }))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let event = tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = framed.next() => return,
            event = rx.recv() => event,
        };
        let Some(event) = event else { return };
        let lost = missed.swap(0, Ordering::Relaxed);
        if lost > 0
            && send(&mut framed, &json!({ "type": "missed", "count": lost }))
                .await
                .is_err()
        {
            return;
        }
        if send(&mut framed, &format::event_json(&event))
            .await
            .is_err()
        {
            return;
        }
    }
}
