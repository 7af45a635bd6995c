//! The core of taskmon: spawns tasks, stops them gracefully or aborts them, and records what
//! happened. No user interface lives here, and nothing here knows the task kinds.
//!
//! Tasks can run on a runtime of their own ([`SupervisorBuilder::own_task_runtime`]) while the
//! supervisor's bookkeeping — joins, grace timers, events — runs on the runtime that built it. Then
//! tasks that block every worker thread cannot delay a stop's escalation, a snapshot or an event.

mod context;
pub(crate) mod entry;
mod error;
mod event;
mod hub;
mod label;
pub mod name;
pub mod panic;
mod polls;
mod restart;
pub(crate) mod run_dir;
mod snapshot;
mod state;
mod state_table;
mod task;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

pub use context::TaskContext;
pub use entry::Timeline;
pub use error::{BuildError, SupervisorError};
pub use event::{Delivery, Detail, Event, EventKind, EventStream};
use hub::Hub;
#[cfg(feature = "serve")]
pub(crate) use hub::Subscription;
pub use label::Label;
pub use name::{MAX_NAME_CHARS, NameError, check_name};
pub use polls::{Blocking, DEFAULT_SLOW_POLL, POLL_BUCKETS, PollReading, SpawnSite, bucket_floor};
pub use run_dir::FileLimits;
use run_dir::{Manifest, RunDir, journal_file_name};
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

/// Everything needed to spawn one task: its name, a kind label, its journal and its code.
///
/// `L` is how the code starts: [`AsyncTask`] or [`BlockingTask`] as made by [`TaskDef::new`]
/// and [`TaskDef::blocking`], which keep the code's own type so tokio stores its future inline;
/// or [`BoxedTask`] (the default), for definitions of different code that must share one type.
pub struct TaskDef<L = BoxedTask> {
    name: String,
    kind: Label,
    /// `None`: the supervisor's default.
    journal: Option<JournalConfig>,
    restart: RestartPolicy,
    location: SpawnSite,
    stage: u32,
    launch: L,
}

impl<L> TaskDef<L> {
    #[track_caller]
    fn with_launch(name: String, launch: L) -> Self {
        Self {
            name,
            kind: Label::from("custom"),
            journal: None,
            restart: RestartPolicy::default(),
            location: SpawnSite::caller(),
            stage: 0,
            launch,
        }
    }

    /// When a stop of every task (stop-all, `S`, quitting, [`Supervisor::shutdown`]) reaches it
    /// (default 0): stage 0 is stopped first and awaited within the grace, then stage 1, and so
    /// on — stop accepting, then drain the connections, then flush the writer. A task's
    /// children go no later than it: a stop reaches them through its token.
    pub fn stage(mut self, stage: u32) -> Self {
        self.stage = stage;
        self
    }

    /// Where the task is said to be spawned (default: where this definition was made). For code
    /// that makes definitions for its callers: pass on the caller's place, or a file's.
    pub fn spawned_at(mut self, location: SpawnSite) -> Self {
        self.location = location;
        self
    }

    /// The label shown in the kind column.
    pub fn kind(mut self, kind: impl Into<Label>) -> Self {
        self.kind = kind.into();
        self
    }

    /// How the task keeps its journal (default: the supervisor's, see
    /// [`SupervisorBuilder::default_journal`]).
    pub fn journal(mut self, journal: JournalConfig) -> Self {
        self.journal = Some(journal);
        self
    }

    /// When the task is run again after it ended (default: never). Only code that can be run
    /// again — [`TaskDef::restartable`], the built-in kinds — takes a policy that restarts;
    /// spawning other code with one is refused.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<F, Fut> TaskDef<RestartableTask<F>>
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output: TaskOutput> + Send + 'static,
{
    /// A task running `body` as an async task, which can be run again: by its restart policy
    /// ([`TaskDef::restart`]) or by [`Supervisor::restart`]. `body` is called for every run.
    #[track_caller]
    pub fn restartable(name: impl Into<String>, body: F) -> Self {
        Self::with_launch(name.into(), RestartableTask(body))
    }
}

impl<F, O> TaskDef<RestartableBlockingTask<F>>
where
    F: Fn(TaskContext) -> O + Send + Sync + 'static,
    O: TaskOutput,
{
    /// [`TaskDef::blocking`], for code that can be run again.
    #[track_caller]
    pub fn restartable_blocking(name: impl Into<String>, body: F) -> Self {
        Self::with_launch(name.into(), RestartableBlockingTask(body))
    }
}

impl<F, Fut> TaskDef<AsyncTask<F>>
where
    F: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future<Output: TaskOutput> + Send + 'static,
{
    /// A task running `body` as an async task.
    #[track_caller]
    pub fn new(name: impl Into<String>, body: F) -> Self {
        Self::with_launch(name.into(), AsyncTask(body))
    }
}

impl<F, O> TaskDef<BlockingTask<F>>
where
    F: FnOnce(TaskContext) -> O + Send + 'static,
    O: TaskOutput,
{
    /// A task running `body` on tokio's blocking pool (`spawn_blocking`). Such a task cannot be
    /// aborted once it has started: only its token stops it.
    #[track_caller]
    pub fn blocking(name: impl Into<String>, body: F) -> Self {
        Self::with_launch(name.into(), BlockingTask(body))
    }
}

impl<L: Launch> TaskDef<L> {
    /// The same definition with its code boxed, so that definitions of different code share
    /// one type (`TaskDef`).
    pub fn boxed(self) -> TaskDef {
        TaskDef {
            name: self.name,
            kind: self.kind,
            journal: self.journal,
            restart: self.restart,
            location: self.location,
            stage: self.stage,
            launch: BoxedTask::new(self.launch),
        }
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
    default_journal: JournalConfig,
    restart_jitter: f64,
    slow_poll: Duration,
    poll_stats: bool,
    #[cfg(feature = "serve")]
    serve: Option<(crate::serve::Endpoint, crate::serve::ServeOptions)>,
}

impl SupervisorBuilder {
    /// A poll at least this long is slow: counted, reported as a `long_poll` event, and shown
    /// `blocking` while it lasts past it (default [`DEFAULT_SLOW_POLL`], 10 ms).
    pub fn slow_poll(mut self, threshold: Duration) -> Self {
        self.slow_poll = threshold;
        self
    }

    /// Whether every poll of every task is counted and timed (default: yes). Off, a task's
    /// polls, busy time and blocking are not known; for comparisons, and for the rare program
    /// that wants nothing done per poll.
    pub fn poll_stats(mut self, on: bool) -> Self {
        self.poll_stats = on;
        self
    }

    /// Serves the supervisor at `endpoint` from the start (see [`crate::serve`]), for as long
    /// as it lives: [`Supervisor::served_at`] says where.
    #[cfg(feature = "serve")]
    pub fn serve(self, endpoint: crate::serve::Endpoint) -> Self {
        self.serve_with(endpoint, crate::serve::ServeOptions::default())
    }

    /// [`SupervisorBuilder::serve`] with limits (and kinds to offer) of your own.
    #[cfg(feature = "serve")]
    pub fn serve_with(
        mut self,
        endpoint: crate::serve::Endpoint,
        options: crate::serve::ServeOptions,
    ) -> Self {
        self.serve = Some((endpoint, options));
        self
    }

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

    /// How tasks keep their journal when their definition does not say (a task spawned with
    /// [`Supervisor::spawn_fn`], say): `JournalConfig::OFF` for a program that wants no journal
    /// files. Default: a journal flushed every 10 ticks.
    pub fn default_journal(mut self, journal: JournalConfig) -> Self {
        self.default_journal = journal;
        self
    }

    /// How far a restart's wait may stray from its backoff, as a fraction either way (default
    /// 0.1, so that tasks failing together do not restart together); 0 for exact waits.
    pub fn restart_jitter(mut self, fraction: f64) -> Self {
        self.restart_jitter = fraction.clamp(0.0, 1.0);
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
        let journal_dir: Arc<Path> = run_dir.path().into();
        let inner = Arc::new_cyclic(|supervisor| Inner {
            control,
            tasks,
            owned_runtime: Mutex::new(owned_runtime),
            hub: Arc::new(Hub::new(
                self.wall_clock_origin.unwrap_or_else(Local::now),
                supervisor.clone(),
                capacity,
                polls::PollSettings::new(self.poll_stats, self.slow_poll),
            )),
            registry: RwLock::new(Vec::new()),
            grace_nanos: AtomicU64::new(duration_nanos(self.grace)),
            manifest: run_dir.manifest(),
            run_dir,
            journal_dir,
            default_journal: self.default_journal,
            restart_jitter: self.restart_jitter,
            closed: AtomicBool::new(false),
            aborted_all: CancellationToken::new(),
            serial: AtomicU64::new(0),
            #[cfg(feature = "serve")]
            server: Mutex::new(None),
        });
        let sup = Supervisor { inner };
        if self.poll_stats {
            sup.inner.watch_polls().map_err(BuildError::Watchdog)?;
        }
        #[cfg(feature = "serve")]
        if let Some((endpoint, options)) = self.serve {
            let server = sup
                .serve_with(endpoint, options)
                .map_err(BuildError::Serve)?;
            *sup.inner.server.lock().expect("server") = Some(server);
        }
        Ok(sup)
    }
}

/// The runtime a supervisor made for its tasks. Dropped without waiting for them — from inside
/// async code too, where dropping a runtime the usual way panics.
struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    /// Shuts the runtime down, dropping its tasks, waiting up to `wait` for its threads.
    fn shut_down(&mut self, wait: Duration) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_timeout(wait);
        }
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Supervises tokio tasks: spawn, graceful stop with a grace period and escalation, abort,
/// restart policies, shutdown, lock-free snapshots and a stream of lifecycle events. Cheap to
/// clone.
///
/// A worker restarted after each panic — waiting 100 ms, then 200 ms, … — until it gives up
/// after three restarts within a minute:
///
/// ```
/// use std::time::Duration;
/// use taskmon::{JournalConfig, RestartPolicy, State, Supervisor, TaskDef};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # taskmon::silence_task_panics(true);
/// let sup = Supervisor::builder()
///     .default_journal(JournalConfig::OFF) // no journal files for this program
///     .build()?;
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
    /// Set by shutdown under the registry's write lock, so a spawn either sees it or is seen by
    /// shutdown's stop of every task.
    closed: AtomicBool,
    /// Cancelled when everything was aborted during shutdown: no grace is left to wait out.
    aborted_all: CancellationToken,
    /// The last number handed out by [`Supervisor::next_serial`].
    serial: AtomicU64,
    /// Where [`SupervisorBuilder::serve`] serves it; stops serving when the supervisor goes.
    #[cfg(feature = "serve")]
    server: Mutex<Option<crate::serve::Server>>,
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
        SupervisorBuilder {
            grace: DEFAULT_GRACE,
            journal_dir: None,
            keep_journals: false,
            runtime: TaskRuntime::Current,
            wall_clock_origin: None,
            journal_capacity: None,
            default_journal: JournalConfig::default(),
            restart_jitter: 0.1,
            slow_poll: DEFAULT_SLOW_POLL,
            poll_stats: true,
            #[cfg(feature = "serve")]
            serve: None,
        }
    }

    /// Where [`SupervisorBuilder::serve`] serves this supervisor (`unix:PATH`, `tcp:ADDR`).
    #[cfg(feature = "serve")]
    pub fn served_at(&self) -> Option<String> {
        let server = self.inner.server.lock().expect("server");
        server.as_ref().map(|s| s.address().to_string())
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
            if entry.journaled && !inner.hub.journal_slots.take() {
                return Err(SupervisorError::TooManyJournals {
                    name: entry.name.clone(),
                    capacity: inner.hub.journal_slots.capacity,
                });
            }
            // The last run's token may be spent: the new run gets its own, under its parent's
            // if the parent still runs — unless it is detached, out of its parent's reach.
            let parent = entry
                .parent
                .filter(|_| !entry.is_detached())
                .and_then(|p| registry.get(usize::try_from(p).ok()?.checked_sub(1)?))
                .filter(|p| !p.is_ended());
            let token = parent.map_or_else(CancellationToken::new, |p| p.token().child_token());
            if entry.begin_run(state, Some(token)) != NewRun::Started {
                if entry.journaled {
                    inner.hub.journal_slots.release();
                }
                return Err(SupervisorError::StillRunning(id));
            }
            if !entry.is_detached() {
                inner.hub.task_started();
            }
        }
        restart.history.lock().expect("restarts").forget();
        inner.start_run(&entry, true);
        Ok(())
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
        let stages = self.inner.stages();
        self.inner.stop_in_stages(stages, true).await;
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

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
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
        ids.iter()
            .filter_map(|&id| registry.get(id.checked_sub(1)? as usize))
            .map(|entry| TaskSnapshot::read(entry, now))
            .collect()
    }

    /// Every task's state, task `id` at index `id - 1`. Lock-free per task.
    pub fn states(&self) -> Vec<State> {
        let tasks = self.len();
        self.inner.hub.states.read(tasks)
    }

    /// Every task's tick count, task `id` at index `id - 1`.
    pub fn tick_counts(&self) -> Vec<u64> {
        let registry = self.inner.registry.read().expect("registry");
        registry
            .iter()
            .map(|entry| entry.activity.ticks())
            .collect()
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

    /// [`Supervisor::on_event`], with the events of one request for many tasks handed over as
    /// one batch.
    pub fn on_delivery(&self, subscriber: impl Fn(Delivery) -> bool + Send + Sync + 'static) {
        self.inner.hub.subscribe_with(Arc::new(subscriber));
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
        entry.journaled.then(|| self.inner.journal_path_of(&entry))
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
        // Reading files is blocking work, for the runtime's blocking pool; should that pool be
        // gone (the runtime shutting down), it is done here.
        let tasks = self.snapshot();
        let on_pool = verify.clone();
        match tokio::task::spawn_blocking(move || on_pool(tasks)).await {
            Ok(reports) => reports,
            Err(_) => verify(self.snapshot()),
        }
    }
}

impl Inner {
    /// Starts the thread that finds tasks blocking their worker while they do. It holds the
    /// supervisor only while it looks, and ends once the supervisor is gone.
    fn watch_polls(self: &Arc<Self>) -> std::io::Result<()> {
        let supervisor = Arc::downgrade(self);
        let mut watchdog = polls::Watchdog::new(self.hub.polls);
        std::thread::Builder::new()
            .name("taskmon-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(watchdog.period());
                    let Some(inner) = supervisor.upgrade() else {
                        return;
                    };
                    let found = watchdog.look(|id| inner.entry(id).ok(), |entry| &entry.activity);
                    for (entry, thread, lasted) in found {
                        inner
                            .hub
                            .emit(&entry, EventKind::Blocking, || Detail::Blocking {
                                thread,
                                lasted,
                            });
                    }
                }
            })
            .map(drop)
    }

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

    pub(crate) fn spawn<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: Option<&Arc<TaskEntry>>,
    ) -> Result<TaskId, SupervisorError> {
        self.spawn_as(def, parent, false)
    }

    /// A task started by `parent` as a plain `tokio::spawn` would: see
    /// [`TaskContext::spawn_detached`].
    pub(crate) fn spawn_detached<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: &Arc<TaskEntry>,
    ) -> Result<TaskId, SupervisorError> {
        self.spawn_as(def, Some(parent), true)
    }

    fn spawn_as<L: Launch>(
        self: &Arc<Self>,
        def: TaskDef<L>,
        parent: Option<&Arc<TaskEntry>>,
        detached: bool,
    ) -> Result<TaskId, SupervisorError> {
        check_name(&def.name).map_err(|reason| SupervisorError::InvalidName {
            name: escape(&def.name).into_owned(),
            reason,
        })?;
        if def.restart.restart != Restart::Never && !def.launch.restartable() {
            return Err(SupervisorError::NotRestartable {
                name: escape(&def.name).into_owned(),
            });
        }
        let journal_config = def.journal.unwrap_or(self.default_journal);
        // A detached task's token is its own: no stop of its parent reaches it.
        let token = match parent {
            Some(p) if !detached => p.token().child_token(),
            _ => CancellationToken::new(),
        };
        // Under the write lock: shutdown sets `closed` under it too, so this task is either
        // refused here or registered before shutdown stops every registered task.
        let entry = {
            let mut registry = self.registry.write().expect("registry");
            if self.closed.load(Ordering::Relaxed) {
                return Err(SupervisorError::ShuttingDown);
            }
            if journal_config.enabled && !self.hub.journal_slots.take() {
                return Err(SupervisorError::TooManyJournals {
                    name: def.name,
                    capacity: self.hub.journal_slots.capacity,
                });
            }
            let mut entry = TaskEntry::new(
                registry.len() as TaskId + 1,
                self.hub.clone(),
                def.name,
                def.kind,
                parent.map(|p| p.id),
                journal_config.enabled,
                def.launch.on_blocking_pool(),
                token,
            );
            entry.location = Some(def.location);
            entry.stage = def.stage;
            let entry = Arc::new(entry);
            registry.push(entry.clone());
            if detached {
                // Nothing waits for it: it is not counted among the tasks shutdown waits for.
                entry.set_flag(FLAG_DETACHED, true);
            } else {
                self.hub.task_started();
            }
            entry
        };
        if let Some(parent) = parent.filter(|_| !detached) {
            parent.add_child(entry.id);
        }
        self.hub
            .emit(&entry, EventKind::Spawned, || Detail::Spawned {
                kind: entry.kind.clone(),
                parent: entry.parent,
            });
        let policy = def.restart;
        let mut keep = |relaunch| {
            let _ = entry.restart.set(Box::new(Restartable {
                policy,
                relaunch,
                journal: journal_config,
                history: Default::default(),
            }));
        };
        let (ctx, end) = self.run_parts(&entry, journal_config);
        let abort = def.launch.launch(ctx, end, &self.tasks, &mut keep);
        entry.set_abort_handle(abort);
        Ok(entry.id)
    }

    /// What a run of `entry`'s task is handed, and what records its end.
    fn run_parts(
        &self,
        entry: &Arc<TaskEntry>,
        journal: JournalConfig,
    ) -> (TaskContext, task::EndGuard) {
        let journal = entry.journaled.then(|| {
            Journal::new(
                entry.clone(),
                self.journal_dir.clone(),
                self.manifest.clone(),
                journal,
            )
        });
        (
            TaskContext::new(entry.clone(), journal),
            task::EndGuard::new(entry.clone()),
        )
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn restart_jitter(&self) -> f64 {
        self.restart_jitter
    }

    /// Runs a task again after `delay`, unless a stop or an abort ends it meanwhile (or came
    /// after the restart was decided: then it ends as that request asked).
    pub(crate) fn schedule_restart(self: &Arc<Self>, entry: Arc<TaskEntry>, delay: Duration) {
        let inner = Arc::downgrade(self);
        self.control.spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            match entry.begin_run(State::Restarting, None) {
                NewRun::Started => inner.start_run(&entry, false),
                NewRun::Asked(state) => inner.end_claimed(&entry, state),
                NewRun::Refused => {}
            }
        });
    }

    /// Starts the new run of a task that [`TaskEntry::begin_run`] readied.
    fn start_run(&self, entry: &Arc<TaskEntry>, by_hand: bool) {
        let restart = entry
            .restart
            .get()
            .expect("only restartable tasks are run again");
        let attempt = {
            let mut history = restart.history.lock().expect("restarts");
            history.total += 1;
            history.total
        };
        self.hub
            .emit(entry, EventKind::Restarted, || Detail::Restarted {
                attempt,
                by_hand,
            });
        let (ctx, end) = self.run_parts(entry, restart.journal);
        entry.set_abort_handle((restart.relaunch)(ctx, end, &self.tasks));
    }

    /// Records the end of a claimed task whose restart a request overtook: joined at once, as
    /// `state`, and counted ended.
    fn end_claimed(&self, entry: &TaskEntry, state: State) {
        let now = self.hub.since_epoch();
        let at = self.hub.listening().then(|| self.hub.wall_time(now));
        self.hub
            .send_batch(joined_at_once(entry, state, now, at).into_iter().collect());
        self.hub.settle(entry);
    }

    fn journal_path_of(&self, entry: &TaskEntry) -> PathBuf {
        self.journal_dir
            .join(journal_file_name(entry.id, &entry.name))
    }

    /// Every task stop-all, abort-all and shutdown reach, taken out of the registry so that no
    /// lock is held while they are asked (a subscriber told of it may spawn).
    fn reachable(&self) -> Vec<Arc<TaskEntry>> {
        let registry = self.registry.read().expect("registry");
        registry
            .iter()
            .filter(|e| e.is_reachable())
            .cloned()
            .collect()
    }

    /// Cancels the tokens of `roots` and of their descendants, and arms one escalation timer
    /// for all of them: a graceful stop of ten thousand tasks is one timer, not ten thousand.
    /// Returns how many tasks were newly asked to stop.
    fn request_stops(self: &Arc<Self>, roots: Vec<Arc<TaskEntry>>) -> usize {
        let grace = self.grace();
        let now = self.hub.since_epoch();
        let deadline = now.saturating_add(grace);
        let at = self.hub.listening().then(|| self.hub.wall_time(now));
        let mut queue: Vec<(Arc<TaskEntry>, Option<TaskId>)> =
            roots.into_iter().rev().map(|e| (e, None)).collect();
        let mut events = Vec::new();
        let mut asked = Vec::new();
        let mut ended = Vec::new();
        while let Some((entry, cascaded_from)) = queue.pop() {
            let detail = Detail::StopRequested {
                grace,
                cascaded_from,
            };
            let run = match entry.reach(EventKind::StopRequested, now) {
                Reached::Ended | Reached::Live { new: false, .. } => continue,
                Reached::InBackoff => {
                    self.end_in_backoff(
                        &entry,
                        State::Stopped,
                        now,
                        at,
                        (EventKind::StopRequested, detail),
                        &mut events,
                    );
                    ended.push(entry);
                    continue;
                }
                Reached::Live { new: true, run } => run,
            };
            if let Some(at) = at {
                events.push(hub::event(
                    &entry,
                    EventKind::StopRequested,
                    now,
                    at,
                    detail,
                ));
            }
            entry.set_escalation_deadline(deadline);
            for child in entry.children() {
                if let Ok(child) = self.entry(child) {
                    queue.push((child, Some(entry.id)));
                }
            }
            asked.push((entry, run));
        }
        // Told before any token is cancelled, so every task's `stop_requested` comes before
        // what the task does next.
        self.hub.send_batch(events);
        self.settle(&ended);
        for (entry, run) in &asked {
            entry.cancel_run(*run);
        }
        let asked_total = asked.len() + ended.len();
        if !asked.is_empty() {
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
        asked_total
    }

    /// Aborts every task whose stop was due by `deadline` and that has not been joined.
    fn escalate_overdue(&self, deadline: Duration, grace: Duration) {
        let overdue: Vec<_> = {
            let registry = self.registry.read().expect("registry");
            registry
                .iter()
                .filter(|e| {
                    !e.is_ended() && e.escalation_deadline().is_some_and(|due| due <= deadline)
                })
                .cloned()
                .collect()
        };
        self.abort_tasks(overdue, EventKind::Escalated, Some(grace));
    }

    /// The tasks a stop of every task reaches, by stage, lowest first.
    fn stages(&self) -> Vec<Vec<Arc<TaskEntry>>> {
        let mut stages: std::collections::BTreeMap<u32, Vec<_>> = Default::default();
        for entry in self.reachable() {
            stages.entry(entry.stage).or_default().push(entry);
        }
        stages.into_values().collect()
    }

    /// Stops `stages` one after the other: a stage is asked once the one before has been
    /// joined. A stage that overruns its grace is escalated (by its tasks' own timers; at once
    /// in a `shutdown`, which also gives up on what an abort cannot reach a second later, as
    /// `abandoned`); the next stage is asked then, with its full grace.
    async fn stop_in_stages(self: &Arc<Self>, stages: Vec<Vec<Arc<TaskEntry>>>, shutdown: bool) {
        for stage in stages {
            let grace = self.grace();
            let roots: Vec<_> = stage.into_iter().filter(|e| e.is_reachable()).collect();
            // Its children go with it, through their tokens: they are awaited with it.
            let members = self.with_descendants(&roots);
            self.request_stops(roots);
            let joined = async {
                for entry in &members {
                    entry.wait_ended().await;
                }
            };
            tokio::pin!(joined);
            tokio::select! {
                () = &mut joined => continue,
                () = tokio::time::sleep(grace) => {
                    if shutdown {
                        // Whenever its own stop would have escalated.
                        self.abort_tasks(unended(&members), EventKind::Escalated, Some(grace));
                    }
                }
                () = self.aborted_all.cancelled() => {}
            }
            tokio::select! {
                () = &mut joined => {}
                () = tokio::time::sleep(ABANDON_AFTER) => {
                    if shutdown {
                        self.abandon(unended(&members));
                    }
                }
            }
        }
    }

    /// `roots` and every task below them.
    fn with_descendants(&self, roots: &[Arc<TaskEntry>]) -> Vec<Arc<TaskEntry>> {
        let mut all = roots.to_vec();
        let mut next = 0;
        while next < all.len() {
            let children = all[next].children();
            all.extend(children.into_iter().filter_map(|id| self.entry(id).ok()));
            next += 1;
        }
        all
    }

    /// Gives up on every task of `entries` still not joined after its abort: it ends
    /// `abandoned`.
    fn abandon(&self, entries: Vec<Arc<TaskEntry>>) {
        for entry in entries {
            if !entry.begin_end() {
                continue;
            }
            let detail = || Detail::Abandoned {
                after: ABANDON_AFTER,
            };
            self.hub.emit(&entry, EventKind::Abandoned, detail);
            entry.set_end_state(State::Abandoned);
            self.hub.settle(&entry);
        }
    }

    fn grace(&self) -> Duration {
        Duration::from_nanos(self.grace_nanos.load(Ordering::Relaxed))
    }

    /// Ends a task claimed out of its restart backoff at once, as `state`, when a stop or an
    /// abort (`request`) reached it: no restart follows. Its events join `events`.
    fn end_in_backoff(
        &self,
        entry: &TaskEntry,
        state: State,
        now: Duration,
        at: Option<DateTime<Local>>,
        (request, detail): (EventKind, Detail),
        events: &mut Vec<Event>,
    ) {
        entry.mark(request, now);
        if let Some(at) = at {
            events.push(hub::event(entry, request, now, at, detail));
        }
        events.extend(joined_at_once(entry, state, now, at));
    }

    /// Counts tasks ended by [`Inner::end_in_backoff`] as ended for good, once their events are
    /// out.
    fn settle(&self, ended: &[Arc<TaskEntry>]) {
        for entry in ended {
            self.hub.settle(entry);
        }
    }

    /// The one way abort requests and escalations (after `grace`) abort tasks. Every event
    /// goes out in one batch before any abort, so a task's `joined` never comes before the
    /// request that ended it. A started blocking-pool task cannot be aborted: it is flagged, and
    /// its event says so. Returns how many tasks were asked.
    fn abort_tasks(
        &self,
        entries: Vec<Arc<TaskEntry>>,
        kind: EventKind,
        grace: Option<Duration>,
    ) -> usize {
        let now = self.hub.since_epoch();
        let at = self.hub.listening().then(|| self.hub.wall_time(now));
        let mut events = Vec::new();
        let mut asked = Vec::new();
        let mut ended = Vec::new();
        for entry in entries {
            let detail = Detail::Aborting {
                grace,
                ignored: false,
            };
            let (new, run) = match entry.reach(kind, now) {
                Reached::Ended => continue,
                Reached::InBackoff => {
                    self.end_in_backoff(
                        &entry,
                        State::Aborted,
                        now,
                        at,
                        (kind, detail),
                        &mut events,
                    );
                    ended.push(entry);
                    continue;
                }
                Reached::Live { new, run } => (new, run),
            };
            if entry.on_blocking_pool {
                entry.set_flag(FLAG_ABORT_IGNORED, true);
            }
            // Asked again, it is aborted again, but the moment and the event are the first's.
            if new && let Some(at) = at {
                let detail = Detail::Aborting {
                    grace,
                    ignored: entry.on_blocking_pool,
                };
                events.push(hub::event(&entry, kind, now, at, detail));
            }
            asked.push((entry, run));
        }
        self.hub.send_batch(events);
        self.settle(&ended);
        for (entry, run) in &asked {
            entry.abort_run(*run);
        }
        asked.len() + ended.len()
    }

    fn snapshot_of(&self, entry: &TaskEntry) -> TaskSnapshot {
        TaskSnapshot::read(entry, self.hub.since_epoch())
    }
}

/// Ends a claimed task that is not running (it waited out a backoff) as `state`: joined `now`,
/// with no time to stop. Its `joined` event, when someone listens (`at`).
fn joined_at_once(
    entry: &TaskEntry,
    state: State,
    now: Duration,
    at: Option<DateTime<Local>>,
) -> Option<Event> {
    entry.mark(EventKind::Joined, now);
    entry.set_end_state(state);
    let joined = Detail::Joined {
        state,
        stop_latency: Some(Duration::ZERO),
    };
    at.map(|at| hub::event(entry, EventKind::Joined, now, at, joined))
}

/// Those of `entries` not yet ended.
fn unended(entries: &[Arc<TaskEntry>]) -> Vec<Arc<TaskEntry>> {
    entries.iter().filter(|e| !e.is_ended()).cloned().collect()
}
