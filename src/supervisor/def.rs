//! What a task is before it runs: its name, kind, journal, restart policy, stage and code.

use super::*;

/// Everything needed to spawn one task: its name, a kind label, its journal and its code.
///
/// `L` is how the code starts: [`AsyncTask`] or [`BlockingTask`] as made by [`TaskDef::new`]
/// and [`TaskDef::blocking`], which keep the code's own type so tokio stores its future inline;
/// or [`BoxedTask`] (the default), for definitions of different code that must share one type.
pub struct TaskDef<L = BoxedTask> {
    pub(super) name: String,
    pub(super) kind: Label,
    /// `None`: the supervisor's default.
    pub(super) journal: Option<JournalConfig>,
    /// `None`: never. Shared by the copies of one definition (a scenario's million tasks keep
    /// one policy, not a million).
    pub(super) restart: Option<Arc<RestartPolicy>>,
    pub(super) location: SpawnSite,
    pub(super) stage: u32,
    pub(super) critical: bool,
    pub(super) launch: L,
}

impl<L> TaskDef<L> {
    #[track_caller]
    fn with_launch(name: String, launch: L) -> Self {
        Self {
            name,
            kind: Label::from("custom"),
            journal: None,
            restart: None,
            location: SpawnSite::caller(),
            stage: 0,
            critical: false,
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

    /// Marks a task the program cannot live without (the acceptor, the writer): its end for
    /// good — finished, stopped from `ctl` or the dashboard, errored, panicked, aborted,
    /// failed after its restarts — starts a graceful shutdown of the whole supervisor, in
    /// stages, instead of leaving the program running half-dead. A restart its policy grants
    /// is no end. Await [`Supervisor::all_joined`] (or [`Supervisor::first_ended`]) in `main`.
    pub fn critical(mut self) -> Self {
        self.critical = true;
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
        self.restart = Some(Arc::new(policy));
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
    ///
    /// `body` is kept while a run may follow: until the task has ended and shutdown has begun
    /// (an ended task can be restarted by hand before that). Then it is dropped with what it
    /// captured — a channel's `Sender`, say, so that the writer draining the channel in a
    /// later [stage](TaskDef::stage) sees it close.
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
            critical: self.critical,
            launch: BoxedTask::new(self.launch),
        }
    }
}

impl TaskDef {
    /// The same definition under another name, sharing its code, when the code is shared (boxed
    /// code that can be run again): the many copies of one scenario task.
    #[cfg(feature = "cli")]
    pub(crate) fn copy_named(&self, name: String) -> Option<TaskDef> {
        Some(TaskDef {
            name,
            kind: self.kind.clone(),
            journal: self.journal,
            restart: self.restart.clone(),
            location: self.location.clone(),
            stage: self.stage,
            critical: self.critical,
            launch: self.launch.share()?,
        })
    }
}
