//! `taskmon run`: plays a scenario without a terminal, printing events as they happen and a report
//! per task at the end.
//!
//! Printing happens on a thread of its own, never on the runtime that records joins and fires
//! grace timers: a slow reader of stdout cannot stretch a stop's latency or a run's length, and a
//! closed stdout (`| head -1`) ends the run the way Ctrl-C does.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::format::humanize;
use crate::format::{self, ReportDigest, SUMMARY_ROWS};
use crate::scenario::Scenario;
use crate::signals;
use crate::supervisor::{Signals, Urgency};
use crate::supervisor::{
    Delivery, Detail, Event, EventKind, Supervisor, TaskId,
};

/// How long a run goes on after the timeline's last action when `--for` is not given.
pub const DEFAULT_TAIL: Duration = Duration::from_secs(10);

/// The fewest events held for a reader that fell behind before new ones are dropped (about
/// 8 MiB, packed): more than a burst of 100,000 spawns, far less than hours of a stuck pager.
pub const MIN_BACKLOG: usize = 1 << 18;

/// Events held per task of the scenario, when that is more than [`MIN_BACKLOG`]: a stop of every
/// task is a burst of a few events each, and a reader that keeps up must not lose it.
const BACKLOG_PER_TASK: usize = 8;

/// How long the end of a run waits for the reader of stdout to take what is left. The README
/// promises that `--for D` ends within D + grace + 2 s, whoever reads.
const OUTPUT_DEADLINE: Duration = Duration::from_secs(1);

/// Text for people, or JSON lines for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// How a run is played.
#[derive(Debug)]
pub struct RunOptions {
    pub output: Output,
    /// End the run after this long [default: 10 s after the timeline's last action].
    pub run_for: Option<Duration>,
    /// The grace period of the shutdown at the end.
    pub grace: Duration,
    /// Events held for a reader that fell behind before new ones are dropped and counted
    /// [default: [`MIN_BACKLOG`], or 8 per task of the scenario when that is more].
    pub backlog: Option<usize>,
    /// Where every task's report line goes, and the `end` line after them (`--report FILE`).
    pub report_to: Option<std::fs::File>,
}

impl RunOptions {
    fn backlog(&self, scenario: &Scenario) -> usize {
        self.backlog.unwrap_or_else(|| {
            MIN_BACKLOG.max(usize::try_from(scenario.task_count())
                .unwrap_or(usize::MAX)
                .saturating_mul(BACKLOG_PER_TASK))
        })
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The timeline was played and every task ended.
    Done,
    /// `--for` (or the default tail after the timeline) ran out.
    TimeUp,
    /// SIGINT, SIGTERM or SIGHUP, with its number.
    Signal(i32),
    /// Nobody reads stdout any more.
    OutputClosed,
}

impl EndReason {
    /// The word in the JSON `end` line.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Done => "done",
            EndReason::TimeUp => "time_up",
            EndReason::Signal(_) => "signal",
            EndReason::OutputClosed => "output_closed",
        }
    }

    fn describe(self) -> String {
        match self {
            EndReason::Done => "every task has ended".into(),
            EndReason::TimeUp => "time is up".into(),
            EndReason::Signal(number) => format!("interrupted by {}", signal_name(number)),
            EndReason::OutputClosed => "stdout was closed".into(),
        }
    }
}

fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Tasks reported at a time: the report of a million tasks is made, written and printed in
/// chunks of about 180 KiB, never held whole (its snapshots and its reports are held at once
/// while a chunk is made).
const REPORT_CHUNK: TaskId = 250;

/// What a run came to.
pub struct RunOutcome {
    /// Why the run ended (the JSON `end` line says so too). The command says it there only;
    /// tests of a run read it here.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub reason: EndReason,
    /// What the final report says (its rows were written as they were made).
    pub digest: ReportDigest,
    /// Why the report file could not be written, if it could not.
    pub report_error: Option<io::Error>,
    /// Events not written because the reader of the output fell behind.
    pub events_dropped: u64,
    /// The reader had not taken everything (the report included) when the run ended.
    pub output_unfinished: bool,
}

/// Plays `scenario` on `sup` until the timeline is done and every task has ended, until
/// `run_for` has passed, until a signal, or until stdout is closed; then shuts down as quitting
/// the dashboard does (a second signal aborts what is left, a third exits at once) and prints the
/// report.
pub async fn run(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
) -> io::Result<RunOutcome> {
    let printer = Printer::start(options.output, io::stdout(), true, options.backlog(scenario))?;
    play(sup, scenario, options, printer).await
}

/// [`run`], writing to `out` instead of stdout: a write error ends the run as a closed stdout
/// does. For tests.
#[cfg(feature = "internals")]
pub async fn run_to(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
    out: impl Write + Send + 'static,
) -> io::Result<RunOutcome> {
    let printer = Printer::start(options.output, out, false, options.backlog(scenario))?;
    play(sup, scenario, options, printer).await
}

async fn play(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
    printer: Printer,
) -> io::Result<RunOutcome> {
    let mut signals = Signals::new()?;
    // Events go from where they happen straight to the printing thread: nothing on this runtime,
    // which records stops and fires grace timers, handles them one by one.
    printer.subscribe(sup);
    let start = Instant::now();
    let deadline = start
        + options
            .run_for
            .unwrap_or(scenario.last_action() + DEFAULT_TAIL);
    let mut roster = scenario.spawn_tasks(sup);
    let timeline = scenario.play_timeline(sup, &mut roster, start);
    tokio::pin!(timeline);
    let mut timeline_done = scenario.timeline.is_empty();

    let reason = loop {
        tokio::select! {
            biased;
            (number, _) = signals.next() => break EndReason::Signal(number),
            () = printer.closed() => break EndReason::OutputClosed,
            () = &mut timeline, if !timeline_done => timeline_done = true,
            () = sup.all_ended(), if timeline_done => break EndReason::Done,
            () = tokio::time::sleep_until(deadline) => break EndReason::TimeUp,
        }
    };

    let live = sup.live_tasks();
    printer.send(Message::Note(if live > 0 {
        format!(
            "{}: stopping {live} task(s) gracefully, grace {}",
            reason.describe(),
            humanize(options.grace)
        )
    } else {
        reason.describe()
    }));
    let shutdown = sup.shutdown(options.grace);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            (number, urgency) = signals.next() => {
                // Shutdown is under way, so any signal asks for more haste than that.
                if urgency == Urgency::ExitNow {
                    signals::exit_now(sup, number);
                }
                let n = sup.abort_all();
                printer.send(Message::Note(format!(
                    "{}: aborting the {n} task(s) left",
                    signal_name(number)
                )));
            }
            () = &mut shutdown => break,
        }
    }
    // The program ends here: what shutdown passed by — detached tasks — is dropped now.
    sup.end_task_runtime().await;
    let events_dropped = printer.queue.dropped();
    printer.send(Message::End(reason, events_dropped));
    let end = end_json(reason, events_dropped);
    let (digest, report_error) =
        report_in_chunks(sup, &printer, options.output, options.report_to, &end).await;
    if options.output == Output::Text {
        printer.send(Message::Summary(Box::new(digest.clone())));
    }
    // Everything is decided; what is left is writing it. A signal now stops the writing, and a
    // reader that takes nothing is not waited for beyond a short deadline.
    let finished = tokio::select! {
        finished = printer.finish() => finished,
        (number, _) = signals.next() => signals::exit_now(sup, number),
    };
    Ok(RunOutcome {
        reason,
        digest,
        report_error,
        events_dropped,
        output_unfinished: !finished,
    })
}

/// Reports every task a chunk at a time: into the digest, to the report file (then `end`), and,
/// for JSON output, to the printer, which takes each chunk before the one after next is made —
/// unless it stops moving (a reader that does not read), when the rest is not printed.
async fn report_in_chunks(
    sup: &Supervisor,
    printer: &Printer,
    output: Output,
    file: Option<std::fs::File>,
    end: &serde_json::Value,
) -> (ReportDigest, Option<io::Error>) {
    let mut digest = ReportDigest::new(SUMMARY_ROWS);
    let mut file = file.map(io::BufWriter::new);
    let mut error = None;
    let mut printing = output == Output::Json;
    let total = sup.len() as TaskId;
    let mut first = 1;
    // The chunk's lines, made once for the file and the printer alike.
    let mut lines = Vec::new();
    while first <= total {
        let last = first.saturating_add(REPORT_CHUNK - 1).min(total);
        let chunk = sup.report_of(first..=last).await;
        digest.add(&chunk);
        if printing || (file.is_some() && error.is_none()) {
            lines.clear();
            format::write_report_lines(&mut lines, &chunk).expect("reports serialize into a Vec");
        }
        if let (Some(out), None) = (&mut file, &error)
            && let Err(e) = out.write_all(&lines)
        {
            error = Some(e);
        }
        if printing {
            printing = printer.print_reports(std::mem::take(&mut lines)).await;
        }
        first = last + 1;
    }
    if let (Some(mut out), None) = (file, &error)
        && let Err(e) = writeln!(out, "{end}").and_then(|()| out.flush())
    {
        error = Some(e);
    }
    (digest, error)
}

/// The events of single hand-overs, packed one after another for the printing thread: about 30
/// bytes an event where a queued event took a channel slot of 112 (a stop of 100,000 tasks can
/// leave 400,000 of them waiting). What a line says and no more: the wall-clock time, the id, the
/// name, the kind and the detail.
#[derive(Default)]
struct Packed {
    bytes: Vec<u8>,
    count: usize,
}

/// An event as packed: milliseconds since the Unix epoch (what its line and its JSON say), the
/// local time's offset from UTC in seconds as the event was made with it (looking it up again
/// for each event took a tenth of the printing thread), id, name, kind, detail.
type PackedEvent<'a> = (i64, i32, TaskId, &'a str, EventKind, Detail);

/// Bytes a chunk of packed events is made with; the next event that does not fit begins a new
/// one, so that a chunk never grows by copying.
const PACKED_CHUNK: usize = 16 << 10;

/// An event packs on the stack when it fits in this many bytes (almost all do: a long panic
/// message is packed on the heap).
const PACKED_EVENT_ROOM: usize = 256;

/// Chunk buffers kept for reuse (1 MiB): more than a burst of single events fills before the
/// printing thread catches up, on a machine where it runs at all.
const SPARE_CHUNKS: usize = 64;

/// How long after the printing thread last found nothing to write the next events wait for it
/// ([`Waiting::linger`]). The first event after a quiet spell is written at once; in a burst the
/// output trails the tasks by at most this. Measured on 2 cores (`taskmon run` of 100,000
/// `select` tasks, 10 runs alternated): their spawn 215 -> 164 ms; the printer took a quarter of
/// both cores while they spawned or stopped, at nice 19 still (alone on a core's run queue).
const LINGER: Duration = Duration::from_millis(100);

impl Packed {
    /// What of `e` is packed.
    fn fields(e: &Event) -> (i64, i32, TaskId, &str, EventKind, &Detail) {
        (
            e.at.timestamp_millis(),
            e.at.offset().local_minus_utc(),
            e.id,
            &e.task,
            e.kind,
            &e.detail,
        )
    }

    /// Packs `e` into `room`, or into a vector of its own when it is longer.
    fn pack<'r>(e: &Event, room: &'r mut [u8; PACKED_EVENT_ROOM]) -> std::borrow::Cow<'r, [u8]> {
        let packed = Packed::fields(e);
        match postcard::to_slice(&packed, room) {
            Ok(bytes) => std::borrow::Cow::Borrowed(bytes),
            Err(_) => std::borrow::Cow::Owned(
                postcard::to_stdvec(&packed).expect("events pack into a Vec"),
            ),
        }
    }

    /// Packs `events` in chunks, a fifth of their size and less (an event is 136 bytes).
    fn batch(events: &[Event]) -> Vec<Packed> {
        let mut chunks = Vec::new();
        let mut room = [0; PACKED_EVENT_ROOM];
        for e in events {
            let event = Packed::pack(e, &mut room);
            if let Some(next) = Packed::append(chunks.last_mut(), &event, 1, &mut Vec::new()) {
                chunks.push(next);
            }
        }
        chunks
    }

    /// Adds `count` packed events (`run`, one after another) to `last`; when that has no room
    /// for them (or there is none), gives back a new chunk holding them, made with one of the
    /// `spare` buffers if there is one, for the caller to add after.
    fn append(
        last: Option<&mut Packed>,
        run: &[u8],
        count: usize,
        spare: &mut Vec<Vec<u8>>,
    ) -> Option<Packed> {
        if last.is_some_and(|last| last.push(run, count)) {
            return None;
        }
        let mut next = Packed {
            bytes: spare.pop().unwrap_or_default(),
            count: 0,
        };
        next.push(run, count);
        Some(next)
    }

    /// Its buffer, emptied, for another chunk to be made with; none if it grew past a chunk's
    /// size (an event longer than a chunk).
    fn into_spare(self) -> Option<Vec<u8>> {
        let mut bytes = self.bytes;
        bytes.clear();
        (bytes.capacity() == PACKED_CHUNK).then_some(bytes)
    }

    /// Adds `count` packed events (`run`) at the end, unless the chunk is too full for them.
    fn push(&mut self, run: &[u8], count: usize) -> bool {
        if self.count > 0 && self.bytes.len() + run.len() > PACKED_CHUNK {
            return false;
        }
        if self.bytes.capacity() == 0 {
            self.bytes.reserve_exact(PACKED_CHUNK.max(run.len()));
        }
        self.bytes.extend_from_slice(run);
        self.count += count;
        true
    }

    /// Hands each event, unpacked, to `each`, in the order they were packed.
    #[cfg(test)]
    fn for_each(&self, mut each: impl FnMut(format::Logged<'_>) -> io::Result<()>) -> io::Result<()> {
        self.for_each_packed(|(millis, east, id, task, kind, detail)| {
            each(format::Logged {
                at: &local_time(millis, east),
                id,
                task,
                kind,
                detail: &detail,
            })
        })
    }

    /// Hands each event to `each` as it was packed: its time still as milliseconds and offset.
    fn for_each_packed(
        &self,
        mut each: impl FnMut(PackedEvent<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut rest = &self.bytes[..];
        while !rest.is_empty() {
            let (event, after): (PackedEvent<'_>, _) =
                postcard::take_from_bytes(rest).map_err(io::Error::other)?;
            rest = after;
            each(event)?;
        }
        Ok(())
    }
}

/// A packed event's time: milliseconds since 1970 at the offset east of UTC it happened in.
fn local_time(millis: i64, east: i32) -> DateTime<Local> {
    let utc = DateTime::from_timestamp_millis(millis).unwrap_or_default();
    match FixedOffset::east_opt(east) {
        Some(offset) => DateTime::<Local>::from_naive_utc_and_offset(utc.naive_utc(), offset),
        None => utc.with_timezone(&Local),
    }
}

/// The printing thread's event lines, put together here, byte for byte what
/// [`format::event_line`] and serde_json's [`format::event_json`] make: a stop of a million tasks
/// is five million lines, most of them of one millisecond and many of one detail, and
/// formatting the time and the detail anew for each took most of the thread's time, on a core
/// the tasks needed. The time and the detail are kept as written from one line to the next.
struct EventLines {
    output: Output,
    line: Vec<u8>,
    /// The time last written, as packed, and as the output writes it.
    at: Option<((i64, i32), Vec<u8>)>,
    /// The detail last written, and as the output writes it (for JSON, a string or `null`; for
    /// text, escaped and after a space, or nothing).
    detail: Option<(Detail, Vec<u8>)>,
}

impl EventLines {
    fn new(output: Output) -> Self {
        Self {
            output,
            line: Vec::new(),
            at: None,
            detail: None,
        }
    }

    fn write(&mut self, out: &mut impl Write, event: PackedEvent<'_>) -> io::Result<()> {
        let (millis, east, id, task, kind, detail) = event;
        let json = self.output == Output::Json;
        if self.at.as_ref().is_none_or(|(key, _)| *key != (millis, east)) {
            let at = local_time(millis, east);
            let mut text = Vec::new();
            if json {
                json_string(&mut text, &at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false));
            } else {
                text.extend_from_slice(format::clock(&at).as_bytes());
            }
            self.at = Some(((millis, east), text));
        }
        if self.detail.as_ref().is_none_or(|(last, _)| *last != detail) {
            let mut text = Vec::new();
            match (detail.describe(), json) {
                (Some(described), true) => json_string(&mut text, &described),
                (None, true) => text.extend_from_slice(b"null"),
                (Some(described), false) => {
                    text.push(b' ');
                    text.extend_from_slice(crate::text::escape(&described).as_bytes());
                }
                (None, false) => {}
            }
            self.detail = Some((detail, text));
        }
        let (Some((_, at)), Some((_, detail))) = (&self.at, &self.detail) else {
            unreachable!("both were set above");
        };
        let line = &mut self.line;
        line.clear();
        let mut digits = itoa::Buffer::new();
        let id = digits.format(id);
        if json {
            line.extend_from_slice(b"{\"type\":\"event\",\"at\":");
            line.extend_from_slice(at);
            line.extend_from_slice(b",\"id\":");
            line.extend_from_slice(id.as_bytes());
            line.extend_from_slice(b",\"task\":");
            json_string(line, task);
            line.extend_from_slice(b",\"event\":\"");
            line.extend_from_slice(kind.as_str().as_bytes());
            line.extend_from_slice(b"\",\"detail\":");
            line.extend_from_slice(detail);
            line.extend_from_slice(b"}\n");
        } else {
            // `{time}  {#id name:<22} {event:<16}{ detail}`, its end trimmed.
            line.extend_from_slice(at);
            line.extend_from_slice(b"  #");
            line.extend_from_slice(id.as_bytes());
            line.push(b' ');
            let name = crate::text::escape(task);
            line.extend_from_slice(name.as_bytes());
            pad(line, 1 + id.len() + 1 + name.chars().count(), 22);
            line.push(b' ');
            line.extend_from_slice(kind.as_str().as_bytes());
            pad(line, kind.as_str().len(), 16);
            line.extend_from_slice(detail);
            let kept = std::str::from_utf8(line).map_or(line.len(), |text| text.trim_end().len());
            line.truncate(kept);
            line.push(b'\n');
        }
        out.write_all(line)
    }
}

/// Spaces after a field of `chars` characters up to `width`, as `{:<width}` pads.
fn pad(line: &mut Vec<u8>, chars: usize, width: usize) {
    line.resize(line.len() + width.saturating_sub(chars), b' ');
}

/// `text` as a JSON string, escaped as serde_json escapes it: most names need no escape and are
/// copied as they are.
fn json_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("a string serializes into a Vec");
    }
}

/// What the printing thread writes.
enum Message {
    /// Single events, packed.
    Packed(Packed),
    /// The events of one request made of many tasks (a thousand at most), packed.
    Batch(Vec<Packed>),
    /// This many events were dropped here: the reader had fallen behind.
    Gap(u64),
    Note(String),
    /// Why the run ended, and how many events were dropped in all.
    End(EndReason, u64),
    /// The next tasks' report lines, as written (JSON output).
    Reports(Vec<u8>),
    /// The final report's summary (text output).
    Summary(Box<ReportDigest>),
    /// Nothing more to write.
    Finish,
}

impl Message {
    /// The buffers of the chunks it carries, for new chunks to be made with.
    fn into_spares(self, spares: &mut Vec<Vec<u8>>) {
        match self {
            Message::Packed(packed) => spares.extend(packed.into_spare()),
            Message::Batch(chunks) => {
                spares.extend(chunks.into_iter().filter_map(Packed::into_spare));
            }
            _ => {}
        }
    }

    /// The events it carries.
    fn events(&self) -> usize {
        match self {
            Message::Packed(packed) => packed.count,
            Message::Batch(chunks) => chunks.iter().map(|packed| packed.count).sum(),
            _ => 0,
        }
    }
}

/// What waits for the printing thread, in order, behind one lock (taken for a moment by each
/// hand-over: a single event is packed before it is taken).
struct Queue {
    waiting: Mutex<Waiting>,
    /// Rung when the printing thread sleeps and something is added, or the last sender goes.
    ready: Condvar,
}

struct Waiting {
    messages: VecDeque<Message>,
    /// Events in `messages`, at most `limit`: a reader that is alive but does not read (a paused
    /// pager, a stuck log shipper) must not make the program hold every event since.
    held: usize,
    limit: usize,
    /// Events dropped because the backlog was full: in all, and since the last gap was
    /// announced in the output.
    dropped: u64,
    unannounced: u64,
    /// The printing thread waits on `ready`.
    asleep: bool,
    /// Buffers of chunks written, for the next chunks (at most [`SPARE_CHUNKS`]): a chunk freed
    /// and another allocated for every few hundred events gave their pages back to the system
    /// and faulted them in again, a tenth of the workers' time in a stop of 100,000 tasks.
    spare: Vec<Vec<u8>>,
    /// Senders alive: with none left, the thread ends once it has written what waits.
    senders: usize,
    /// The printing thread has ended: nothing added now is written.
    ended: bool,
}

impl Waiting {
    /// How much longer events that came after `idle_since` wait before they are written: while
    /// a burst lasts (a stop of every task), the printing thread wakes every [`LINGER`], not
    /// at every poll's events, and leaves the cores to the tasks meanwhile.
    fn linger(&self, idle_since: std::time::Instant, now: std::time::Instant) -> Option<Duration> {
        let events_only = matches!(
            self.messages.front(),
            Some(Message::Packed(_) | Message::Batch(_))
        );
        if !events_only || self.senders == 0 || self.held >= self.limit / 2 {
            return None;
        }
        LINGER
            .checked_sub(now.saturating_duration_since(idle_since))
            .filter(|wait| !wait.is_zero())
    }

    fn take(&mut self) -> Option<Message> {
        let message = self.messages.pop_front()?;
        self.held -= message.events();
        Some(message)
    }
}

impl Queue {
    fn new(limit: usize) -> Self {
        Self {
            waiting: Mutex::new(Waiting {
                messages: VecDeque::new(),
                held: 0,
                limit,
                dropped: 0,
                unannounced: 0,
                asleep: false,
                spare: Vec::new(),
                senders: 0,
                ended: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next message, waiting for one; `None` once every sender has gone and nothing is left.
    /// `idle` runs (unlocked) when nothing is waiting, before the thread sleeps; events that
    /// come after it wait out [`Waiting::linger`]. `written`'s chunk buffers are kept for new
    /// chunks.
    fn next(&self, written: Option<Message>, idle: impl FnOnce()) -> Option<Message> {
        let mut waiting = self.lock();
        if let Some(written) = written {
            written.into_spares(&mut waiting.spare);
            waiting.spare.truncate(SPARE_CHUNKS);
        }
        if let Some(message) = waiting.take() {
            return Some(message);
        }
        drop(waiting);
        idle();
        waiting = self.lock();
        let idle_since = std::time::Instant::now();
        loop {
            if let Some(wait) = waiting.linger(idle_since, std::time::Instant::now()) {
                waiting = self
                    .ready
                    .wait_timeout(waiting, wait)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
                continue;
            }
            if let Some(message) = waiting.take() {
                return Some(message);
            }
            if waiting.senders == 0 {
                return None;
            }
            waiting.asleep = true;
            waiting = self
                .ready
                .wait(waiting)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            waiting.asleep = false;
        }
    }

    /// Events dropped in all.
    fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// The printing thread has ended.
    fn end(&self) {
        let mut waiting = self.lock();
        waiting.ended = true;
        waiting.messages.clear();
    }
}

/// Adds to the printing thread's queue; the thread ends when the last one is dropped and what
/// waits is written, as a channel's receiver does.
struct Sender(Arc<Queue>);

impl Sender {
    fn new(queue: &Arc<Queue>) -> Self {
        queue.lock().senders += 1;
        Self(queue.clone())
    }

    /// Adds what `add` makes of the queue; false if the printing thread has ended.
    fn add(&self, add: impl FnOnce(&mut Waiting)) -> bool {
        self.add_events(0, add)
    }

    /// Adds `events` events as `add` puts them in the queue, if the backlog has room for them
    /// (they are counted as dropped if not), after word of those dropped before them.
    fn add_events(&self, events: usize, add: impl FnOnce(&mut Waiting)) -> bool {
        let mut waiting = self.0.lock();
        if waiting.ended {
            return false;
        }
        let mut wake = false;
        if events > 0 {
            if waiting.held.saturating_add(events) > waiting.limit {
                waiting.dropped += events as u64;
                waiting.unannounced += events as u64;
                return true;
            }
            // A printing thread that lingers is woken once half the backlog is held.
            let half = waiting.limit / 2;
            wake |= waiting.held < half && waiting.held + events >= half;
            waiting.held += events;
            if waiting.unannounced > 0 {
                let gap = std::mem::take(&mut waiting.unannounced);
                waiting.messages.push_back(Message::Gap(gap));
            }
        }
        add(&mut waiting);
        if waiting.asleep || wake {
            self.0.ready.notify_one();
        }
        true
    }

    fn send(&self, message: Message) -> bool {
        self.add(|waiting| waiting.messages.push_back(message))
    }

    /// Packs a single event after what waits, in the last chunk if it has room. The packing is
    /// done before the lock is taken.
    fn send_event(&self, e: &Event) -> bool {
        let mut room = [0; PACKED_EVENT_ROOM];
        self.add_packed(&[(&Packed::pack(e, &mut room), 1)])
    }

    /// Adds a few events (what a task's poll made) after what waits, under one lock; a batch of
    /// more is [`Sender::send_batch`]'s, in chunks of its own. They are packed one after
    /// another before the lock is taken, in a buffer of the thread's kept for it (a room on the
    /// stack for each, zeroed at every call, was a tenth of the hand-over), and added with one
    /// copy.
    fn send_events(&self, events: &[Event]) -> bool {
        const FEW: usize = 8;
        thread_local! {
            static ROOM: RefCell<Vec<u8>> = RefCell::new(vec![0; FEW * PACKED_EVENT_ROOM]);
        }
        if events.len() > FEW {
            return self.send_batch(events);
        }
        let packed_here = ROOM.try_with(|room| {
            let mut room = room.try_borrow_mut().ok()?;
            let mut len = 0;
            for e in events {
                len += postcard::to_slice(&Packed::fields(e), &mut room[len..])
                    .ok()?
                    .len();
            }
            Some(self.add_packed(&[(&room[..len], events.len())]))
        });
        if let Ok(Some(sent)) = packed_here {
            return sent;
        }
        // A long event (a panic's message), or a thread whose buffer has gone.
        let mut room = [0; PACKED_EVENT_ROOM];
        let packed: Vec<_> = events.iter().map(|e| Packed::pack(e, &mut room).into_owned()).collect();
        let runs: Vec<_> = packed.iter().map(|bytes| (&bytes[..], 1)).collect();
        self.add_packed(&runs)
    }

    /// Adds runs of packed events (bytes, how many events) after what waits, in the last chunk
    /// while it has room.
    fn add_packed(&self, runs: &[(&[u8], usize)]) -> bool {
        self.add_events(runs.iter().map(|&(_, count)| count).sum(), |waiting| {
            for &(run, count) in runs {
                let last = match waiting.messages.back_mut() {
                    Some(Message::Packed(packed)) => Some(packed),
                    _ => None,
                };
                if let Some(next) = Packed::append(last, run, count, &mut waiting.spare) {
                    waiting.messages.push_back(Message::Packed(next));
                }
            }
        })
    }

    /// Adds the events of one request made of many tasks, packed before the lock is taken:
    /// the batch itself is not kept (the supervisor lets go of it once it is told).
    fn send_batch(&self, events: &[Event]) -> bool {
        let chunks = Packed::batch(events);
        self.add_events(events.len(), |waiting| {
            waiting.messages.push_back(Message::Batch(chunks))
        })
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Self::new(&self.0)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut waiting = self.0.lock();
        waiting.senders -= 1;
        if waiting.senders == 0 && waiting.asleep {
            self.0.ready.notify_one();
        }
    }
}

/// Writes the output on a thread of its own. Write errors (a closed pipe, a hung-up terminal)
/// stop the writing and are announced through `closed`.
struct Printer {
    sender: Sender,
    closed: CancellationToken,
    /// Disconnected when the thread has written everything it will write.
    done: mpsc::Receiver<()>,
    queue: Arc<Queue>,
    /// Bytes the thread has written: the writing still moves while this grows.
    progress: Arc<AtomicU64>,
    /// Report chunks sent and not yet taken, and word of each taken.
    reports_waiting: Arc<AtomicUsize>,
    report_taken: Arc<std::sync::Mutex<mpsc::Receiver<()>>>,
    /// Watches stdout for a reader that went away while nothing is written.
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl Printer {
    fn start(
        output: Output,
        out: impl Write + Send + 'static,
        is_stdout: bool,
        backlog: usize,
    ) -> io::Result<Self> {
        let queue = Arc::new(Queue::new(backlog));
        let sender = Sender::new(&queue);
        let closed = CancellationToken::new();
        let (on_done, done) = mpsc::channel::<()>();
        let progress = Arc::new(AtomicU64::new(0));
        let reports_waiting = Arc::new(AtomicUsize::new(0));
        let (on_report_taken, report_taken) = mpsc::channel();
        let printing = Printing {
            output,
            is_stdout,
            closed: closed.clone(),
            progress: progress.clone(),
            reports_waiting: reports_waiting.clone(),
            on_report_taken,
        };
        // Never joined: a thread stuck writing to a reader that does not read is left behind
        // at exit rather than waited for.
        std::thread::Builder::new()
            .name("taskmon-output".into())
            .spawn({
                let queue = queue.clone();
                move || {
                    let _done = on_done;
                    printing.print(out, &queue);
                    queue.end();
                }
            })?;
        let watch = is_stdout.then(|| {
            let closed = closed.clone();
            tokio::spawn(async move {
                stdout_gone().await;
                closed.cancel();
            })
        });
        Ok(Self {
            sender,
            closed,
            done,
            queue,
            progress,
            reports_waiting,
            report_taken: Arc::new(std::sync::Mutex::new(report_taken)),
            watch,
        })
    }

    fn send(&self, message: Message) {
        // The thread only ends when told to.
        self.sender.send(message);
    }

    /// Sends a chunk of report lines, then waits until at most one chunk is left to write, so
    /// that a million tasks' report is never held whole. Gives up, returning false, once the
    /// writing has not moved for [`OUTPUT_DEADLINE`] (on the wall clock, as in `finish`).
    async fn print_reports(&self, lines: Vec<u8>) -> bool {
        self.reports_waiting.fetch_add(1, Ordering::AcqRel);
        self.send(Message::Reports(lines));
        let (waiting, taken, progress) = (
            self.reports_waiting.clone(),
            self.report_taken.clone(),
            self.progress.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let taken = taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut seen = progress.load(Ordering::Relaxed);
            while waiting.load(Ordering::Acquire) > 1 {
                if hear_from_writer(&taken, &progress, &mut seen) != Heard::Word {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false)
    }

    /// Has `sup`'s events sent here as they happen, as many as the backlog holds.
    fn subscribe(&self, sup: &Supervisor) {
        let sender = self.sender.clone();
        sup.on_delivery(move |events| match events {
            Delivery::One(event) => sender.send_event(&event),
            Delivery::Many(events) => sender.send_events(&events),
        });
    }

    /// Resolves when stdout can no longer be written: a write failed, or, with nothing being
    /// written, a pipe's reader went away (`| head -1`) or a terminal hung up.
    async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Waits until everything sent has been written, or stdout closed, or [`OUTPUT_DEADLINE`]
    /// has passed on the wall clock (the reader is not tokio's to pause) without the writing
    /// moving: whether it all was. A slow reader that keeps reading (a million tasks' report
    /// going to a file) is waited for; one that stopped is not.
    async fn finish(self) -> bool {
        if let Some(watch) = self.watch {
            watch.abort();
        }
        self.sender.send(Message::Finish);
        let (done, progress) = (self.done, self.progress);
        tokio::task::spawn_blocking(move || {
            let mut seen = progress.load(Ordering::Relaxed);
            loop {
                match hear_from_writer(&done, &progress, &mut seen) {
                    Heard::Word => {}
                    Heard::HungUp => return true,
                    Heard::Stalled => return false,
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// What waiting on the printing thread came to.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// It sent word on the channel.
    Word,
    /// It let go of the channel.
    HungUp,
    /// Its writing did not move for [`OUTPUT_DEADLINE`]: a reader that stopped reading.
    Stalled,
}

/// Waits for word from the printing thread on `from`, on the wall clock (the reader is not
/// tokio's to pause), as long as its writing moves: `seen` is the progress last seen moving.
fn hear_from_writer(from: &mpsc::Receiver<()>, progress: &AtomicU64, seen: &mut u64) -> Heard {
    loop {
        match from.recv_timeout(OUTPUT_DEADLINE) {
            Ok(()) => return Heard::Word,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Heard::HungUp,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = progress.load(Ordering::Relaxed);
                if now == *seen {
                    return Heard::Stalled;
                }
                *seen = now;
            }
        }
    }
}

/// Lowers this thread's scheduling priority: on a busy machine, printing what happened must not
/// take the CPU from what happens (a stop, a join). Linux gives each thread its own nice value.
fn yield_the_cpu_to_tasks() {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, 19);
    }
}

/// Resolves when stdout reports an error condition, as a pipe does once its reader has gone;
/// never for stdout that cannot be watched (a regular file, which cannot go away).
async fn stdout_gone() {
    use std::os::fd::AsFd;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    let Ok(stdout) = io::stdout().as_fd().try_clone_to_owned() else {
        return std::future::pending().await;
    };
    // SAFETY: the descriptor is our own duplicate, owned by the `AsyncFd` and closed only when
    // it is dropped, so it stays open and the same for the registration's whole life.
    match unsafe { AsyncFd::register_with_interest(stdout, Interest::ERROR) } {
        Ok(stdout) => {
            let _ = stdout.ready(Interest::ERROR).await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// What the printing thread needs besides the output and its messages.
struct Printing {
    output: Output,
    /// Writing to stdout, which may be a terminal the report should fit.
    is_stdout: bool,
    closed: CancellationToken,
    progress: Arc<AtomicU64>,
    reports_waiting: Arc<AtomicUsize>,
    on_report_taken: mpsc::Sender<()>,
}

impl Printing {
    fn print(self, out: impl Write, queue: &Queue) {
        yield_the_cpu_to_tasks();
        let mut out = io::BufWriter::new(Counted {
            out,
            progress: self.progress.clone(),
        });
        let mut writing = true;
        // Nothing waiting: show what is written so far, then wait.
        let show = |out: &mut io::BufWriter<_>, writing: &mut bool| {
            if *writing && out.flush().is_err() {
                *writing = false;
                self.closed.cancel();
            }
        };
        let mut written = None;
        let mut lines = EventLines::new(self.output);
        while let Some(message) = queue.next(written.take(), || show(&mut out, &mut writing)) {
            if matches!(message, Message::Finish) {
                break;
            }
            if writing && write(&mut out, self.output, &message, self.is_stdout, &mut lines).is_err() {
                writing = false;
                self.closed.cancel();
            }
            if let Message::Reports(_) = message {
                self.reports_waiting.fetch_sub(1, Ordering::AcqRel);
                let _ = self.on_report_taken.send(());
            }
            written = Some(message);
        }
        show(&mut out, &mut writing);
    }
}

/// An output that counts the bytes it took, so a reader that is slow can be told from one that
/// stopped.
struct Counted<W> {
    out: W,
    progress: Arc<AtomicU64>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why events go missing from the output.
const FELL_BEHIND: &str = "the reader of the output fell behind";

/// The JSON `end` line: of the output, and of the `--report` file.
pub fn end_json(reason: EndReason, events_dropped: u64) -> serde_json::Value {
    serde_json::json!({"type": "end", "reason": reason.as_str(), "events_dropped": events_dropped})
}

fn write_events(out: &mut impl Write, packed: &Packed, lines: &mut EventLines) -> io::Result<()> {
    packed.for_each_packed(|e| lines.write(out, e))
}

fn write(
    out: &mut impl Write,
    output: Output,
    message: &Message,
    is_stdout: bool,
    lines: &mut EventLines,
) -> io::Result<()> {
    match (output, message) {
        (_, Message::Packed(packed)) => write_events(out, packed, lines),
        (_, Message::Batch(chunks)) => chunks
            .iter()
            .try_for_each(|packed| write_events(out, packed, lines)),
        (Output::Text, Message::Gap(n)) => {
            writeln!(out, "-- {n} events not written here: {FELL_BEHIND}")
        }
        (Output::Json, Message::Gap(n)) => writeln!(
            out,
            "{}",
            serde_json::json!({"type": "gap", "events_dropped": n})
        ),
        (Output::Text, Message::Note(text)) => writeln!(out, "-- {text}"),
        (Output::Json, Message::Note(_)) | (Output::Text, Message::End(_, 0)) => Ok(()),
        (Output::Text, Message::End(_, dropped)) => {
            writeln!(out, "-- {dropped} events in all not written: {FELL_BEHIND}")
        }
        (Output::Json, Message::End(reason, dropped)) => {
            writeln!(out, "{}", end_json(*reason, *dropped))
        }
        (Output::Text, Message::Summary(digest)) => {
            let width = if is_stdout {
                format::stdout_width()
            } else {
                None
            };
            write!(out, "\n{}", digest.summary(width))
        }
        (Output::Text, Message::Reports(_)) | (Output::Json, Message::Summary(_)) => Ok(()),
        (Output::Json, Message::Reports(lines)) => out.write_all(lines),
        (_, Message::Finish) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::State;

    fn event(id: TaskId, task: &str, kind: EventKind, detail: Detail) -> Event {
        Event {
            at: Local::now(),
            since_start: Duration::from_millis(id),
            id,
            task: task.into(),
            task_kind: "select".into(),
            kind,
            detail,
        }
    }

    /// The ids of a chunk's events, in order.
    fn ids_in(packed: &Packed) -> Vec<TaskId> {
        let mut ids = Vec::new();
        packed
            .for_each(|e| {
                ids.push(e.id);
                Ok(())
            })
            .unwrap();
        ids
    }

    fn events() -> Vec<Event> {
        let long = "x".repeat(3 * PACKED_EVENT_ROOM);
        vec![
            event(1, "load-1", EventKind::Spawned, Detail::Spawned { kind: "select".into(), parent: Some(7) }),
            event(2, "evil\u{1b}[2J", EventKind::StopRequested, Detail::StopRequested { grace: Duration::from_secs(3), cascaded_from: None }),
            event(3, "c", EventKind::StopNoticed, Detail::None),
            event(4, "d", EventKind::Panicked, Detail::Panicked { message: long.as_str().into() }),
            event(u64::MAX, "e", EventKind::Joined, Detail::Joined { state: State::Stopped, stop_latency: Some(Duration::from_nanos(u64::MAX)), cleanup: None }),
        ]
    }

    #[test]
    fn packed_events_read_back_as_they_were_and_print_the_same_lines() {
        let events = events();
        let mut packed = Packed::default();
        for e in &events {
            let mut room = [0; PACKED_EVENT_ROOM];
            assert!(packed.push(&Packed::pack(e, &mut room), 1));
        }
        assert_eq!(packed.count, events.len());
        let mut read = Vec::new();
        packed
            .for_each(|e| {
                read.push((e.at.timestamp_millis(), e.id, e.task.to_string(), e.kind, e.detail.clone(), format::event_line(e)));
                Ok(())
            })
            .unwrap();
        let expected: Vec<_> = events
            .iter()
            .map(|e| (e.at.timestamp_millis(), e.id, e.task.to_string(), e.kind, e.detail.clone(), format::event_line(e)))
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_full_chunk_begins_another_and_an_event_longer_than_a_chunk_has_one_of_its_own() {
        let e = event(1, "load-1", EventKind::StopNoticed, Detail::None);
        let mut room = [0; PACKED_EVENT_ROOM];
        let bytes = Packed::pack(&e, &mut room).into_owned();
        let mut packed = Packed::default();
        let fit = PACKED_CHUNK / bytes.len();
        for _ in 0..fit {
            assert!(packed.push(&bytes, 1));
        }
        assert!(!packed.push(&bytes, 1), "a chunk holds {fit}");
        assert_eq!(packed.bytes.capacity(), PACKED_CHUNK, "it never grew");
        let huge = vec![0; PACKED_CHUNK * 2];
        let mut long = Packed::default();
        assert!(long.push(&huge, 1));
        assert!(long.into_spare().is_none(), "a buffer past a chunk's size is not kept");
        assert_eq!(packed.into_spare().map(|b| b.len()), Some(0), "kept, emptied");
    }

    #[test]
    fn a_full_backlog_drops_events_and_says_so_before_the_next_it_takes() {
        let queue = Arc::new(Queue::new(2));
        let sender = Sender::new(&queue);
        let all = events();
        sender.send_batch(&all[..1]);
        sender.send_event(&all[1]);
        assert!(sender.send_event(&all[2]), "a drop is no reason to unsubscribe");
        assert!(sender.send_batch(&all[3..]));
        assert_eq!(queue.dropped(), 3);
        assert!(matches!(queue.next(None, || {}), Some(Message::Batch(_))));
        sender.send_event(&all[3]);
        drop(sender);
        let rest: Vec<_> = std::iter::from_fn(|| queue.next(None, || {})).collect();
        assert!(matches!(rest[0], Message::Packed(ref p) if p.count == 1), "all[1]");
        assert!(matches!(rest[1], Message::Gap(3)));
        assert!(matches!(rest[2], Message::Packed(ref p) if p.count == 1), "all[3]");
        assert_eq!(rest.len(), 3);
    }

    #[test]
    fn events_after_an_idle_spell_wait_out_the_linger_and_nothing_else_does() {
        let queue = Arc::new(Queue::new(10));
        let sender = Sender::new(&queue);
        let all = events();
        let idle = std::time::Instant::now();
        let later = |ms| idle + Duration::from_millis(ms);
        let linger = |at| queue.lock().linger(idle, at);
        assert_eq!(linger(later(30)), None, "nothing waits");
        sender.send_event(&all[0]);
        assert_eq!(linger(later(30)), Some(Duration::from_millis(70)));
        assert_eq!(linger(later(100)), None, "waited long enough");
        assert_eq!(linger(later(5_000)), None, "a quiet spell ended");
        for e in &all[1..] {
            sender.send_event(e);
        }
        assert_eq!(linger(later(30)), None, "half the backlog is held");
        queue.lock().messages.clear();
        queue.lock().held = 0;
        sender.send(Message::Note("a note".into()));
        sender.send_event(&all[0]);
        assert_eq!(linger(later(30)), None, "a note is not held back, nor what follows it");
        queue.lock().take();
        assert!(linger(later(30)).is_some(), "events behind it are");
        drop(sender);
        assert_eq!(linger(later(30)), None, "the last sender has gone: all is written at once");
    }

    #[test]
    fn a_poll_s_events_join_the_last_chunk_together_a_long_one_among_them_too() {
        let queue = Arc::new(Queue::new(usize::MAX));
        let sender = Sender::new(&queue);
        let all = events();
        sender.send_event(&all[0]);
        sender.send_events(&all[1..3]);
        sender.send_events(&all[3..]);
        drop(sender);
        let Some(Message::Packed(packed)) = queue.next(None, || {}) else {
            unreachable!("single events and a poll's are packed")
        };
        assert_eq!(ids_in(&packed), [1, 2, 3, 4, u64::MAX], "one chunk, in order");
        let mut lines = Vec::new();
        packed
            .for_each(|e| {
                lines.push(format::event_line(e));
                Ok(())
            })
            .unwrap();
        let expected: Vec<_> = all.iter().map(format::event_line).collect();
        assert_eq!(lines, expected, "the panic's long message too");
        assert!(queue.next(None, || {}).is_none());
    }

    #[test]
    fn event_lines_are_event_line_s_and_serde_json_s_byte_for_byte_times_and_details_repeated_or_not() {
        let mut all = events();
        let quoted = "q\"uo\\te\u{7f}\u{202e}é\t\n\u{1}";
        let stop = Detail::StopRequested {
            grace: Duration::from_secs(3),
            cascaded_from: None,
        };
        all.push(event(5, quoted, EventKind::StopRequested, stop.clone()));
        all.push(event(6, "say \"hi\"", EventKind::StopRequested, stop.clone()));
        all.push(event(7, "new-detail", EventKind::StopRequested, Detail::StopRequested {
            grace: Duration::from_secs(3),
            cascaded_from: Some(5),
        }));
        all.push(event(8, "no-detail", EventKind::CleanupStarted, Detail::None));
        // One millisecond later, then back: the time is written anew each time it changes.
        let later = all[7].at + chrono::TimeDelta::milliseconds(1);
        all.push(Event { at: later, ..event(9, "later", EventKind::Joined, Detail::None) });
        let earlier = all[7].at;
        all.push(Event { at: earlier, ..event(10, "again", EventKind::Joined, Detail::None) });
        // Names wider than their column, of characters of several bytes; details that end in
        // spaces, which a text line does not keep.
        all.push(event(11, "名前の長いタスクです-名前の長いタスクです", EventKind::Panicked, Detail::Panicked { message: "oops \u{a0}\u{3000}".into() }));
        all.push(event(12, "ünïcödé", EventKind::Errored, Detail::Errored { message: "  ".into() }));
        all.push(event(13, "a-name-of-exactly-22-c", EventKind::StopNoticed, Detail::None));
        for output in [Output::Json, Output::Text] {
            let mut written = Vec::new();
            let mut lines = EventLines::new(output);
            for e in &all {
                let mut room = [0; PACKED_EVENT_ROOM];
                let packed = Packed::pack(e, &mut room);
                let (event, rest): (PackedEvent<'_>, _) =
                    postcard::take_from_bytes(&packed).unwrap();
                assert!(rest.is_empty());
                lines.write(&mut written, event).unwrap();
            }
            let expected: String = all
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    // Packed events keep the millisecond, as the lines do.
                    e.at = local_time(e.at.timestamp_millis(), e.at.offset().local_minus_utc());
                    let line = match output {
                        Output::Json => serde_json::to_string(&format::event_json(&e)).unwrap(),
                        Output::Text => format::event_line(&e),
                    };
                    format!("{line}\n")
                })
                .collect();
            assert_eq!(String::from_utf8(written).unwrap(), expected, "{output:?}");
        }
    }

    #[test]
    fn a_written_chunk_s_buffer_makes_the_next_chunk() {
        let queue = Arc::new(Queue::new(usize::MAX));
        let sender = Sender::new(&queue);
        let all = events();
        sender.send_event(&all[0]);
        let first = queue.next(None, || {}).expect("the event");
        let Message::Packed(ref packed) = first else {
            unreachable!("a single event is packed")
        };
        let buffer = packed.bytes.as_ptr();
        sender.send_event(&all[1]);
        sender.send(Message::Note("after".into()));
        let Some(Message::Packed(second)) = queue.next(Some(first), || {}) else {
            unreachable!("the second event, before the note")
        };
        assert_eq!(ids_in(&second), [2], "the reused buffer begins empty");
        assert_ne!(second.bytes.as_ptr(), buffer, "made before the first was given back");
        sender.send_event(&all[2]);
        sender.send(Message::Note("after".into()));
        let mut next = queue.next(Some(Message::Packed(second)), || {});
        assert!(matches!(next, Some(Message::Note(_))));
        next = queue.next(next, || {});
        let Some(Message::Packed(third)) = next else {
            unreachable!("the third event")
        };
        assert_eq!(third.count, 1);
        assert_eq!(third.bytes.as_ptr(), buffer, "the first chunk's buffer, not a new one");
        assert_eq!(queue.lock().spare.len(), 1, "the other written chunk's, kept");
    }

    #[test]
    fn single_events_and_batches_reach_the_printer_in_the_order_sent() {
        let queue = Arc::new(Queue::new(usize::MAX));
        let sender = Sender::new(&queue);
        let all = events();
        sender.send_event(&all[0]);
        sender.send_event(&all[1]);
        sender.send_batch(&all[2..3]);
        sender.send_event(&all[3]);
        drop(sender);
        let mut ids = Vec::new();
        while let Some(message) = queue.next(None, || {}) {
            match message {
                Message::Packed(packed) => ids.extend(ids_in(&packed)),
                Message::Batch(chunks) => chunks.iter().for_each(|packed| ids.extend(ids_in(packed))),
                _ => unreachable!("only events were sent"),
            }
        }
        assert_eq!(ids, [1, 2, 3, 4], "and with every sender gone, the queue ends");
        let late = Sender::new(&queue);
        queue.end();
        assert!(!late.send_event(&all[0]), "nothing is taken once the printer has ended");
    }
}
