//! How a supervisor is configured and built.

use super::entry::MAX_TASKS;
use super::*;

/// Started once a supervisor is built: see [`SupervisorBuilder::on_start`].
pub(crate) type StartHook = Box<dyn FnOnce(&Supervisor) -> Result<Kept, BuildError> + Send>;

/// Something that lives as long as the supervisor that keeps it.
pub(crate) type Kept = Box<dyn std::any::Any + Send + Sync>;

pub(super) enum TaskRuntime {
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
    parent_token: Option<CancellationToken>,
    metrics: bool,
    metrics_task_labels: bool,
    /// What starts with the supervisor, once it is built (a server, from [`crate::serve`]).
    on_start: Vec<StartHook>,
    /// The most tasks it holds: [`MAX_TASKS`], lowered only by unit tests (four billion spawns
    /// are out of a test's reach).
    capacity: u64,
}

impl SupervisorBuilder {
    pub(super) fn new() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            journal_dir: None,
            keep_journals: false,
            runtime: TaskRuntime::Current,
            wall_clock_origin: None,
            journal_capacity: None,
            default_journal: JournalConfig::OFF,
            restart_jitter: 0.1,
            slow_poll: DEFAULT_SLOW_POLL,
            poll_stats: true,
            parent_token: None,
            metrics: true,
            metrics_task_labels: false,
            on_start: Vec::new(),
            capacity: MAX_TASKS,
        }
    }

    /// Whether the supervisor reports to the `metrics` facade (default: yes, with the `metrics`
    /// feature). Install the exporter (a Prometheus one, say) before building the supervisor:
    /// what is registered before an exporter exists goes nowhere. Without an exporter, the
    /// reports cost an atomic load each, and a look at every task once a second.
    pub fn metrics(mut self, report: bool) -> Self {
        self.metrics = report;
        self
    }

    /// Adds a `task` label (the task's name) to every figure, beside `kind`. A label per task is
    /// a time series per task in the exporter: for programs with a few long-lived tasks, not for
    /// ten thousand connections (default: off).
    pub fn metrics_task_labels(mut self, per_task: bool) -> Self {
        self.metrics_task_labels = per_task;
        self
    }

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

    /// Starts `hook` once the supervisor is built: what it returns lives as long as the
    /// supervisor; its error fails the build. How parts built on the core (serving) start with
    /// it without the core knowing them.
    #[cfg_attr(not(feature = "serve"), allow(dead_code))] // only the server starts this way today
    pub(crate) fn on_start(mut self, hook: StartHook) -> Self {
        self.on_start.push(hook);
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
    /// [`Supervisor::spawn_fn`], say). Default: `JournalConfig::OFF`. Journals are the lessons'
    /// instrument (`persisted`/`lost` counts of records a task wrote): a service's own tasks keep
    /// their data their own way, so a clean job should not read as one that lost records. Pass
    /// `JournalConfig::default()` to give every task one.
    pub fn default_journal(mut self, journal: JournalConfig) -> Self {
        self.default_journal = journal;
        self
    }

    /// The program's own root token: cancelling it shuts the supervisor down gracefully, in
    /// stages, as [`Supervisor::shutdown`] with the grace set then. The tasks' tokens are not
    /// its children (that would stop every stage at once); await `shutdown` (or
    /// [`Supervisor::all_joined`]) in `main` to know when they are all joined.
    pub fn parent_token(mut self, token: CancellationToken) -> Self {
        self.parent_token = Some(token);
        self
    }

    /// How far a restart's wait may stray from its backoff, as a fraction either way (default
    /// 0.1, so that tasks failing together do not restart together); 0 for exact waits.
    pub fn restart_jitter(mut self, fraction: f64) -> Self {
        self.restart_jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// A supervisor that holds at most `tasks` tasks, for a test of a full one.
    #[cfg(test)]
    pub(crate) fn capacity(mut self, tasks: u64) -> Self {
        self.capacity = tasks.min(MAX_TASKS);
        self
    }

    /// Builds the supervisor. Must be called inside a tokio runtime: that runtime does the
    /// supervisor's own work.
    pub fn build(self) -> Result<Supervisor, BuildError> {
        let control = Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        super::polls::calibrate_clock();
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
                Reporting {
                    // Set before the supervisor is built, as a program's `main` does; a
                    // program without a subscriber pays nothing for the events.
                    tracing: cfg!(feature = "tracing") && tracing_subscriber_set(),
                    metrics: cfg!(feature = "metrics") && self.metrics,
                    per_task: self.metrics_task_labels,
                },
            )),
            registry: RwLock::new(Vec::new()),
            grace_nanos: AtomicU64::new(duration_nanos(self.grace)),
            manifest: run_dir.manifest(),
            run_dir,
            journal_dir,
            default_journal: self.default_journal,
            restart_jitter: self.restart_jitter,
            capacity: self.capacity,
            aborted_all: CancellationToken::new(),
            serial: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
            #[cfg(feature = "metrics")]
            metrics_sampler: Default::default(),
        });
        let sup = Supervisor { inner };
        if let Some(token) = self.parent_token {
            // Holds the supervisor weakly: a program that drops it is not kept running.
            let inner = Arc::downgrade(&sup.inner);
            sup.inner.control.spawn(async move {
                token.cancelled().await;
                if let Some(inner) = inner.upgrade() {
                    let sup = Supervisor { inner };
                    sup.shutdown(sup.grace()).await;
                }
            });
        }
        if self.poll_stats {
            sup.inner.watch_polls().map_err(BuildError::Watchdog)?;
        }
        #[cfg(feature = "metrics")]
        if self.metrics {
            sup.inner
                .sample_metrics(self.metrics_task_labels)
                .map_err(BuildError::MetricsSampler)?;
        }
        for hook in self.on_start {
            let kept = hook(&sup)?;
            sup.inner.kept.lock().expect("kept").push(kept);
        }
        Ok(sup)
    }
}

/// The runtime a supervisor made for its tasks. Dropped without waiting for them — from inside
/// async code too, where dropping a runtime the usual way panics.
pub(super) struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    /// Shuts the runtime down, dropping its tasks, waiting up to `wait` for its threads.
    pub(super) fn shut_down(&mut self, wait: Duration) {
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

/// Whether the program has set a global `tracing` subscriber.
fn tracing_subscriber_set() -> bool {
    #[cfg(feature = "tracing")]
    return tracing::dispatcher::has_been_set();
    #[cfg(not(feature = "tracing"))]
    false
}
