//! Point-in-time copies of a task's record, for the dashboard and the reports.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::TaskId;
use super::entry::{
    FLAG_ABORT_IGNORED, FLAG_BUSY, FLAG_DROP_RAN, FLAG_ORPHAN, TaskEntry, Timeline,
};
use super::state::{Cleanup, Milestone, State};
use crate::journal::{self, LedgerReading};

/// One task as it was when the snapshot was taken.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSnapshot {
    pub id: TaskId,
    pub name: Arc<str>,
    pub kind: Arc<str>,
    pub state: State,
    pub cleanup: Cleanup,
    /// Progress of a cleanup under way or cut short, 0.0 to 1.0.
    pub cleanup_progress: Option<f32>,
    /// `ticks = persisted + lost + pending` for a journaled task; the last three are 0 without one.
    pub ledger: LedgerReading,
    pub journal_path: Option<Arc<Path>>,
    pub parent: Option<TaskId>,
    /// Its parent ended while it still ran.
    pub orphan: bool,
    /// An abort was asked of a blocking-pool task, which cannot be aborted.
    pub abort_ignored: bool,
    /// Inside synchronous work that nothing can interrupt.
    pub busy: bool,
    /// Its synchronous `Drop` has run.
    pub drop_ran: bool,
    pub panic_message: Option<Arc<str>>,
    pub timeline: Timeline,
    /// When a requested stop will be escalated to an abort, since the supervisor's start.
    pub escalation_at: Option<Duration>,
    /// Time since spawn, frozen at the join.
    pub age: Duration,
}

impl TaskSnapshot {
    pub(crate) fn read(entry: &TaskEntry, now: Duration) -> Self {
        // The end state is read first: once it is set, the ledger is final.
        let state = entry.state();
        let timeline = entry.timeline();
        let spawned = timeline.at(Milestone::Spawned).unwrap_or_default();
        let until = timeline.at(Milestone::Joined).unwrap_or(now);
        Self {
            id: entry.id,
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            state,
            cleanup: entry.cleanup(),
            cleanup_progress: entry.cleanup_progress(),
            ledger: entry.ledger.read(entry.journal_path.is_some()),
            journal_path: entry.journal_path.clone(),
            parent: entry.parent,
            orphan: entry.flag(FLAG_ORPHAN),
            abort_ignored: entry.flag(FLAG_ABORT_IGNORED),
            busy: entry.flag(FLAG_BUSY),
            drop_ran: entry.flag(FLAG_DROP_RAN),
            panic_message: entry.panic_message.get().cloned(),
            timeline,
            escalation_at: entry.escalation_deadline(),
            age: until.saturating_sub(spawned),
        }
    }

    /// Time from the stop or abort request to the join.
    pub fn stop_latency(&self) -> Option<Duration> {
        self.timeline.stop_latency()
    }

    pub fn ticks(&self) -> u64 {
        self.ledger.ticks
    }
}

/// A task's final snapshot with its journal read back.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskReport {
    pub snapshot: TaskSnapshot,
    /// Records found in the journal file; `None` without a journal.
    pub records_on_disk: Option<u64>,
    /// The file holds exactly the persisted records, in order; `None` without a journal.
    pub journal_verified: Option<bool>,
}

impl TaskReport {
    pub(crate) fn verify(snapshot: TaskSnapshot) -> Self {
        let found = snapshot
            .journal_path
            .as_deref()
            .map(|path| journal::verify(path, snapshot.ledger.persisted));
        Self {
            records_on_disk: found
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|v| v.records),
            journal_verified: found.map(|r| r.is_ok_and(|v| v.verified)),
            snapshot,
        }
    }
}
