//! The core of taskmon: spawns tasks, stops them gracefully or aborts them, and records what
//! happened. No user interface lives here, and nothing here knows the task kinds.
//!
//! Tasks can run on a runtime of their own ([`SupervisorBuilder::own_task_runtime`]) while the
//! supervisor's bookkeeping — joins, grace timers, events — runs on the runtime that built it. Then
//! tasks that block every worker thread cannot delay a stop's escalation, a snapshot or an event.

mod builder;
mod context;
mod counters;
mod def;
pub(crate) mod entry;
mod error;
mod event;
mod hub;
mod inner;
mod label;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod name;
pub mod panic;
mod polls;
mod restart;
pub(crate) mod run_dir;
mod signals;
mod snapshot;
mod state;
mod state_table;
mod stopping;
mod task;
#[cfg(feature = "tracing")]
mod trace;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "serve")]
pub(crate) use builder::Kept;
use builder::OwnedRuntime;
pub use builder::SupervisorBuilder;
pub use context::TaskContext;
pub use counters::{MAX_COUNTERS, TaskCounter};
pub use def::TaskDef;
pub use entry::Timeline;
pub use error::{BuildError, SupervisorError};
pub use event::{Delivery, Detail, Event, EventKind, EventStream};
#[cfg(feature = "serve")]
pub(crate) use hub::Subscription;
use hub::{Hub, Reporting};
pub use label::Label;
pub use name::{MAX_NAME_CHARS, NameError, check_name};
pub use polls::{Blocking, DEFAULT_SLOW_POLL, POLL_BUCKETS, PollReading, SpawnSite, bucket_floor};
pub use run_dir::FileLimits;
use run_dir::{Manifest, RunDir, journal_file_name};
pub use signals::{Signals, Urgency};
pub use snapshot::{TaskReport, TaskSnapshot, Warning};
pub use state::{Cleanup, State};

use crate::journal::{Journal, JournalConfig};
use crate::text::escape;
use entry::{FLAG_ABORT_IGNORED, FLAG_DETACHED, NewRun, Reached, Restartable, TaskEntry};
pub use restart::{Restart, RestartLimit, RestartPolicy};
pub use task::{
    AsyncTask, BlockingTask, BoxedTask, Launch, RestartableBlockingTask, RestartableTask,
    TaskOutput,
};

/// A task's number, unique within one supervisor, counting from 1 in spawn order.
pub type TaskId = u64;

/// Makes a task, given the name to spawn it under: what a served program offers an attached
/// dashboard to spawn (`ServeOptions::kinds`).
pub type MakeTask = Arc<dyn Fn(String) -> TaskDef + Send + Sync>;

/// The grace period used when none is set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// How long shutdown waits for an aborted task to be joined before it gives up on it as
/// `abandoned`: an abort lands at the next `.await`, and blocking code may never reach one.
pub const ABANDON_AFTER: Duration = Duration::from_secs(1);

/// Supervises tokio tasks: spawn, graceful stop with a grace period and escalation, abort,
/// restart policies, shutdown, lock-free snapshots and a stream of lifecycle events. Cheap to
/// clone.
///
/// A worker restarted after each panic — waiting 100 ms, then 200 ms, … — until it gives up
/// after three restarts within a minute:
///
/// ```
/// use std::time::Duration;
/// use taskmon::{RestartPolicy, State, Supervisor, TaskDef};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # taskmon::silence_task_panics(true);
/// let sup = Supervisor::builder().build()?;
/// let policy = RestartPolicy::on_panic().limit(3, Duration::from_secs(60));
/// let worker = sup.spawn(
///     TaskDef::restartable("worker", |mut ctx| async move {
///         ctx.tick();
///         if ctx.restarts() < 2 {
///             panic!("not ready yet"); // the first two runs fail
///         }
///         ctx.cancelled().await; // the third runs until it is stopped
///     })
///     .restart(policy),
/// )?;
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// let now = sup.task(worker)?;
/// assert_eq!((now.state, now.restarts, now.ticks()), (State::Running, 2, 3));
///
/// sup.shutdown(Duration::from_secs(2)).await;
/// assert_eq!(sup.task(worker)?.state, State::Stopped);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    control: Handle,
    tasks: Handle,
    /// The tasks' runtime when the supervisor made it: dropped with it, or ended before.
    owned_runtime: Mutex<Option<OwnedRuntime>>,
    /// The clock and the subscribers, shared with every task's context.
    pub(crate) hub: Arc<Hub>,
    /// Index `i` holds task `i + 1`; entries are never removed.
    registry: RwLock<Vec<Arc<TaskEntry>>>,
    grace_nanos: AtomicU64,
    run_dir: RunDir,
    /// `run_dir`'s path, shared with every journal.
    journal_dir: Arc<Path>,
    /// Where journals made in a chosen directory are listed.
    manifest: Option<Manifest>,
    default_journal: JournalConfig,
    restart_jitter: f64,
    /// The most tasks it holds, ended ones included (`MAX_TASKS` but in unit tests).
    capacity: u64,
    /// Cancelled when everything was aborted during shutdown: no grace is left to wait out.
    aborted_all: CancellationToken,
    /// The last number handed out by [`Supervisor::next_serial`].
    serial: AtomicU64,
    /// What started with it and lives as long as it (a server, which stops serving when the
    /// supervisor goes).
    pub(crate) kept: Mutex<Vec<builder::Kept>>,
    /// What metrics were last told, once metrics are reported.
    #[cfg(feature = "metrics")]
    metrics_sampler: std::sync::OnceLock<Mutex<metrics::Sampler>>,
}

impl Drop for Inner {
    /// The last handle on the supervisor is gone: nothing can stop its tasks any more, so each is
    /// asked to stop now (its token cancelled), rather than left to run on with a stop that can
    /// never come. Nothing waits for them here; [`Supervisor::shutdown`] does.
    fn drop(&mut self) {
        if let Ok(registry) = self.registry.get_mut() {
            for entry in registry.iter().filter(|e| !e.is_ended()) {
                entry.token().cancel();
            }
        }
    }
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

    /// Configures a supervisor: grace period, journal directory, where tasks run.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder::new()
    }

    /// Reads the first thing of type `T` that started with the supervisor
    /// ([`SupervisorBuilder::on_start`]).
    #[cfg_attr(not(feature = "serve"), allow(dead_code))] // only the server starts this way today
    pub(crate) fn read_kept<T: 'static, R>(&self, read: impl FnOnce(&T) -> R) -> Option<R> {
        let kept = self.inner.kept.lock().expect("kept");
        kept.iter().find_map(|k| k.downcast_ref::<T>()).map(read)
    }

    /// The first thing of type `Arc<T>` that lives with the supervisor, made now if there is none
    /// (what `ctl record start` and [`SupervisorBuilder::record`] share).
    #[cfg(feature = "record")]
    pub(crate) fn kept_or_insert<T: Send + Sync + 'static>(
        &self,
        make: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        let mut kept = self.inner.kept.lock().expect("kept");
        if let Some(found) = kept.iter().find_map(|k| k.downcast_ref::<Arc<T>>()) {
            return found.clone();
        }
        let made = make();
        kept.push(Box::new(made.clone()));
        made
    }

    /// A handle that does not keep the supervisor alive: what serving holds, so that a served
    /// supervisor still goes (and stops serving) when the program drops it.
    #[cfg(feature = "serve")]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    #[cfg(feature = "serve")]
    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Supervisor> {
        weak.upgrade().map(|inner| Supervisor { inner })
    }

    /// Spawns a task.
    pub fn spawn<L: Launch>(&self, def: TaskDef<L>) -> Result<TaskId, SupervisorError> {
        self.inner.spawn(def, None)
    }

    /// Spawns the user's own async closure as a task.
    #[track_caller]
    pub fn spawn_fn<F, Fut>(
        &self,
        name: impl Into<String>,
        body: F,
    ) -> Result<TaskId, SupervisorError>
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output: TaskOutput> + Send + 'static,
    {
        self.spawn(TaskDef::new(name, body))
    }

    /// Requests a graceful stop: cancels the task's token (and so its children's), then gives it
    /// the grace period to be joined before escalating to an abort. Returns at once; await
    /// [`Supervisor::joined`] for the outcome.
    pub fn stop(&self, id: TaskId) -> Result<(), SupervisorError> {
        let entry = self.inner.live_entry(id)?;
        self.inner.request_stops(vec![entry]);
        Ok(())
    }

    /// Aborts a task (`JoinHandle::abort`). It takes effect at the task's next `.await`, and not at
    /// all on a blocking-pool task that has started.
    pub fn abort(&self, id: TaskId) -> Result<(), SupervisorError> {
        let entry = self.inner.live_entry(id)?;
        self.inner
            .abort_tasks(vec![entry], EventKind::AbortRequested, None);
        Ok(())
    }

    /// Requests a graceful stop of every task still running, stage by stage
    /// ([`TaskDef::stage`]): each stage once the one before has been joined (or has had its
    /// grace, its escalation and a second more). Returns how many were asked, or will be.
    pub fn stop_all(&self) -> usize {
        let mut stages = self.inner.stages();
        if stages.len() <= 1 {
            return self.inner.request_stops(stages.pop().unwrap_or_default());
        }
        let asked = stages.iter().map(Vec::len).sum();
        let inner = self.inner.clone();
        self.inner
            .control
            .spawn(async move { inner.stop_in_stages(stages, false).await });
        asked
    }

    /// Aborts every task still running. Returns how many were asked. During a shutdown this
    /// cuts its grace period short.
    pub fn abort_all(&self) -> usize {
        let asked = self
            .inner
            .abort_tasks(self.inner.reachable(), EventKind::AbortRequested, None);
        if self.is_shutting_down() {
            self.inner.aborted_all.cancel();
        }
        asked
    }

    /// Runs an ended task again, as `r` does on the dashboard: same id, same name, its journal
    /// going on where it ended. For tasks defined to be restartable
    /// ([`TaskDef::restartable`], the built-in kinds); not for a running or abandoned one.
    pub fn restart(&self, id: TaskId) -> Result<(), SupervisorError> {
        let inner = &self.inner;
        let entry = inner.entry(id)?;
        let Some(state) = entry.end_state().filter(|s| s.is_ended()) else {
            return Err(SupervisorError::StillRunning(id));
        };
        if state == State::Abandoned {
            return Err(SupervisorError::Abandoned(id));
        }
        let Some(restart) = entry.restart.get() else {
            return Err(SupervisorError::NotRestartable {
                name: escape(&entry.name).into_owned(),
            });
        };
        {
            // As a spawn: under the registry's lock, so a racing shutdown sees it or refuses it.
            let registry = inner.registry.write().expect("registry");
            if inner.is_closed() {
                return Err(SupervisorError::ShuttingDown);
            }
            if entry.journaled() && !inner.hub.journal_slots.take() {
                return Err(SupervisorError::TooManyJournals {
                    name: entry.name.to_string(),
                    capacity: inner.hub.journal_slots.capacity,
                });
            }
            // The last run's token may be spent: the new run gets its own, under its parent's
            // if the parent still runs — unless it is detached, out of its parent's reach.
            let parent = entry
                .parent()
                .filter(|_| !entry.is_detached())
                .and_then(|p| registry.get(usize::try_from(p).ok()?.checked_sub(1)?))
                .filter(|p| !p.is_ended());
            let token = parent.map_or_else(CancellationToken::new, |p| p.token().child_token());
            if entry.begin_run(state, Some(token)) != NewRun::Started {
                if entry.journaled() {
                    inner.hub.journal_slots.release();
                }
                return Err(SupervisorError::StillRunning(id));
            }
            if !entry.is_detached() {
                inner.hub.task_started();
            }
        }
        restart.history().forget();
        inner.start_run(&entry, true);
        Ok(())
    }

    /// Stops everything gracefully with `grace` as the grace period, aborts what is still
    /// running when it is over (tasks asked earlier with a longer grace too), and returns once
    /// every task — orphans included — has been joined. Spawns are refused from here on.
    ///
    /// The wait is bounded: a task not joined [`ABANDON_AFTER`] after its abort (blocking code
    /// that never reaches an `.await`, a blocking-pool task that never checks its token) ends
    /// `abandoned`, and shutdown returns without it. A chosen journal directory is free for
    /// another run once it has returned.
    pub async fn shutdown(&self, grace: Duration) {
        // One walk of the tasks: what ended and keeps code, and what is still to stop.
        let (ended, stages) = {
            let registry = self.inner.registry.write().expect("registry");
            self.inner.hub.close();
            let (mut ended, mut stages) = (Vec::new(), stopping::Stages::default());
            for entry in entry::prefetched(&registry) {
                if entry.is_reachable() {
                    stages.add(entry);
                } else if entry.is_ended() && entry.restart.get().is_some() {
                    ended.push(entry.clone());
                }
            }
            (ended, stages.lowest_first())
        };
        // No run can follow an end now: what ended lets go of its code (and what it holds),
        // outside the lock, as the code's drop may call back.
        for entry in ended {
            if let Some(restart) = entry.restart.get() {
                restart.drop_code();
            }
        }
        self.set_grace(grace);
        self.inner.stop_in_stages(stages, true).await;
        self.inner.run_dir.release();
    }

    /// Starts [`shutdown`](Self::shutdown) with the grace set now, without waiting for it:
    /// from code that must not wait, such as a critical task's end.
    pub(super) fn begin_shutdown(self) {
        let control = self.inner.control.clone();
        control.spawn(async move { self.shutdown(self.grace()).await });
    }

    /// The first of the program's own tasks — spawned by the supervisor, neither a child nor
    /// detached — to end for good (at once if one has), for a `select!` in `main` beside
    /// [`shutdown_on_signals`](Self::shutdown_on_signals): a program whose parts all matter
    /// shuts down when any of them ends. (A task defined [critical](TaskDef::critical) does
    /// that by itself.)
    ///
    /// ```no_run
    /// # async fn example(sup: taskmon::Supervisor) -> std::io::Result<()> {
    /// tokio::select! {
    ///     _ = sup.shutdown_on_signals()? => {}
    ///     ended = sup.first_ended() => {
    ///         eprintln!("{} ended {}: shutting down", ended.name, ended.state);
    ///         sup.shutdown(sup.grace()).await;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn first_ended(&self) -> TaskSnapshot {
        let id = self.inner.hub.first_ended().await;
        let entry = self
            .inner
            .entry(id)
            .expect("an ended task stays in the registry");
        self.inner.snapshot_of(&entry)
    }

    /// Waits until no task is left running (detached ones aside): after a shutdown that
    /// another part of the program began, such as a cancelled
    /// [parent token](SupervisorBuilder::parent_token).
    pub async fn all_joined(&self) {
        self.inner.hub.all_ended().await;
    }

    /// Drops the runtime made by [`SupervisorBuilder::own_task_runtime`], as a program's end
    /// would: what still runs on it — detached tasks, which shutdown passes by — is dropped at
    /// its next `.await` and ends `dropped`. Waits up to a second for that; call it after
    /// [`Supervisor::shutdown`]. Does nothing for tasks on a runtime of the caller's.
    pub async fn end_task_runtime(&self) {
        let runtime = self.inner.owned_runtime.lock().expect("runtime").take();
        if let Some(mut runtime) = runtime {
            let _ = tokio::task::spawn_blocking(move || runtime.shut_down(ABANDON_AFTER)).await;
        }
    }

    /// 1, 2, 3…: a number unique in this supervisor, for names made while it runs (the
    /// tasks dashboards spawn, `select+3`), whoever asks.
    pub fn next_serial(&self) -> u64 {
        self.inner.serial.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Waits until task `id` has been joined, without holding the supervisor meanwhile: what a
    /// served client waits on, so that a program dropping its supervisor is not kept alive.
    #[cfg(feature = "serve")]
    pub(crate) fn wait_ended(
        &self,
        id: TaskId,
    ) -> Result<impl Future<Output = ()> + Send + use<>, SupervisorError> {
        let entry = self.inner.entry(id)?;
        Ok(async move { entry.wait_ended().await })
    }

    /// Runs `spawn` with the events it makes on this thread held and handed over a thousand at
    /// a time: a scenario's hundred thousand spawns are a hundred hand-overs to `taskmon run`'s
    /// printer, not a hundred thousand.
    #[cfg(feature = "cli")]
    pub(crate) fn holding_events<R>(&self, spawn: impl FnOnce() -> R) -> R {
        let _held = self.inner.hub.hold();
        spawn()
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.is_closed()
    }

    /// Waits until the task has been joined and returns its final snapshot.
    pub async fn joined(&self, id: TaskId) -> Result<TaskSnapshot, SupervisorError> {
        let entry = self.inner.entry(id)?;
        entry.wait_ended().await;
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
        // Sized up front: grown by doubling, a million snapshots would take twice their room.
        let mut snapshots = Vec::with_capacity(ids.len());
        snapshots.extend(
            ids.iter()
                .filter_map(|&id| registry.get(id.checked_sub(1)? as usize))
                .map(|entry| TaskSnapshot::read(entry, now)),
        );
        snapshots
    }

    /// The name, kind and parent of every task from `first` on, in id order: what never changes
    /// about a task, without the rest of its snapshot (a dashboard's catalog of a million tasks).
    pub fn identities(&self, first: TaskId) -> Vec<(Arc<str>, Label, Option<TaskId>)> {
        let registry = self.inner.registry.read().expect("registry");
        let from = (first.max(1) - 1) as usize;
        registry
            .iter()
            .skip(from)
            .map(|entry| (entry.shared_name(), entry.kind.clone(), entry.parent()))
            .collect()
    }

    /// Every task's state, task `id` at index `id - 1`. Lock-free per task.
    pub fn states(&self) -> Vec<State> {
        let mut states = Vec::new();
        self.states_into(&mut states);
        states
    }

    /// [`states`](Self::states) into a buffer kept by the caller.
    pub fn states_into(&self, states: &mut Vec<State>) {
        let tasks = self.len();
        self.inner.hub.states.read_into(tasks, states);
    }

    /// Every task's tick count, task `id` at index `id - 1`.
    pub fn tick_counts(&self) -> Vec<u64> {
        let mut ticks = Vec::new();
        self.tick_counts_into(&mut ticks);
        ticks
    }

    /// [`tick_counts`](Self::tick_counts) into a buffer kept by the caller.
    pub fn tick_counts_into(&self, ticks: &mut Vec<u64>) {
        let registry = self.inner.registry.read().expect("registry");
        ticks.clear();
        ticks.extend(registry.iter().map(|entry| entry.activity.ticks()));
    }

    /// Every task's tick count and busy time in one walk of the tasks (both live on the line of
    /// a task's memory that its polls write), into buffers kept by the caller.
    pub fn ticks_and_busy_into(&self, ticks: &mut Vec<u64>, busy: &mut Vec<u64>) {
        let registry = self.inner.registry.read().expect("registry");
        ticks.clear();
        busy.clear();
        for entry in registry.iter() {
            ticks.push(entry.activity.ticks());
            busy.push(entry.activity.busy_nanos(entry.id));
        }
    }

    /// Every task's busy time (inside its polls) in nanoseconds, task `id` at index `id - 1`.
    pub fn busy_times(&self) -> Vec<u64> {
        let registry = self.inner.registry.read().expect("registry");
        registry
            .iter()
            .map(|entry| entry.activity.busy_nanos(entry.id))
            .collect()
    }

    /// The slow-poll threshold.
    pub fn slow_poll(&self) -> Duration {
        self.inner.hub.polls.slow()
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

    /// Whether no task has been spawned.
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

    /// [`Supervisor::on_delivery`] until the returned subscription is dropped: a served client
    /// that goes is forgotten at once, not at the next event.
    #[cfg(feature = "serve")]
    pub(crate) fn subscribe_scoped(
        &self,
        subscriber: impl Fn(Delivery) -> bool + Send + Sync + 'static,
    ) -> hub::Subscription {
        self.inner.hub.subscribe_scoped(Arc::new(subscriber))
    }

    /// Hands every lifecycle event from now on to `subscriber`, on the thread where it happens
    /// (a task's worker, the caller of `stop`), until it returns false. It must be quick and
    /// never block: a channel's send, a counter. Cheaper than [`Supervisor::events`] when the
    /// events go to a thread anyway.
    pub fn on_event(&self, subscriber: impl Fn(Event) -> bool + Send + Sync + 'static) {
        self.on_delivery(move |delivery| match delivery {
            Delivery::One(event) => subscriber(event),
            Delivery::Many(events) => events.iter().all(|e| subscriber(e.clone())),
        });
    }

    /// [`Supervisor::on_event`], with the events of one request for many tasks handed over in
    /// batches (of a thousand tasks' events: each batch before those tasks are acted on), and
    /// those one poll of a task made handed over together when the poll is over.
    pub fn on_delivery(&self, subscriber: impl Fn(Delivery) -> bool + Send + Sync + 'static) {
        self.inner.hub.subscribe_with(Arc::new(subscriber));
    }

    /// Reads every task for metrics now and publishes the figures the supervisor otherwise
    /// publishes once a second (tasks by state, polls, records lost, the tasks' own counters):
    /// for a program about to exit that wants its last second exported, or a test.
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        self.inner.publish_metrics();
    }

    /// How many subscribers the events have, for taskmon's own tests.
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn subscribers(&self) -> usize {
        self.inner.hub.subscribers()
    }

    /// How many tasks are running (spawned and not yet ended).
    pub fn live_tasks(&self) -> usize {
        self.inner.hub.live_tasks()
    }

    /// Resolves once no task is running; at once if none is.
    pub async fn all_ended(&self) {
        self.inner.hub.all_ended().await
    }

    /// The grace period of stops requested now.
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

    /// The journal file of a task, if it keeps one (it exists once the task has flushed).
    pub fn journal_path(&self, id: TaskId) -> Option<PathBuf> {
        let entry = self.inner.entry(id).ok()?;
        entry
            .journaled()
            .then(|| self.inner.journal_path_of(&entry))
    }

    /// How many journaled tasks may run at once (see
    /// [`SupervisorBuilder::journal_capacity`]).
    pub fn journal_capacity(&self) -> usize {
        self.inner.hub.journal_slots.capacity
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
        self.report_of(1..=self.len() as TaskId).await
    }

    /// The report of the tasks `ids` (those that exist), as [`report`](Self::report) makes it:
    /// a million tasks' can be made, and written, a chunk at a time.
    pub async fn report_of(&self, ids: std::ops::RangeInclusive<TaskId>) -> Vec<TaskReport> {
        let dir = self.inner.journal_dir.clone();
        let verify = move |tasks: Vec<TaskSnapshot>| -> Vec<TaskReport> {
            tasks
                .into_iter()
                .map(|s| {
                    let path = s
                        .journaled
                        .then(|| dir.join(journal_file_name(s.id, &s.name)));
                    TaskReport::verify(s, path)
                })
                .collect()
        };
        let ids: Vec<TaskId> = ids.collect();
        // Reading files is blocking work, for the runtime's blocking pool; should that pool be
        // gone (the runtime shutting down), it is done here.
        let tasks = self.snapshots(&ids);
        let on_pool = verify.clone();
        match tokio::task::spawn_blocking(move || on_pool(tasks)).await {
            Ok(reports) => reports,
            Err(_) => verify(self.snapshots(&ids)),
        }
    }
}
