//! Why a supervisor could not be built, or a call on it was refused.

use std::io;
use std::path::PathBuf;

use super::TaskId;
use super::name::NameError;

/// Why a supervisor call was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// No task has this id.
    #[error("there is no task #{0}")]
    UnknownTask(TaskId),
    /// The task has ended; there is nothing left to stop or abort.
    #[error("task #{0} has already ended")]
    AlreadyEnded(TaskId),
    /// Shutdown has begun; no task is spawned from here on.
    #[error("the supervisor is shutting down and spawns no new tasks")]
    ShuttingDown,
    /// The supervisor holds as many tasks as its records can number (ended ones included).
    #[error("cannot spawn `{name}`: the supervisor holds {capacity} tasks, as many as it can")]
    Full {
        /// The name, with its control characters escaped.
        name: String,
        /// How many tasks one supervisor can hold.
        capacity: u64,
    },
    /// The name breaks the rules for names.
    #[error("cannot spawn `{name}`: {reason}")]
    InvalidName {
        /// The name, with its control characters escaped.
        name: String,
        /// Which rule it breaks.
        reason: NameError,
    },
    /// A restart policy was given to code that can run only once, or a task defined so was to
    /// be restarted: define it with [`TaskDef::restartable`](super::TaskDef::restartable).
    #[error(
        "`{name}` cannot be run again: its code runs once; define it with TaskDef::restartable to restart it"
    )]
    NotRestartable {
        /// The task's name, escaped.
        name: String,
    },
    /// Only an ended task can be restarted by hand.
    #[error("task #{0} is still running; stop it before restarting it")]
    StillRunning(TaskId),
    /// A task given up on as abandoned may still be running somewhere: it is not run twice.
    #[error("task #{0} was abandoned and may still be running; it is not restarted")]
    Abandoned(TaskId),
    /// Every journal keeps a file open; the open-file limit leaves room for no more.
    #[error(
        "cannot spawn `{name}` with a journal: {capacity} journals are open, as many as the open-file limit leaves room for; raise the limit (ulimit -n) or spawn it without a journal"
    )]
    TooManyJournals {
        /// The task's name.
        name: String,
        /// How many journals may be open at once.
        capacity: usize,
    },
}

/// Why [`SupervisorBuilder::build`](super::SupervisorBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `build` was called outside a tokio runtime, which does the supervisor's own work.
    #[error("taskmon's Supervisor must be built inside a tokio runtime")]
    NoRuntime,
    /// The runtime asked for with `own_task_runtime` could not be started.
    #[error("cannot start the runtime for the tasks: {0}")]
    TaskRuntime(#[source] io::Error),
    /// The thread that watches for blocking polls could not be started.
    #[error("cannot start the thread that watches the tasks' polls: {0}")]
    Watchdog(#[source] io::Error),
    /// The thread that reads the tasks' figures for metrics once a second could not be started.
    #[error("cannot start the thread that reports the tasks' figures to metrics: {0}")]
    MetricsSampler(#[source] io::Error),
    /// The journal directory cannot be created, locked or written.
    #[error("cannot use {} as the journal directory: {source}", dir.display())]
    JournalDir {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Another supervisor (another taskmon run) holds the journal directory's lock.
    #[error(
        "the journal directory {} is in use by another taskmon run; wait for it to end or choose another directory",
        dir.display()
    )]
    JournalDirInUse {
        /// The directory.
        dir: PathBuf,
    },
    /// What was to start with the supervisor could not: serving it
    /// ([`SupervisorBuilder::serve`](super::SupervisorBuilder::serve)), for one.
    #[error(transparent)]
    Start(Box<dyn std::error::Error + Send + Sync>),
}
