//! What a supervised task's code gets to work with.

use std::io;
use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::entry::{FLAG_BUSY, FLAG_DROP_RAN, TaskEntry};
use super::event::{Detail, EventKind};
use super::{Launch, SupervisorError, TaskCounter, TaskDef, TaskId, TaskOutput};
use crate::journal::Journal;

/// Handed to every supervised task: its cancellation token, its tick counter and journal, and the
/// calls that report its phases so the dashboard can show them.
pub struct TaskContext {
    entry: Arc<TaskEntry>,
    /// This run's token.
    token: CancellationToken,
    /// Boxed: most tasks keep none, and every byte here is in every task's future.
    journal: Option<Box<Journal>>,
}

impl TaskContext {
    pub(crate) fn new(
        entry: Arc<TaskEntry>,
        token: CancellationToken,
        journal: Option<Journal>,
    ) -> Self {
        Self {
            entry,
            token,
            journal: journal.map(Box::new),
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.entry.id
    }

    /// How many times the task has been run again: 0 in its first run.
    pub fn restarts(&self) -> u32 {
        self.entry.restarts()
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The token a graceful stop cancels.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether a graceful stop has been requested (the token is cancelled).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when a graceful stop is requested.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Counts one tick (a relaxed atomic add) and, with a journal, adds its record to those
    /// pending.
    #[inline]
    pub fn tick(&mut self) -> u64 {
        let tick = self.entry.activity.tick();
        if let Some(journal) = self.journal.as_mut() {
            journal.append();
        }
        tick
    }

    /// The task's counter called `name`: a count of its own work (frames received, rows
    /// written) that the dashboard's detail pane, the JSON (`"counters"`) and the metrics show
    /// beside its ticks. The same counter in every run; at most [`MAX_COUNTERS`](super::MAX_COUNTERS)
    /// names are shown. Ask once and keep the handle: `add` is then one atomic add.
    pub fn counter(&self, name: &str) -> TaskCounter {
        self.entry.counters.get_or_init(Default::default).get(name)
    }

    /// Ticks counted so far.
    pub fn ticks(&self) -> u64 {
        self.entry.activity.ticks()
    }

    /// Records buffered but not yet written to the journal file.
    pub fn pending(&self) -> u64 {
        self.journal.as_deref().map_or(0, Journal::pending)
    }

    /// Flushes the journal when `flush_every` records are waiting.
    pub fn flush_journal_if_due(&mut self) -> io::Result<()> {
        match self.journal.as_ref() {
            Some(journal) if journal.flush_due() => self.flush_journal(),
            _ => Ok(()),
        }
    }

    /// Writes every record pending in the task's journal to its file. Named for the journal
    /// (taskmon's record of ticks, for the lessons), so it is not taken for a flush of your own
    /// writer; without a journal it does nothing.
    pub fn flush_journal(&mut self) -> io::Result<()> {
        self.flush_journal_records(usize::MAX)
    }

    /// Writes the oldest `count` pending records of the journal.
    ///
    /// A failed write (disk full, file too large) is not the task's to handle: the file is cut
    /// back to its last whole record, the records are booked lost, the task's row shows the
    /// error, and later ticks are booked lost too. The error is returned for code that wants to
    /// act on it; the built-in kinds carry on.
    pub fn flush_journal_records(&mut self, count: usize) -> io::Result<()> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let was_broken = journal.is_broken();
        let result = journal.flush_records(count);
        if let Err(e) = &result
            && !was_broken
        {
            let reason = e.to_string().into();
            self.emit(EventKind::JournalError, || Detail::JournalError { reason });
        }
        result
    }

    /// Runs `cleanup` as the task's cleanup and reports its phases, so its row, report and
    /// events say whether it ran: the stop noticed (when one was asked for), cleanup started,
    /// and cleanup finished once `cleanup` completes — without an error, when it returns a
    /// `Result`. Its output is handed back, so `?` passes an error on: the task ends `errored`
    /// with its cleanup `partial`. An abort or escalation during it leaves it `partial` too.
    ///
    /// ```
    /// # async fn example(ctx: taskmon::TaskContext) -> Result<(), std::io::Error> {
    /// # let mut writer = tokio::io::sink();
    /// use tokio::io::AsyncWriteExt;
    /// ctx.cancelled().await;
    /// ctx.cleanup(async { writer.flush().await }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cleanup<T: TaskOutput>(&self, cleanup: impl Future<Output = T>) -> T {
        if self.is_cancelled() {
            self.stop_noticed();
        }
        self.cleanup_started();
        let output = cleanup.await;
        if !output.is_error() {
            self.cleanup_finished();
        }
        output
    }

    /// Reports that the task has seen the stop request and leaves its loop. The three reports
    /// by hand (this, [`cleanup_started`](Self::cleanup_started),
    /// [`cleanup_finished`](Self::cleanup_finished)) are for code whose cleanup is not one
    /// future; [`cleanup`](Self::cleanup) makes all three.
    pub fn stop_noticed(&self) {
        self.emit(EventKind::StopNoticed, || Detail::None);
    }

    /// Reports that the task's cleanup begins: from here an abort leaves it `partial`.
    pub fn cleanup_started(&self) {
        self.entry.set_cleanup_progress(0.0);
        self.emit(EventKind::CleanupStarted, || Detail::None);
    }

    /// Cleanup progress from 0.0 to 1.0, shown on the dashboard.
    pub fn cleanup_progress(&self, fraction: f32) {
        self.entry.set_cleanup_progress(fraction);
    }

    /// Reports that the task's cleanup is complete: cleanup `ran`.
    pub fn cleanup_finished(&self) {
        self.entry.set_cleanup_progress(1.0);
        self.emit(EventKind::CleanupFinished, || Detail::None);
    }

    /// Marks the task as inside synchronous work that no stop or abort can interrupt.
    pub fn set_busy(&self, busy: bool) {
        self.entry.set_flag(FLAG_BUSY, busy);
    }

    /// Spawns a child task whose token is a child of this task's token, so a graceful stop of this
    /// task reaches it too; an abort of this task does not, and leaves it an orphan.
    pub fn spawn_child<L: Launch>(&self, def: TaskDef<L>) -> Result<TaskId, SupervisorError> {
        let supervisor = self
            .entry
            .hub
            .supervisor
            .upgrade()
            .ok_or(SupervisorError::ShuttingDown)?;
        supervisor.spawn(def, Some(&self.entry))
    }

    /// Starts a task the way a plain `tokio::spawn` does, and shows it: nobody joins it, no stop
    /// of this task reaches it (its token is its own), and stop-all and shutdown pass it by.
    /// When the program ends it is dropped with its runtime — the `detached` lesson.
    pub fn spawn_detached<L: Launch>(&self, def: TaskDef<L>) -> Result<TaskId, SupervisorError> {
        let supervisor = self
            .entry
            .hub
            .supervisor
            .upgrade()
            .ok_or(SupervisorError::ShuttingDown)?;
        supervisor.spawn_detached(def, &self.entry)
    }

    /// Shows `note` on the task's row: what it is doing, in its own words ("frames: 150
    /// received, 17 lost").
    pub fn set_note(&self, note: impl Into<Arc<str>>) {
        let note: Arc<str> = note.into();
        let note = match crate::text::capped(&note) {
            std::borrow::Cow::Borrowed(_) => note,
            std::borrow::Cow::Owned(cut) => cut.into(),
        };
        self.entry.set_note(note);
    }

    /// Waits until every child spawned so far has been joined.
    pub async fn join_children(&self) {
        let Some(supervisor) = self.entry.hub.supervisor.upgrade() else {
            return;
        };
        let entries: Vec<_> = self
            .entry
            .children()
            .into_iter()
            .filter_map(|id| supervisor.entry(id).ok())
            .collect();
        drop(supervisor);
        for child in entries {
            child.wait_ended().await;
        }
    }

    fn emit(&self, kind: EventKind, detail: impl FnOnce() -> Detail) {
        self.entry.hub.emit(&self.entry, kind, detail);
    }
}

impl Drop for TaskContext {
    /// Synchronous `Drop` runs on every exit path, abort and panic included.
    fn drop(&mut self) {
        self.entry.change_flags(FLAG_DROP_RAN, FLAG_BUSY);
    }
}
