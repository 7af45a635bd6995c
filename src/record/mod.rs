//! The flight recorder: every lifecycle event and, once a second, each task's figures (ticks,
//! state, ledger, polls, busy time, its own counters) written to a file that `taskmon replay`
//! plays back on the dashboard, long after the program is gone.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use taskmon::record::RecordOptions;
//! let sup = taskmon::Supervisor::builder()
//!     .record_with("service.tmrec", RecordOptions { max_bytes: Some(64 << 20), ..Default::default() })
//!     .build()?;
//! // … spawn and run tasks …
//! sup.shutdown(sup.grace()).await;
//! if let Some(summary) = sup.stop_recording() {
//!     eprintln!("recorded {} events in {} bytes", summary.events, summary.bytes);
//! }
//! // `taskmon replay service.tmrec` plays it back; `taskmon::record::Replay` reads it.
//! # Ok(()) }
//! ```
//!
//! The program never waits for the recorder: events are handed to a bounded queue (what does not
//! fit is counted and written as a gap) and a thread of the recorder's own compresses and writes
//! them. Samples are read once a second by a task on the supervisor's runtime, a few thousand
//! tasks at a time. The format is described in `src/record/file.rs`; [`reader`] reads one back.

// The format's parts are taskmon's own (its tests craft files with them); `Header` is public.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod file;
#[cfg(not(feature = "internals"))]
mod file;
pub mod reader;
mod writer;

pub use file::{FORMAT_VERSION, Header};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::supervisor::{BuildError, Kept, Supervisor, SupervisorBuilder, TaskId};
use writer::{Message, Writer};

pub use reader::{OpenError, Replay};

/// How a recording is made.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Keep only the newest this many bytes, in rotated segments (`FILE.N` beside `FILE`);
    /// `None` keeps everything.
    pub max_bytes: Option<u64>,
    /// How many hand-overs of events may wait for the recorder's thread before more are dropped
    /// (and counted).
    pub queue: usize,
    /// Written into the recording's header: the scenario played, if any.
    pub scenario: Option<String>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            max_bytes: None,
            queue: 262_144,
            scenario: None,
        }
    }
}

/// The smallest `max_bytes`: a segment must hold a key sample and a few seconds.
pub const MIN_MAX_BYTES: u64 = 64 << 10;

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be made.
    #[error("cannot record to {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One recording at a time.
    #[error("already recording to {0}")]
    Already(PathBuf),
    /// Recording reads the tasks on a tokio runtime.
    #[error("recording needs a tokio runtime: start it from async code")]
    NoRuntime,
    /// `max_bytes` below [`MIN_MAX_BYTES`].
    #[error("a recording of at most {0} bytes is too small: at least {MIN_MAX_BYTES} bytes")]
    TooSmall(u64),
}

/// How a recording went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Where it is.
    pub path: PathBuf,
    /// Events written.
    pub events: u64,
    /// Samples written.
    pub samples: u64,
    /// Events the recorder could not keep up with (written as gaps).
    pub events_dropped: u64,
    /// Samples skipped for the same reason.
    pub samples_dropped: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Bytes written and removed again by rotation.
    pub bytes_removed: u64,
    /// Segments made.
    pub segments: u64,
    /// The write that failed and ended the recording early (a full disk), if one did.
    pub error: Option<String>,
}

/// What the program, the sampler and the recorder's thread share.
#[derive(Default)]
struct Shared {
    events_dropped: AtomicU64,
    samples_dropped: AtomicU64,
    /// Samples in the queue: at most [`SAMPLES_QUEUED`] are, a sample holds every task.
    samples_queued: AtomicUsize,
    bytes: AtomicU64,
    error: Mutex<Option<String>>,
}

const SAMPLES_QUEUED: usize = 2;
/// How many tasks the sampler reads before it lets other tasks run.
const SAMPLE_CHUNK: usize = 4096;
/// How long the end of a recording waits for its thread.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// A recording under way; ended by [`Recording::finish`], or on drop (without a last sample).
pub struct Recording {
    path: PathBuf,
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
    sampler: CancellationToken,
    _events: crate::supervisor::Subscription,
    sup: std::sync::Weak<crate::supervisor::Inner>,
    ended: bool,
}

/// What a running recording has done so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordStatus {
    /// Where it goes.
    pub path: PathBuf,
    /// Bytes written so far.
    pub bytes: u64,
    /// Events it could not keep up with.
    pub events_dropped: u64,
    /// Seconds whose sample it could not keep up with.
    pub samples_dropped: u64,
    /// The write that failed, if one did.
    pub error: Option<String>,
}

impl Recording {
    /// Starts recording `sup` to `path`.
    fn start(sup: &Supervisor, path: &Path, options: RecordOptions) -> Result<Self, RecordError> {
        if let Some(max) = options.max_bytes
            && max < MIN_MAX_BYTES
        {
            return Err(RecordError::TooSmall(max));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RecordError::NoRuntime)?;
        let shared = Arc::new(Shared::default());
        let header = file::Header {
            program: std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "?".into()),
            pid: std::process::id(),
            started: sup.wall_time(Duration::ZERO),
            recording_from: sup.uptime(),
            taskmon: env!("CARGO_PKG_VERSION").to_string(),
            scenario: options.scenario.clone(),
            run: fastrand::u64(..),
            segment: 0,
            slow_poll: sup.slow_poll(),
            grace: sup.grace(),
        };
        let open_error = |source| RecordError::Open {
            path: path.to_path_buf(),
            source,
        };
        let writer = Writer::create(sup, path, options.max_bytes, header, shared.clone())
            .map_err(open_error)?;
        let (queue, messages) = std::sync::mpsc::sync_channel(options.queue.max(1));
        std::thread::Builder::new()
            .name("taskmon-record".into())
            .spawn(move || writer.run(messages))
            .map_err(open_error)?;
        let events = {
            let queue = queue.clone();
            let shared = shared.clone();
            sup.subscribe_scoped(
                move |delivery| match queue.try_send(Message::Events(delivery)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(Message::Events(delivery))) => {
                        let n = delivery.events().len() as u64;
                        shared.events_dropped.fetch_add(n, Ordering::Relaxed);
                        true
                    }
                    Err(_) => false,
                },
            )
        };
        // The first sample, now (after subscribing: no event falls between it and the next):
        // the recording begins with every task as it is.
        shared.samples_queued.fetch_add(1, Ordering::Relaxed);
        let first = Message::Sample {
            at: sup.uptime(),
            grace: sup.grace(),
            tasks: read_all(sup),
            last: false,
        };
        let _ = queue.try_send(first);
        let sampler = CancellationToken::new();
        runtime.spawn(sample_every_second(
            sup.downgrade(),
            queue.clone(),
            shared.clone(),
            sampler.clone(),
        ));
        Ok(Self {
            path: path.to_path_buf(),
            queue,
            shared,
            sampler,
            _events: events,
            sup: sup.downgrade(),
            ended: false,
        })
    }

    /// Where it goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it has done so far.
    pub fn status(&self) -> RecordStatus {
        RecordStatus {
            path: self.path.clone(),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            events_dropped: self.shared.events_dropped.load(Ordering::Relaxed),
            samples_dropped: self.shared.samples_dropped.load(Ordering::Relaxed),
            error: self
                .shared
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Waits (a few seconds at most) until what was handed to the recorder so far is in the
    /// file; false if it was not in time.
    pub fn flush(&self) -> bool {
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        let deadline = std::time::Instant::now() + FINISH_WAIT;
        send_before(&self.queue, Message::Flush(done), deadline)
            && answer
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .is_ok()
    }

    /// Takes a last sample, ends the file and waits (a few seconds at most) for the recorder's
    /// thread to have written it all.
    pub fn finish(mut self) -> RecordSummary {
        self.end(true)
    }

    fn end(&mut self, last_sample: bool) -> RecordSummary {
        self.ended = true;
        self.sampler.cancel();
        let wait = if last_sample {
            FINISH_WAIT
        } else {
            Duration::from_secs(1)
        };
        let deadline = std::time::Instant::now() + wait;
        let sup = Supervisor::upgrade(&self.sup);
        let at = sup.as_ref().map_or(Duration::ZERO, Supervisor::uptime);
        if last_sample && let Some(sup) = &sup {
            let tasks = read_all(sup);
            self.shared.samples_queued.fetch_add(1, Ordering::Relaxed);
            let sample = Message::Sample {
                at,
                grace: sup.grace(),
                tasks,
                last: true,
            };
            send_before(&self.queue, sample, deadline);
        }
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        let answered = send_before(&self.queue, Message::End { at, done }, deadline)
            .then(|| {
                answer
                    .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                    .ok()
            })
            .flatten();
        answered.unwrap_or_else(|| {
            let status = self.status();
            RecordSummary {
                path: self.path.clone(),
                bytes: status.bytes,
                events_dropped: status.events_dropped,
                samples_dropped: status.samples_dropped,
                error: Some(
                    "the recorder did not finish writing in time; the file ends early".into(),
                ),
                ..Default::default()
            }
        })
    }
}

/// Hands `message` to the recorder's thread, waiting for room until `deadline` at most: the end
/// of a program stays bounded when the disk under the recording hangs.
fn send_before(
    queue: &SyncSender<Message>,
    mut message: Message,
    deadline: std::time::Instant,
) -> bool {
    loop {
        match queue.try_send(message) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                message = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if !self.ended {
            self.end(false);
        }
    }
}

/// Every task's snapshot, read at once (for the last sample).
fn read_all(sup: &Supervisor) -> Vec<crate::supervisor::TaskSnapshot> {
    let ids: Vec<TaskId> = (1..=sup.len() as TaskId).collect();
    sup.snapshots(&ids)
}

/// Once a second, every task's snapshot for the recorder, read a chunk at a time so that no
/// worker is held for long; skipped (and counted) while the recorder has two waiting.
async fn sample_every_second(
    sup: std::sync::Weak<crate::supervisor::Inner>,
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let period = Duration::from_secs(1);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let Some(sup) = Supervisor::upgrade(&sup) else {
            return;
        };
        if shared.samples_queued.load(Ordering::Relaxed) >= SAMPLES_QUEUED {
            shared.samples_dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let at = sup.uptime();
        let total = sup.len() as TaskId;
        let mut tasks = Vec::with_capacity(total as usize);
        let mut next = 1;
        while next <= total {
            let end = (next + SAMPLE_CHUNK as TaskId - 1).min(total);
            let ids: Vec<TaskId> = (next..=end).collect();
            tasks.extend(sup.snapshots(&ids));
            next = end + 1;
            if next <= total {
                tokio::task::yield_now().await;
            }
        }
        shared.samples_queued.fetch_add(1, Ordering::Relaxed);
        let message = Message::Sample {
            at,
            grace: sup.grace(),
            tasks,
            last: false,
        };
        if let Err(TrySendError::Full(_)) = queue.try_send(message) {
            shared.samples_queued.fetch_sub(1, Ordering::Relaxed);
            shared.samples_dropped.fetch_add(1, Ordering::Relaxed);
        }
        if stop.is_cancelled() {
            return;
        }
    }
}

/// The supervisor's recording, shared by [`SupervisorBuilder::record`], `ctl record` and the
/// program's end.
#[derive(Default)]
struct Slot(Mutex<Option<Recording>>);

impl Supervisor {
    fn recording_slot(&self) -> Arc<Slot> {
        self.kept_or_insert(|| Arc::new(Slot::default()))
    }

    /// Starts recording to `path` (see [`crate::record`]); one recording at a time.
    pub fn record(
        &self,
        path: impl AsRef<Path>,
        options: RecordOptions,
    ) -> Result<(), RecordError> {
        let slot = self.recording_slot();
        let mut recording = slot.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = recording.as_ref() {
            return Err(RecordError::Already(r.path().to_path_buf()));
        }
        *recording = Some(Recording::start(self, path.as_ref(), options)?);
        Ok(())
    }

    /// Ends the recording under way with a last sample; `None` when there is none.
    pub fn stop_recording(&self) -> Option<RecordSummary> {
        let recording = self
            .recording_slot()
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        recording.map(Recording::finish)
    }

    /// Waits until what the recording under way was handed so far is in its file (a program
    /// that wants its last moments on disk, a test on a paused clock); false without a
    /// recording, or when its thread did not answer within seconds.
    pub fn flush_recording(&self) -> bool {
        let slot = self.recording_slot();
        let recording = slot.0.lock().unwrap_or_else(|p| p.into_inner());
        recording.as_ref().is_some_and(Recording::flush)
    }

    /// The recording under way, if any.
    pub fn recording(&self) -> Option<RecordStatus> {
        let slot = self.recording_slot();
        let recording = slot.0.lock().unwrap_or_else(|p| p.into_inner());
        recording.as_ref().map(Recording::status)
    }
}

/// Recording starts with the supervisor, before its first task.
impl SupervisorBuilder {
    /// Records the supervisor from its start to `path` (see [`crate::record`]).
    pub fn record(self, path: impl Into<PathBuf>) -> Self {
        self.record_with(path, RecordOptions::default())
    }

    /// [`SupervisorBuilder::record`] with options of your own.
    pub fn record_with(self, path: impl Into<PathBuf>, options: RecordOptions) -> Self {
        let path = path.into();
        self.on_start(Box::new(move |sup| {
            sup.record(&path, options)
                .map_err(|e| BuildError::Start(Box::new(e)))?;
            Ok(Box::new(()) as Kept)
        }))
    }
}
