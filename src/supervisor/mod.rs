//! The core of taskmon: spawns tasks, stops them gracefully or aborts them, and records what
//! happened. No user interface lives here, and nothing here knows the task kinds.
//!
//! Tasks can run on a runtime of their own ([`SupervisorBuilder::own_task_runtime`]) while the
//! supervisor's bookkeeping — joins, grace timers, events — runs on the runtime that built it. Then
//! tasks that block every worker thread cannot delay a stop's escalation, a snapshot or an event.

mod context;
mod entry;
mod error;
mod event;
pub mod name;
pub mod panic;
pub(crate) mod run_dir;
mod snapshot;
mod state;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Local};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

pub use context::TaskContext;
pub use entry::Timeline;
pub use error::{BuildError, SupervisorError};
use event::Hub;
pub use event::{Event, EventKind, EventStream};
pub use name::{MAX_NAME_CHARS, NameError, check_name};
pub use run_dir::FileLimits;
use run_dir::{JournalSlots, RunDir, journal_file_name};
pub use snapshot::{TaskReport, TaskSnapshot};
pub use state::{Cleanup, Milestone, State};

use crate::journal::{Journal, JournalConfig};
use crate::text::escape;
use entry::{FLAG_ABORT_IGNORED, FLAG_ORPHAN, TaskEntry};

/// A task's number, unique within one supervisor, counting from 1 in spawn order.
pub type TaskId = u64;

/// The grace period used when none is set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// How long shutdown waits for an aborted task to be joined before it gives up on it as
/// `abandoned`: an abort lands at the next `.await`, and blocking code may never reach one.
pub const ABANDON_AFTER: Duration = Duration::from_secs(1);

type AsyncBody = Box<dyn FnOnce(TaskContext) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;
type BlockingBody = Box<dyn FnOnce(TaskContext) + Send>;

enum Body {
    Async(AsyncBody),
    Blocking(BlockingBody),
}

/// Everything needed to spawn one task: its name, a kind label, its journal and its code.
pub struct TaskDef {
    name: String,
    kind: String,
    journal: JournalConfig,
    body: Body,
}

impl TaskDef {
    /// A task running `body` as an async task.
    pub fn new<F, Fut>(name: impl Into<String>, body: F) -> Self
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name: name.into(),
            kind: "custom".into(),
            journal: JournalConfig::default(),
            body: Body::Async(Box::new(move |ctx| Box::pin(body(ctx)))),
        }
    }

    /// A task running `body` on tokio's blocking pool (`spawn_blocking`). Such a task cannot be
    /// aborted once it has started: only its token stops it.
    pub fn blocking<F>(name: impl Into<String>, body: F) -> Self
    where
        F: FnOnce(TaskContext) + Send + 'static,
    {
        Self {
            name: name.into(),
            kind: "custom".into(),
            journal: JournalConfig::default(),
            body: Body::Blocking(Box::new(body)),
        }
    }

    /// The label shown in the kind column.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    pub fn journal(mut self, journal: JournalConfig) -> Self {
        self.journal = journal;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

enum TaskRuntime {
    Current,
    Handle(Handle),
    Own { workers: usize },
}

/// Configures a [`Supervisor`].
pub struct SupervisorBuilder {
    grace: Duration,
    journal_dir: Option<PathBuf>,
    keep_journals: bool,
    runtime: TaskRuntime,
    wall_clock_origin: Option<DateTime<Local>>,
    journal_capacity: Option<usize>,
}

impl SupervisorBuilder {
    /// The wall-clock time of the supervisor's start, from which every event's time is counted
    /// (default: now). Fixing it makes the times of a paused-clock test repeatable.
    pub fn wall_clock_origin(mut self, origin: DateTime<Local>) -> Self {
        self.wall_clock_origin = Some(origin);
        self
    }

    /// How long a graceful stop may take before it is escalated to an abort.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Write journals into this directory (created if missing, never removed) instead of a fresh
    /// temporary one.
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal_dir = Some(dir.into());
        self
    }

    /// Keep the temporary journal directory when the supervisor is dropped.
    pub fn keep_journals(mut self, keep: bool) -> Self {
        self.keep_journals = keep;
        self
    }

    /// Run tasks on a runtime of the caller's.
    pub fn task_runtime(mut self, handle: Handle) -> Self {
        self.runtime = TaskRuntime::Handle(handle);
        self
    }

    /// Run tasks on a multi-thread runtime that the supervisor owns, so that tasks blocking its
    /// workers cannot stall the caller's runtime.
    pub fn own_task_runtime(mut self, workers: usize) -> Self {
        self.runtime = TaskRuntime::Own {
            workers: workers.max(1),
        };
        self
    }

    /// How many journaled tasks may run at once: each keeps its journal file open. Default: what
    /// the open-file limit leaves free when the supervisor is built, less
    /// [`run_dir::RESERVED_FILES`]. A spawn beyond it is refused with
    /// [`SupervisorError::TooManyJournals`].
    pub fn journal_capacity(mut self, journals: usize) -> Self {
        self.journal_capacity = Some(journals);
        self
    }

    /// Builds the supervisor. Must be called inside a tokio runtime: that runtime does the
    /// supervisor's own work.
    pub fn build(self) -> Result<Supervisor, BuildError> {
        let control = Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        // The journal directory first: nothing is started if it cannot be used.
        let run_dir = RunDir::create(self.journal_dir, self.keep_journals)?;
        let (tasks, owned_runtime) = match self.runtime {
            TaskRuntime::Current => (control.clone(), None),
            TaskRuntime::Handle(handle) => (handle, None),
            TaskRuntime::Own { workers } => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("taskmon-task")
                    .enable_all()
                    .build()
                    .map_err(BuildError::TaskRuntime)?;
                (runtime.handle().clone(), Some(OwnedRuntime(Some(runtime))))
            }
        };
        let capacity = self
            .journal_capacity
            .unwrap_or_else(|| FileLimits::read().journal_capacity());
        let (reap, to_reap) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            control,
            tasks,
            _owned_runtime: owned_runtime,
            hub: Arc::new(Hub::new(self.wall_clock_origin.unwrap_or_else(Local::now))),
            registry: RwLock::new(Vec::new()),
            grace_nanos: AtomicU64::new(duration_nanos(self.grace)),
            run_dir,
            journal_slots: Arc::new(JournalSlots::new(capacity)),
            joiners: TaskTracker::new(),
            reap,
            closed: AtomicBool::new(false),
            aborted_all: CancellationToken::new(),
        });
        inner.control.spawn(reaper(Arc::downgrade(&inner), to_reap));
        Ok(Supervisor { inner })
    }
}

/// A spawned task on its way to being joined: its record, its handle, and its place in the
/// count that shutdown waits on.
type Reap = (
    Arc<TaskEntry>,
    tokio::task::JoinHandle<()>,
    TaskTrackerToken,
);

/// Awaits every task's `JoinHandle` and records how it ended. One task on the supervisor's own
/// runtime for all of them: a join costs a wake-up here, not a tokio task of its own.
async fn reaper(inner: Weak<Inner>, mut incoming: mpsc::UnboundedReceiver<Reap>) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some((entry, handle, tracked)) = incoming.recv() => {
                running.push(async move { (entry, handle.await, tracked) });
            }
            Some((entry, result, _tracked)) = running.next(), if !running.is_empty() => {
                if let Some(inner) = inner.upgrade() {
                    inner.finish(&entry, result);
                }
            }
            else => break,
        }
    }
}

/// The runtime a supervisor made for its tasks. Dropped without waiting for them — from inside
/// async code too, where dropping a runtime the usual way panics.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Supervises tokio tasks: spawn, graceful stop with a grace period and escalation, abort,
/// shutdown, lock-free snapshots and a stream of lifecycle events. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    control: Handle,
    tasks: Handle,
    /// The tasks' runtime when the supervisor made it; held only to be dropped with it.
    _owned_runtime: Option<OwnedRuntime>,
    /// The clock and the subscribers, shared with every task's context.
    pub(crate) hub: Arc<Hub>,
    /// Index `i` holds task `i + 1`; entries are never removed.
    registry: RwLock<Vec<Arc<TaskEntry>>>,
    grace_nanos: AtomicU64,
    run_dir: RunDir,
    journal_slots: Arc<JournalSlots>,
    /// Every unjoined task, so shutdown can wait for all of them.
    joiners: TaskTracker,
    /// Hands each spawned task to the reaper.
    reap: mpsc::UnboundedSender<Reap>,
    /// Set by shutdown under the registry's write lock, so a spawn either sees it or is seen by
    /// shutdown's stop of every task.
    closed: AtomicBool,
    /// Cancelled when everything was aborted during shutdown: no grace is left to wait out.
    aborted_all: CancellationToken,
}

fn duration_nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl Supervisor {
    /// A supervisor running tasks on the current runtime, with the default grace period and a
    /// temporary journal directory.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            grace: DEFAULT_GRACE,
            journal_dir: None,
            keep_journals: false,
            runtime: TaskRuntime::Current,
            wall_clock_origin: None,
            journal_capacity: None,
        }
    }

    /// Spawns a task.
    pub fn spawn(&self, def: TaskDef) -> Result<TaskId, SupervisorError> {
        self.inner.spawn(def, None)
    }

    /// Spawns the user's own async closure as a task.
    pub fn spawn_fn<F, Fut>(
        &self,
        name: impl Into<String>,
        body: F,
    ) -> Result<TaskId, SupervisorError>
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(TaskDef::new(name, body))
    }

    /// Requests a graceful stop: cancels the task's token (and so its children's), then gives it
    /// the grace period to be joined before escalating to an abort. Returns at once; await
    /// [`Supervisor::joined`] for the outcome.
    pub fn stop(&self, id: TaskId) -> Result<(), SupervisorError> {
        let entry = self.inner.live_entry(id)?;
        let registry = self.inner.registry.read().expect("registry");
        self.inner.request_stops(&registry, [&entry]);
        Ok(())
    }

    /// Aborts a task (`JoinHandle::abort`). It takes effect at the task's next `.await`, and not at
    /// all on a blocking-pool task that has started.
    pub fn abort(&self, id: TaskId) -> Result<(), SupervisorError> {
        let entry = self.inner.live_entry(id)?;
        self.inner.request_abort(&entry);
        Ok(())
    }

    /// Requests a graceful stop of every task still running. Returns how many were asked.
    pub fn stop_all(&self) -> usize {
        let registry = self.inner.registry.read().expect("registry");
        self.inner
            .request_stops(&registry, registry.iter().filter(|e| !e.is_ended()))
    }

    /// Aborts every task still running. Returns how many were asked. During a shutdown this
    /// cuts its grace period short.
    pub fn abort_all(&self) -> usize {
        let registry = self.inner.registry.read().expect("registry");
        let live: Vec<_> = registry.iter().filter(|e| !e.is_ended()).collect();
        for entry in &live {
            self.inner.request_abort(entry);
        }
        if self.is_shutting_down() {
            self.inner.aborted_all.cancel();
        }
        live.len()
    }

    /// Stops everything gracefully with `grace` as the grace period, aborts what is still
    /// running when it is over (tasks asked earlier with a longer grace too), and returns once
    /// every task — orphans included — has been joined. Spawns are refused from here on.
    ///
    /// The wait is bounded: a task not joined [`ABANDON_AFTER`] after its abort (blocking code
    /// that never reaches an `.await`, a blocking-pool task that never checks its token) ends
    /// `abandoned`, and shutdown returns without it.
    pub async fn shutdown(&self, grace: Duration) {
        {
            let _registry = self.inner.registry.write().expect("registry");
            self.inner.closed.store(true, Ordering::Release);
        }
        self.set_grace(grace);
        self.stop_all();
        self.inner.joiners.close();
        let all_joined = self.inner.joiners.wait();
        tokio::pin!(all_joined);
        tokio::select! {
            () = &mut all_joined => return,
            () = tokio::time::sleep(grace) => self.inner.escalate_all(grace),
            () = self.inner.aborted_all.cancelled() => {}
        }
        tokio::select! {
            () = &mut all_joined => {}
            () = tokio::time::sleep(ABANDON_AFTER) => self.inner.abandon_unjoined(),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Waits until the task has been joined and returns its final snapshot.
    pub async fn joined(&self, id: TaskId) -> Result<TaskSnapshot, SupervisorError> {
        let entry = self.inner.entry(id)?;
        entry.joined.cancelled().await;
        Ok(self.inner.snapshot_of(&entry))
    }

    /// Every task, in spawn order. Reads counters without locks.
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let registry = self.inner.registry.read().expect("registry");
        registry
            .iter()
            .map(|entry| self.inner.snapshot_of(entry))
            .collect()
    }

    /// Snapshots of the given tasks, in the order given; unknown ids are left out. What a view
    /// that shows a window of rows reads each frame.
    pub fn snapshots(&self, ids: &[TaskId]) -> Vec<TaskSnapshot> {
        let now = self.inner.hub.since_epoch();
        let registry = self.inner.registry.read().expect("registry");
        ids.iter()
            .filter_map(|&id| registry.get(id.checked_sub(1)? as usize))
            .map(|entry| TaskSnapshot::read(entry, now))
            .collect()
    }

    /// Every task's state, task `id` at index `id - 1`. Lock-free per task.
    pub fn states(&self) -> Vec<State> {
        let registry = self.inner.registry.read().expect("registry");
        registry.iter().map(|entry| entry.state()).collect()
    }

    /// Every task's tick count, task `id` at index `id - 1`.
    pub fn tick_counts(&self) -> Vec<u64> {
        let registry = self.inner.registry.read().expect("registry");
        registry.iter().map(|entry| entry.ledger.ticks()).collect()
    }

    /// One task's snapshot.
    pub fn task(&self, id: TaskId) -> Result<TaskSnapshot, SupervisorError> {
        let entry = self.inner.entry(id)?;
        Ok(self.inner.snapshot_of(&entry))
    }

    /// How many tasks have been spawned.
    pub fn len(&self) -> usize {
        self.inner.registry.read().expect("registry").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The children a task has spawned.
    pub fn children(&self, id: TaskId) -> Vec<TaskId> {
        self.inner
            .entry(id)
            .map(|entry| entry.children())
            .unwrap_or_default()
    }

    /// Lifecycle events from now on.
    pub fn events(&self) -> EventStream {
        self.inner.hub.subscribe()
    }

    pub fn grace(&self) -> Duration {
        Duration::from_nanos(self.inner.grace_nanos.load(Ordering::Relaxed))
    }

    /// Changes the grace period for stops requested from now on.
    pub fn set_grace(&self, grace: Duration) {
        self.inner
            .grace_nanos
            .store(duration_nanos(grace), Ordering::Relaxed);
    }

    /// The directory holding the journals.
    pub fn run_dir(&self) -> &Path {
        self.inner.run_dir.path()
    }

    /// Whether the journal directory is a temporary one, removed when the supervisor is dropped.
    pub fn run_dir_is_temporary(&self) -> bool {
        self.inner.run_dir.is_temporary()
    }

    /// How many journaled tasks may run at once (see
    /// [`SupervisorBuilder::journal_capacity`]).
    pub fn journal_capacity(&self) -> usize {
        self.inner.journal_slots.capacity
    }

    /// Time since the supervisor was built, on tokio's clock.
    pub fn uptime(&self) -> Duration {
        self.inner.hub.since_epoch()
    }

    /// The wall-clock time of an offset from the supervisor's start.
    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        self.inner.hub.wall_time(since_start)
    }

    /// Final snapshots with every journal read back and checked against its persisted count.
    pub async fn report(&self) -> Vec<TaskReport> {
        let snapshots = self.snapshot();
        let verify = |snapshots: Vec<TaskSnapshot>| {
            snapshots
                .into_iter()
                .map(TaskReport::verify)
                .collect::<Vec<_>>()
        };
        // Reading files is blocking work; the runtime's blocking pool does it where there is one.
        match tokio::task::spawn_blocking(move || verify(snapshots)).await {
            Ok(reports) => reports,
            Err(_) => verify(self.snapshot()),
        }
    }
}

impl Inner {
    pub(crate) fn entry(&self, id: TaskId) -> Result<Arc<TaskEntry>, SupervisorError> {
        let registry = self.registry.read().expect("registry");
        id.checked_sub(1)
            .and_then(|i| registry.get(i as usize))
            .cloned()
            .ok_or(SupervisorError::UnknownTask(id))
    }

    fn live_entry(&self, id: TaskId) -> Result<Arc<TaskEntry>, SupervisorError> {
        let entry = self.entry(id)?;
        if entry.is_ended() {
            return Err(SupervisorError::AlreadyEnded(id));
        }
        Ok(entry)
    }

    pub(crate) fn spawn(
        self: &Arc<Self>,
        def: TaskDef,
        parent: Option<&Arc<TaskEntry>>,
    ) -> Result<TaskId, SupervisorError> {
        check_name(&def.name).map_err(|reason| SupervisorError::InvalidName {
            name: escape(&def.name).into_owned(),
            reason,
        })?;
        let token = parent.map_or_else(CancellationToken::new, |p| p.token.child_token());
        let on_blocking_pool = matches!(def.body, Body::Blocking(_));
        // Under the write lock: shutdown sets `closed` under it too, so this task is either
        // refused here or registered before shutdown stops every registered task.
        let (entry, tracked) = {
            let mut registry = self.registry.write().expect("registry");
            if self.closed.load(Ordering::Relaxed) {
                return Err(SupervisorError::ShuttingDown);
            }
            if def.journal.enabled && !self.journal_slots.take() {
                return Err(SupervisorError::TooManyJournals {
                    name: def.name,
                    capacity: self.journal_slots.capacity,
                });
            }
            let id = registry.len() as TaskId + 1;
            let journal_path = def
                .journal
                .enabled
                .then(|| Arc::from(self.run_dir.path().join(journal_file_name(id, &def.name))));
            let entry = Arc::new(TaskEntry::new(
                id,
                self.hub.clone(),
                Arc::downgrade(self),
                def.name.into(),
                def.kind.into(),
                parent.map(|p| p.id),
                journal_path,
                on_blocking_pool,
                token,
            ));
            registry.push(entry.clone());
            (entry, self.joiners.token())
        };
        if let Some(parent) = parent {
            parent.add_child(entry.id);
        }
        let journal = entry.journal_path.as_ref().map(|path| {
            Journal::new(
                path.to_path_buf(),
                def.journal,
                entry.ledger.clone(),
                self.journal_slots.clone(),
            )
        });
        let ctx = TaskContext::new(entry.clone(), journal);
        self.hub.emit(
            &entry,
            EventKind::Spawned,
            Some(match parent {
                Some(p) => format!("{} (child of #{})", entry.kind, p.id),
                None => entry.kind.to_string(),
            }),
        );
        let handle = match def.body {
            Body::Async(body) => self.tasks.spawn(panic::InTask(Box::pin(async move {
                body(ctx).await;
            }))),
            Body::Blocking(body) => self
                .tasks
                .spawn_blocking(move || panic::in_task(move || body(ctx))),
        };
        let _ = entry.abort_handle.set(handle.abort_handle());
        // The reaper lives as long as this Inner does, so the send cannot fail while we run.
        let _ = self.reap.send((entry.clone(), handle, tracked));
        Ok(entry.id)
    }

    /// Cancels the tokens of `roots` and of their descendants, and arms one escalation timer
    /// for all of them: a graceful stop of ten thousand tasks is one timer, not ten thousand.
    /// Returns how many tasks were newly asked to stop.
    fn request_stops<'a>(
        self: &Arc<Self>,
        registry: &'a [Arc<TaskEntry>],
        roots: impl IntoIterator<Item = &'a Arc<TaskEntry>>,
    ) -> usize {
        let grace = self.grace();
        let now = self.hub.since_epoch();
        let deadline = now.saturating_add(grace);
        // Details are written only for someone to read them.
        let listening = self.hub.listening();
        let detail = format!("grace {}", humanize(grace));
        let mut queue: Vec<(&TaskEntry, Option<TaskId>)> =
            roots.into_iter().map(|e| (&**e, None)).collect();
        let mut asked = 0;
        while let Some((entry, cascaded_from)) = queue.pop() {
            let detail = listening.then(|| match cascaded_from {
                Some(parent) => format!("cascaded from parent #{parent}"),
                None => detail.clone(),
            });
            if entry.is_ended()
                || !self
                    .hub
                    .emit_at(entry, EventKind::StopRequested, now, detail)
            {
                continue;
            }
            entry.set_escalation_deadline(deadline);
            for child in entry.children() {
                if let Some(child) = registry.get(child as usize - 1) {
                    queue.push((child, Some(entry.id)));
                }
            }
            entry.token.cancel();
            asked += 1;
        }
        if asked > 0 {
            // Sleeps out the grace period rather than waking for every join; it holds the
            // supervisor weakly, so it keeps nothing alive, and shutdown does not wait for it.
            let inner = Arc::downgrade(self);
            self.control.spawn(async move {
                tokio::time::sleep(grace).await;
                if let Some(inner) = inner.upgrade() {
                    inner.escalate_overdue(deadline, grace);
                }
            });
        }
        asked
    }

    /// Aborts every task whose stop was due by `deadline` and that has not been joined.
    fn escalate_overdue(&self, deadline: Duration, grace: Duration) {
        let registry = self.registry.read().expect("registry");
        for entry in registry.iter().filter(|e| !e.is_ended()) {
            if entry
                .escalation_deadline()
                .is_some_and(|due| due <= deadline)
            {
                self.escalate(entry, grace);
            }
        }
    }

    /// Shutdown's grace is over: every task still running is aborted, whenever its own stop
    /// would have escalated.
    fn escalate_all(&self, grace: Duration) {
        let registry = self.registry.read().expect("registry");
        for entry in registry.iter().filter(|e| !e.is_ended()) {
            self.escalate(entry, grace);
        }
    }

    /// Gives up on every task still not joined after its abort: it ends `abandoned`.
    fn abandon_unjoined(&self) {
        let registry = self.registry.read().expect("registry");
        for entry in registry.iter().filter(|e| !e.is_ended()) {
            if !entry.begin_end() {
                continue;
            }
            self.hub.emit(
                entry,
                EventKind::Abandoned,
                Some(format!(
                    "not joined {} after its abort: blocking code never reached an .await",
                    humanize(ABANDON_AFTER)
                )),
            );
            entry.set_end_state(State::Abandoned);
            entry.joined.cancel();
        }
    }

    fn grace(&self) -> Duration {
        Duration::from_nanos(self.grace_nanos.load(Ordering::Relaxed))
    }

    fn escalate(&self, entry: &TaskEntry, grace: Duration) {
        let reason = format!(
            "not joined within the grace period of {}; aborting",
            humanize(grace)
        );
        self.abort_task(entry, EventKind::Escalated, Some(reason));
    }

    fn request_abort(&self, entry: &TaskEntry) {
        self.abort_task(entry, EventKind::AbortRequested, None);
    }

    /// The one way an abort request and an escalation abort a task. A started blocking-pool task
    /// cannot be aborted: it is flagged, and the event says so.
    fn abort_task(&self, entry: &TaskEntry, kind: EventKind, reason: Option<String>) {
        if entry.is_ended() {
            return;
        }
        let detail = if entry.on_blocking_pool {
            entry.set_flag(FLAG_ABORT_IGNORED, true);
            const NO_EFFECT: &str =
                "no effect: a started spawn_blocking task runs until it returns";
            Some(reason.map_or(NO_EFFECT.to_string(), |r| format!("{r} ({NO_EFFECT})")))
        } else {
            reason
        };
        self.hub.emit(entry, kind, detail);
        if let Some(handle) = entry.abort_handle.get() {
            handle.abort();
        }
    }

    /// Records how a task ended, flags its still-running children as orphans and wakes whoever
    /// waits for the join. A task given up on as abandoned keeps that end.
    fn finish(&self, entry: &TaskEntry, result: Result<(), JoinError>) {
        if !entry.begin_end() {
            return;
        }
        let state = match result {
            // The milestone first: `is_cancelled` takes a lock, and it is only needed for a
            // token the task's own code cancelled.
            Ok(()) if entry.reached(Milestone::StopRequested) || entry.token.is_cancelled() => {
                State::Stopped
            }
            Ok(()) => State::Finished,
            Err(error) if error.is_panic() => {
                let message = panic::panic_message(error.into_panic().as_ref());
                let _ = entry.panic_message.set(message.as_str().into());
                self.hub.emit(entry, EventKind::Panicked, Some(message));
                State::Panicked
            }
            Err(_) if entry.reached(Milestone::Escalated) => State::Escalated,
            Err(_) => State::Aborted,
        };
        let since_start = self.hub.since_epoch();
        entry.mark(Milestone::Joined, since_start);
        entry.set_end_state(state);
        if self.hub.listening() {
            let latency = entry
                .timeline()
                .stop_latency(state)
                .map(|d| format!(" after {}", humanize(d)))
                .unwrap_or_default();
            let detail = format!("{state}{latency}");
            self.hub
                .send(entry, EventKind::Joined, since_start, Some(detail));
        }
        for child in entry
            .children()
            .into_iter()
            .filter_map(|id| self.entry(id).ok())
        {
            if !child.is_ended() {
                child.set_flag(FLAG_ORPHAN, true);
                self.hub.emit(
                    &child,
                    EventKind::Orphaned,
                    Some(format!(
                        "parent #{} ended ({state}) while it runs",
                        entry.id
                    )),
                );
            }
        }
        entry.joined.cancel();
    }

    fn snapshot_of(&self, entry: &TaskEntry) -> TaskSnapshot {
        TaskSnapshot::read(entry, self.hub.since_epoch())
    }
}

/// A short duration for people: `850ms`, `1.25s`, `2m 5s`.
pub fn humanize(d: Duration) -> String {
    let millis = d.as_secs_f64() * 1000.0;
    if millis < 1.0 {
        format!("{:.0}µs", d.as_secs_f64() * 1e6)
    } else if millis < 1000.0 {
        format!("{millis:.0}ms")
    } else if d.as_secs() < 60 {
        let secs = format!("{:.2}", d.as_secs_f64());
        format!("{}s", secs.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{}m {}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
