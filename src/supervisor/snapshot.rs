//! Point-in-time copies of a task's record, for the dashboard and the reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::TaskId;
use super::entry::{
    FLAG_ABORT_IGNORED, FLAG_BUSY, FLAG_DROP_RAN, FLAG_ORPHAN, TaskEntry, Timeline,
};
use super::event::EventKind;
use super::label::Label;
use super::polls::{PollReading, SpawnSite};
use super::state::{Cleanup, State};
use crate::journal::{self, LedgerReading};

/// One task as it was when the snapshot was taken.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct TaskSnapshot {
    /// The task's id.
    pub id: TaskId,
    /// The task's name.
    pub name: Arc<str>,
    /// Its kind label.
    pub kind: Label,
    /// Where it is in its life.
    pub state: State,
    /// What became of its cleanup (`n/a` while it runs).
    pub cleanup: Cleanup,
    /// Progress of a cleanup under way or cut short, 0.0 to 1.0.
    pub cleanup_progress: Option<f32>,
    /// Ticks, and for a journaled task `ticks = persisted + lost + pending`.
    pub ledger: LedgerReading,
    /// Whether it keeps a journal; [`Supervisor::journal_path`](super::Supervisor::journal_path)
    /// says where.
    pub journaled: bool,
    /// Why the journal stopped being written, if it did.
    pub journal_error: Option<Arc<str>>,
    /// The task that spawned it, if it is a child.
    pub parent: Option<TaskId>,
    /// Its parent ended while it still ran.
    pub orphan: bool,
    /// An abort was asked of a blocking-pool task, which cannot be aborted.
    pub abort_ignored: bool,
    /// Inside synchronous work that nothing can interrupt.
    pub busy: bool,
    /// Its synchronous `Drop` has run.
    pub drop_ran: bool,
    /// The message of its last panic, if it panicked.
    pub panic_message: Option<Arc<str>>,
    /// The message of the error its last run returned, if it did.
    #[cfg_attr(feature = "serve", serde(default))]
    pub error: Option<Arc<str>>,
    /// How many times its restart policy (or a person) has run it again.
    pub restarts: u32,
    /// What the task's code says it is doing ([`TaskContext::set_note`](super::TaskContext::set_note)).
    pub note: Option<Arc<str>>,
    /// Started with a plain spawn by its parent: never joined, out of reach of stop-all and
    /// shutdown.
    pub detached: bool,
    /// When it reached each moment of its life.
    pub timeline: Timeline,
    /// When a requested stop will be escalated to an abort, since the supervisor's start.
    pub escalation_at: Option<Duration>,
    /// Time since spawn, frozen at the join.
    pub age: Duration,
    /// Its polls: how it uses its worker (all zero when the supervisor does not count them).
    pub polls: PollReading,
    /// Where in the program it was spawned.
    pub location: Option<SpawnSite>,
    /// Its restarts have reached its policy's limit within the limit's window.
    pub restart_storm: bool,
    /// The counts its code keeps ([`TaskContext::counter`](super::TaskContext::counter)), by
    /// name, in the order first asked for.
    #[cfg_attr(feature = "serve", serde(default))]
    pub counters: Vec<(Arc<str>, u64)>,
}

/// Something about a task that deserves a look (tokio-console calls them lints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Warning {
    /// A poll took at least the slow-poll threshold: it held its worker from other tasks.
    Blocked,
    /// It is inside such a poll now.
    Blocking,
    /// Its first poll has not returned: it blocked from the start.
    FirstPoll,
    /// Its restarts reached its policy's limit within the limit's window.
    RestartStorm,
    /// Journal records were lost.
    LostRecords,
}

impl Warning {
    /// The word in JSON and in the filter (`warn:blocked`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What it means, in a line, for the help.
    pub fn explain(self) -> &'static str {
        match self {
            Warning::Blocked => {
                "a poll took at least the slow-poll threshold: other tasks waited for its worker"
            }
            Warning::Blocking => "it is inside such a poll now, holding its worker (shown live)",
            Warning::FirstPoll => "its first poll never returned: it blocked from the start",
            Warning::RestartStorm => "its restarts reached the policy's limit within its window",
            Warning::LostRecords => "journal records were lost: dropped unflushed, or unwritable",
        }
    }

    /// Every warning, in the order shown.
    pub fn all() -> impl Iterator<Item = Warning> {
        <Warning as strum::IntoEnumIterator>::iter()
    }
}

impl TaskSnapshot {
    pub(crate) fn read(entry: &TaskEntry, now: Duration) -> Self {
        // The end state is read once, and first: once it is set, the join's stamp and the
        // ledger are final. A task read as live shows no join, even one recorded since.
        let end = entry.end_state();
        let mut timeline = entry.timeline();
        if end.is_none_or(|s| !s.is_ended()) {
            timeline = timeline.without(EventKind::Joined);
        }
        let state = end.unwrap_or_else(|| State::live(|kind| timeline.at(kind).is_some()));
        let spawned = timeline.at(EventKind::Spawned).unwrap_or_default();
        let (restarts, restart_storm) = entry.restart_figures(now);
        let until = timeline.at(EventKind::Joined).unwrap_or(now);
        Self {
            id: entry.id,
            name: entry.shared_name(),
            kind: entry.kind.clone(),
            state,
            cleanup: Cleanup::of(end, &timeline),
            cleanup_progress: entry.cleanup_progress(),
            ledger: entry.ledger(),
            journaled: entry.journaled(),
            journal_error: entry.journal_error(),
            parent: entry.parent(),
            orphan: entry.flag(FLAG_ORPHAN),
            abort_ignored: entry.flag(FLAG_ABORT_IGNORED),
            busy: entry.flag(FLAG_BUSY),
            drop_ran: entry.flag(FLAG_DROP_RAN),
            panic_message: entry.panic_message(),
            error: entry.error(),
            restarts,
            note: entry.note(),
            detached: entry.is_detached(),
            timeline,
            escalation_at: entry.escalation_deadline(),
            age: until.saturating_sub(spawned),
            polls: entry.activity.read(entry.id),
            location: entry.location.clone(),
            restart_storm,
            counters: entry.counters(),
        }
    }

    /// Time from the request that ended the task to its join.
    pub fn stop_latency(&self) -> Option<Duration> {
        self.timeline.stop_latency(self.state)
    }

    /// What deserves a look, in the order of [`Warning::all`].
    pub fn warnings(&self) -> Vec<Warning> {
        Warning::all().filter(|w| self.warns(*w)).collect()
    }

    /// Whether `warning` holds for the task.
    pub fn warns(&self, warning: Warning) -> bool {
        let blocking = self.polls.blocking.is_some() && !self.state.is_ended();
        match warning {
            Warning::Blocked => self.polls.slow_polls > 0,
            Warning::Blocking => blocking,
            Warning::FirstPoll => blocking && self.polls.polls == 0,
            Warning::RestartStorm => self.restart_storm,
            Warning::LostRecords => self.ledger.counts().lost > 0,
        }
    }

    /// Ticks counted.
    pub fn ticks(&self) -> u64 {
        self.ledger.ticks
    }
}

/// A task's final snapshot with its journal read back.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskReport {
    /// The task as it ended.
    pub snapshot: TaskSnapshot,
    /// The journal file read back.
    pub journal_path: Option<PathBuf>,
    /// Records found in the journal file; `None` without a journal.
    pub records_on_disk: Option<u64>,
    /// The file holds exactly the persisted records, in order; `None` without a journal.
    pub journal_verified: Option<bool>,
    /// What the check found wrong, when it failed.
    pub journal_problem: Option<String>,
}

impl TaskReport {
    /// A row for a task still running (or not checked yet): no journal read back.
    #[cfg(feature = "serve")]
    pub(crate) fn unchecked(snapshot: TaskSnapshot) -> Self {
        Self {
            snapshot,
            journal_path: None,
            records_on_disk: None,
            journal_verified: None,
            journal_problem: None,
        }
    }

    pub(crate) fn verify(snapshot: TaskSnapshot, journal_path: Option<PathBuf>) -> Self {
        let found = journal_path
            .as_deref()
            .map(|path| journal::verify(path, snapshot.ledger.counts().persisted));
        Self {
            journal_path,
            records_on_disk: found.as_ref().map(|v| v.records),
            journal_verified: found.as_ref().map(|v| v.verified),
            journal_problem: found.and_then(|v| v.problem),
            snapshot,
        }
    }

    /// Whether the report shows something wrong with the journal: a failed write or a file
    /// that does not hold what was written.
    pub fn journal_failed(&self) -> bool {
        self.snapshot.journal_error.is_some() || self.journal_verified == Some(false)
    }
}
