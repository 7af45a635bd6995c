//! The recording's file format, shared by the writer and the reader.
//!
//! ```text
//! segment  = magic "TASKMON\x1aREC" · version u32 · header length u32 · header · header crc32
//!            · chunk*
//! chunk    = payload length u32 · payload crc32 · payload
//! payload  = flags u8 · zstd bytes
//! ```
//!
//! A chunk holds about a second of records: the zstd stream of its frame flushed, so a chunk's
//! bytes decompress to whole records. A chunk flagged [`FRAME_START`] begins a new zstd frame
//! whose first record is a key sample (every task's figures whole); the chunks after it until the
//! next such chunk continue the frame, so one second compresses against the seconds before it.
//! A seek decompresses from the nearest key sample on. Inside a frame each record is its length
//! (LEB128) and its postcard bytes. Integers are little-endian.
//!
//! postcard (serde, varint integers) with zstd: the same events and samples as JSON lines took
//! 12–20x the bytes on disk (see the README's "Recording" section for the measured sizes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use crate::supervisor::{
    Blocking, Cleanup, Detail, EventKind, Label, POLL_BUCKETS, SpawnSite, TaskId, TaskSnapshot,
    Timeline,
};

/// The first bytes of every segment.
pub const MAGIC: &[u8; 11] = b"TASKMON\x1aREC";
/// The version of the format this taskmon writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A chunk begins a zstd frame that starts with a key sample.
pub const FRAME_START: u8 = 1;
/// The largest header or chunk a reader takes: a length beyond it is a lie or damage.
pub const MAX_CHUNK: usize = 64 << 20;
/// The most a frame may decompress to: what a hostile file can make a reader hold.
pub const MAX_FRAME_BYTES: usize = 1 << 30;
/// The most tasks a recording may describe.
pub const MAX_TASKS: usize = 10_000_000;

/// What a recording says about itself, at the start of each segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The program's name (its executable's file name).
    pub program: String,
    /// Its process id.
    pub pid: u32,
    /// The supervisor's start on the wall clock: an event's time is this plus its offset.
    pub started: DateTime<Local>,
    /// When the recording began, since the supervisor's start.
    pub recording_from: Duration,
    /// The taskmon that wrote it.
    pub taskmon: String,
    /// The scenario played, when there was one: where it came from and what it says.
    pub scenario: Option<String>,
    /// The same number in every segment of one recording.
    pub run: u64,
    /// This segment's number, from 0; a rotated recording's older segments are `FILE.N`.
    pub segment: u64,
    /// The slow-poll threshold the supervisor used.
    pub slow_poll: Duration,
    /// The grace period when the recording began (each sample has the one then).
    pub grace: Duration,
}

/// What never changes about a task, written once per segment, before anything that names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: TaskId,
    pub name: Arc<str>,
    pub kind: Label,
    pub parent: Option<TaskId>,
    /// When it was spawned, since the supervisor's start.
    pub spawned: Duration,
    pub journaled: bool,
    pub detached: bool,
    pub location: Option<SpawnSite>,
}

impl TaskRecord {
    pub fn of(s: &TaskSnapshot) -> Self {
        Self {
            id: s.id,
            name: s.name.clone(),
            kind: s.kind.clone(),
            parent: s.parent,
            spawned: s.timeline.at(EventKind::Spawned).unwrap_or_default(),
            journaled: s.journaled,
            detached: s.detached,
            location: s.location.clone(),
        }
    }
}

/// A task's figures that move every second: kept as deltas against the sample before.
pub const NUMBERS: usize = 9;
/// Indexes into [`Numbers`].
pub mod number {
    pub const TICKS: usize = 0;
    pub const PERSISTED: usize = 1;
    pub const LOST: usize = 2;
    pub const PENDING: usize = 3;
    pub const POLLS: usize = 4;
    pub const BUSY_MICROS: usize = 5;
    pub const MAX_POLL_MICROS: usize = 6;
    pub const SLOW_POLLS: usize = 7;
    pub const RESTARTS: usize = 8;
}
pub type Numbers = [u64; NUMBERS];

/// A task's figures that seldom change: written whole when they do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attrs {
    pub cleanup: Cleanup,
    pub cleanup_progress: Option<f32>,
    pub journal_error: Option<Arc<str>>,
    pub orphan: bool,
    pub abort_ignored: bool,
    pub busy: bool,
    pub drop_ran: bool,
    pub panic_message: Option<Arc<str>>,
    pub error: Option<Arc<str>>,
    pub note: Option<Arc<str>>,
    pub timeline: Timeline,
    pub escalation_at: Option<Duration>,
    pub restart_storm: bool,
    pub blocking: Option<Blocking>,
}

/// A task's own counts, by name.
pub type Counters = Vec<(Arc<str>, u64)>;

/// One task's reading, split as the file keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub numbers: Numbers,
    pub state: u8,
    pub attrs: Attrs,
    pub histogram: [u64; POLL_BUCKETS],
    pub counters: Counters,
}

/// To the nearest microsecond, as the JSON reports round them.
fn micros(d: Duration) -> u64 {
    ((d.as_nanos() + 500) / 1000).min(u64::MAX as u128) as u64
}

impl Reading {
    /// Whether nothing but (when `histograms` is false) the histogram differs.
    pub fn same_but_histogram(&self, other: &Reading, histograms: bool) -> bool {
        self.numbers == other.numbers
            && self.state == other.state
            && (!histograms || self.histogram == other.histogram)
            && self.attrs == other.attrs
            && self.counters == other.counters
    }

    /// The parts of a snapshot that can change; the others are in its [`TaskRecord`].
    pub fn of(s: TaskSnapshot) -> Self {
        let journal = s.ledger.counts();
        let mut numbers = [0; NUMBERS];
        numbers[number::TICKS] = s.ledger.ticks;
        numbers[number::PERSISTED] = journal.persisted;
        numbers[number::LOST] = journal.lost;
        numbers[number::PENDING] = journal.pending;
        numbers[number::POLLS] = s.polls.polls;
        // To 10 µs: busy time's last digits are noise that costs a third of a recording's
        // bytes; rounding the running total (not each second's part) keeps the error under 5 µs.
        numbers[number::BUSY_MICROS] = (micros(s.polls.busy) + 5) / 10 * 10;
        numbers[number::MAX_POLL_MICROS] = micros(s.polls.max_poll);
        numbers[number::SLOW_POLLS] = s.polls.slow_polls;
        numbers[number::RESTARTS] = u64::from(s.restarts);
        Self {
            numbers,
            state: s.state.code(),
            histogram: s.polls.histogram,
            counters: s.counters,
            attrs: Attrs {
                cleanup: s.cleanup,
                cleanup_progress: s.cleanup_progress,
                journal_error: s.journal_error,
                orphan: s.orphan,
                abort_ignored: s.abort_ignored,
                busy: s.busy,
                drop_ran: s.drop_ran,
                panic_message: s.panic_message,
                error: s.error,
                note: s.note,
                timeline: s.timeline,
                escalation_at: s.escalation_at,
                restart_storm: s.restart_storm,
                blocking: s.polls.blocking,
            },
        }
    }
}

/// Once a second: the figures of the tasks that changed since the sample before (of every task
/// in a key sample, whose deltas are against zero), column by column, which compresses best.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Since the supervisor's start.
    pub at: Duration,
    /// Every task is listed, with its figures whole.
    pub key: bool,
    pub grace: Duration,
    /// How many tasks had been spawned.
    pub tasks: u64,
    /// The ids listed, each as its distance from the one before (the first from 0).
    pub ids: Vec<u64>,
    pub states: Vec<u8>,
    /// Per figure of [`Numbers`], one delta per task listed.
    pub numbers: [Vec<i64>; NUMBERS],
    /// Histogram changes: the listed task's place, the bucket, the delta.
    pub histogram: Vec<(u32, u8, i64)>,
    /// Seldom-changing figures, for the listed tasks (by place) whose figures changed.
    pub attrs: Vec<(u32, Attrs)>,
    pub counters: Vec<(u32, Counters)>,
}

/// One record of a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Task(TaskRecord),
    Event {
        since_start: Duration,
        id: TaskId,
        kind: EventKind,
        detail: Detail,
    },
    Sample(Box<Sample>),
    /// What the recorder could not keep up with since the gap before.
    Gap {
        at: Duration,
        events: u64,
        samples: u64,
    },
    /// The recording was stopped.
    End {
        at: Duration,
    },
}

/// Appends `record`, its length first.
pub fn put(out: &mut Vec<u8>, record: &Record) {
    let bytes = postcard::to_stdvec(record).expect("records serialize");
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(&bytes);
}

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The next record's bytes in `data` from `*at`, moving past it; `None` at the end or at a
/// record cut short.
pub fn next_record<'a>(data: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = *at;
    loop {
        let byte = *data.get(i)?;
        i += 1;
        if shift > 63 {
            return None;
        }
        len |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let end = i.checked_add(usize::try_from(len).ok()?)?;
    let bytes = data.get(i..end)?;
    *at = end;
    Some(bytes)
}

/// Whether a record's bytes are a sample's, without decoding it (postcard writes the variant's
/// index first).
pub fn is_sample(bytes: &[u8]) -> bool {
    bytes.first() == Some(&2)
}

/// The bytes of a segment's start.
pub fn segment_start(header: &Header) -> Vec<u8> {
    let body = postcard::to_stdvec(header).expect("headers serialize");
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out
}

/// A chunk's bytes around `compressed`.
pub fn chunk(flags: u8, compressed: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(compressed.len() + 1);
    payload.push(flags);
    payload.extend_from_slice(compressed);
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Where the segments of a recording at `path` live: `path` itself is the newest; rotation
/// renames the segments before it to `path.N`.
pub fn segment_path(path: &std::path::Path, segment: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{segment}"));
    PathBuf::from(name)
}
