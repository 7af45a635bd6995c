//! Why a supervisor could not be built, or a call on it was refused.

use std::io;
use std::path::PathBuf;

use super::TaskId;
use super::name::NameError;

/// Why a supervisor call was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    #[error("there is no task #{0}")]
    UnknownTask(TaskId),
    #[error("task #{0} has already ended")]
    AlreadyEnded(TaskId),
    #[error("the supervisor is shutting down and spawns no new tasks")]
    ShuttingDown,
    /// `name` is shown with its control characters escaped.
    #[error("cannot spawn `{name}`: {reason}")]
    InvalidName { name: String, reason: NameError },
    /// Every journal keeps a file open; the open-file limit leaves room for no more.
    #[error(
        "cannot spawn `{name}` with a journal: {capacity} journals are open, as many as the open-file limit leaves room for; raise the limit (ulimit -n) or spawn it without a journal"
    )]
    TooManyJournals { name: String, capacity: usize },
}

/// Why [`SupervisorBuilder::build`](super::SupervisorBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("taskmon's Supervisor must be built inside a tokio runtime")]
    NoRuntime,
    #[error("cannot start the runtime for the tasks: {0}")]
    TaskRuntime(#[source] io::Error),
    #[error("cannot use {} as the journal directory: {source}", dir.display())]
    JournalDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the journal directory {} is in use by another taskmon run; wait for it to end or choose another directory",
        dir.display()
    )]
    JournalDirInUse { dir: PathBuf },
}
