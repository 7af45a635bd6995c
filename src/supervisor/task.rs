//! A supervised task's code, wrapped so that the task records its own end.
//!
//! The wrapper is what tokio runs and what an abort drops. When the task's code returns or
//! panics, the wrapper notes how; when tokio drops it — after it returned, or at an abort, or at
//! a runtime's shutdown — the task's own locals are dropped first (a journal books what it still
//! held as lost), then the end is recorded: the moment the task is joined. No `JoinHandle` has to
//! be awaited for it, so a join costs no wake-up of another task and no allocation.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::TaskId;
use super::context::TaskContext;
use super::entry::{FLAG_ORPHAN, TaskEntry};
use super::event::{Detail, EventKind};
use super::panic::{in_task, panic_message};
use super::polls::{self, PollSettings};
use super::restart::RestartLimit;
use super::state::State;

mod sealed {
    pub trait Sealed {}
}

/// What a task's code may return: `()`, or `Result<(), E>` where an `Err` ends the run
/// `errored` with the error's message. (An error is a normal end: its restart policy decides
/// what follows.)
pub trait TaskOutput: Send + 'static {
    /// The error's message, if the run ended in one.
    #[doc(hidden)]
    fn into_error(self) -> Option<String>;
    /// Whether it is an error, without taking it.
    #[doc(hidden)]
    fn is_error(&self) -> bool;
}

impl TaskOutput for () {
    fn into_error(self) -> Option<String> {
        None
    }
    fn is_error(&self) -> bool {
        false
    }
}

/// Code that never returns (a `loop` without a `break`, a `panic!`) has the type `!`, which
/// stable Rust names only as a function's return type.
mod never {
    pub trait Output {
        type Type;
    }
    impl<T> Output for fn() -> T {
        type Type = T;
    }
    pub type Never = <fn() -> ! as Output>::Type;
}

impl TaskOutput for never::Never {
    fn into_error(self) -> Option<String> {
        self
    }
    fn is_error(&self) -> bool {
        *self
    }
}

impl<E: std::fmt::Display + Send + 'static> TaskOutput for Result<(), E> {
    fn into_error(self) -> Option<String> {
        self.err().map(|error| error.to_string())
    }
    fn is_error(&self) -> bool {
        self.is_err()
    }
}

/// A run's handle, kept to abort it. The spawn's own `JoinHandle`, not an `AbortHandle` made
/// from it: making one and dropping the other were two more writes to tokio's task a spawn.
pub(crate) type RunHandle = JoinHandle<()>;

/// Starts a run of a task's code again: kept for tasks defined to be restartable.
pub(crate) type Relaunch = Arc<dyn Fn(TaskContext, EndGuard, &Handle) -> RunHandle + Send + Sync>;

/// How a task's code is started on a runtime: the ways a [`TaskDef`](super::TaskDef) is made.
/// Not for implementing outside taskmon.
pub trait Launch: sealed::Sealed + Send + 'static {
    #[doc(hidden)]
    fn on_blocking_pool(&self) -> bool;
    /// Whether the code can be run again.
    #[doc(hidden)]
    fn restartable(&self) -> bool;
    /// Starts the code. `keep` receives how to start it again, if it can be, before it starts.
    #[doc(hidden)]
    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        keep: &mut dyn FnMut(Relaunch),
    ) -> RunHandle;
    /// The code as a launcher that many tasks can share, when it can be run again.
    #[doc(hidden)]
    fn into_relaunch(self) -> Result<Relaunch, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// An async task's code, of its own type: its future is stored inline in tokio's task.
pub struct AsyncTask<F>(pub(super) F);

/// A blocking-pool task's code, of its own type.
pub struct BlockingTask<F>(pub(super) F);

/// An async task's code that can be run again: a restart policy or a person can restart it.
pub struct RestartableTask<F>(pub(super) F);

/// A blocking-pool task's code that can be run again.
pub struct RestartableBlockingTask<F>(pub(super) F);

/// Starts boxed task code.
type LaunchFn =
    Box<dyn FnOnce(TaskContext, EndGuard, &Handle, &mut dyn FnMut(Relaunch)) -> RunHandle + Send>;

/// Task code of any kind behind one box.
pub struct BoxedTask {
    on_blocking_pool: bool,
    restartable: bool,
    start: Start,
}

/// How boxed code starts: once, or through a launcher that every copy of a definition shares
/// (so a scenario's million copies of one task keep one closure, not a million).
enum Start {
    Once(LaunchFn),
    Shared(Relaunch),
}

impl BoxedTask {
    pub(super) fn new(launch: impl Launch) -> Self {
        let (on_blocking_pool, restartable) = (launch.on_blocking_pool(), launch.restartable());
        let start = match launch.into_relaunch() {
            Ok(relaunch) => Start::Shared(relaunch),
            Err(launch) => Start::Once(Box::new(move |ctx, end, runtime, keep| {
                launch.launch(ctx, end, runtime, keep)
            })),
        };
        Self {
            on_blocking_pool,
            restartable,
            start,
        }
    }

    /// The same code for another task, when it is shared.
    #[cfg(feature = "cli")]
    pub(super) fn share(&self) -> Option<Self> {
        match &self.start {
            Start::Shared(relaunch) => Some(Self {
                on_blocking_pool: self.on_blocking_pool,
                restartable: self.restartable,
                start: Start::Shared(relaunch.clone()),
            }),
            Start::Once(_) => None,
        }
    }
}

impl<F> sealed::Sealed for AsyncTask<F> {}
impl<F> sealed::Sealed for BlockingTask<F> {}
impl<F> sealed::Sealed for RestartableTask<F> {}
impl<F> sealed::Sealed for RestartableBlockingTask<F> {}
impl sealed::Sealed for BoxedTask {}

impl<F, Fut> Launch for AsyncTask<F>
where
    F: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future<Output: TaskOutput> + Send + 'static,
{
    fn on_blocking_pool(&self) -> bool {
        false
    }

    fn restartable(&self) -> bool {
        false
    }

    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        _: &mut dyn FnMut(Relaunch),
    ) -> RunHandle {
        let name = TokioName::of(&ctx);
        name.spawn(runtime, Supervised::new((self.0)(ctx), end))
    }
}

/// What tokio is told a task is called. Built with `--cfg tokio_unstable` and the `task-names`
/// feature, its name, through tokio's task builder (which needs both), so that tokio's own
/// tools (tokio-console) show the names the dashboard shows; otherwise nothing, and the plain
/// spawn.
struct TokioName(#[cfg(all(tokio_unstable, feature = "task-names"))] String);

impl TokioName {
    fn of(ctx: &TaskContext) -> Self {
        #[cfg(all(tokio_unstable, feature = "task-names"))]
        return Self(ctx.name().to_owned());
        #[cfg(not(all(tokio_unstable, feature = "task-names")))]
        {
            let _ = ctx;
            Self()
        }
    }

    fn spawn<F>(self, runtime: &Handle, future: F) -> RunHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        #[cfg(all(tokio_unstable, feature = "task-names"))]
        return tokio::task::Builder::new()
            .name(&self.0)
            .spawn_on(future, runtime)
            .expect("tokio's task builder spawns on a runtime's handle without fail");
        #[cfg(not(all(tokio_unstable, feature = "task-names")))]
        runtime.spawn(future)
    }

    fn spawn_blocking<F>(self, runtime: &Handle, body: F) -> RunHandle
    where
        F: FnOnce() + Send + 'static,
    {
        #[cfg(all(tokio_unstable, feature = "task-names"))]
        return tokio::task::Builder::new()
            .name(&self.0)
            .spawn_blocking_on(body, runtime)
            .expect("tokio's task builder spawns on a runtime's handle without fail");
        #[cfg(not(all(tokio_unstable, feature = "task-names")))]
        runtime.spawn_blocking(body)
    }
}

impl<F, O> Launch for BlockingTask<F>
where
    F: FnOnce(TaskContext) -> O + Send + 'static,
    O: TaskOutput,
{
    fn on_blocking_pool(&self) -> bool {
        true
    }

    fn restartable(&self) -> bool {
        false
    }

    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        _: &mut dyn FnMut(Relaunch),
    ) -> RunHandle {
        let body = self.0;
        let name = TokioName::of(&ctx);
        name.spawn_blocking(runtime, move || run_blocking(move || body(ctx), end))
    }
}

impl<F, Fut> Launch for RestartableTask<F>
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output: TaskOutput> + Send + 'static,
{
    fn on_blocking_pool(&self) -> bool {
        false
    }

    fn restartable(&self) -> bool {
        true
    }

    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        keep: &mut dyn FnMut(Relaunch),
    ) -> RunHandle {
        start_kept(self.relaunch(), ctx, end, runtime, keep)
    }

    fn into_relaunch(self) -> Result<Relaunch, Self> {
        Ok(self.relaunch())
    }
}

/// Starts code that can be run again, after handing `keep` the launcher that runs it again.
fn start_kept(
    relaunch: Relaunch,
    ctx: TaskContext,
    end: EndGuard,
    runtime: &Handle,
    keep: &mut dyn FnMut(Relaunch),
) -> RunHandle {
    keep(relaunch.clone());
    relaunch(ctx, end, runtime)
}

impl<F, Fut> RestartableTask<F>
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output: TaskOutput> + Send + 'static,
{
    fn relaunch(self) -> Relaunch {
        let body = self.0;
        Arc::new(move |ctx, end, runtime: &Handle| {
            let name = TokioName::of(&ctx);
            name.spawn(runtime, Supervised::new(body(ctx), end))
        })
    }
}

impl<F, O> Launch for RestartableBlockingTask<F>
where
    F: Fn(TaskContext) -> O + Send + Sync + 'static,
    O: TaskOutput,
{
    fn on_blocking_pool(&self) -> bool {
        true
    }

    fn restartable(&self) -> bool {
        true
    }

    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        keep: &mut dyn FnMut(Relaunch),
    ) -> RunHandle {
        start_kept(self.relaunch(), ctx, end, runtime, keep)
    }

    fn into_relaunch(self) -> Result<Relaunch, Self> {
        Ok(self.relaunch())
    }
}

impl<F, O> RestartableBlockingTask<F>
where
    F: Fn(TaskContext) -> O + Send + Sync + 'static,
    O: TaskOutput,
{
    fn relaunch(self) -> Relaunch {
        let body = Arc::new(self.0);
        Arc::new(move |ctx, end, runtime: &Handle| {
            let body = body.clone();
            let name = TokioName::of(&ctx);
            name.spawn_blocking(runtime, move || run_blocking(move || body(ctx), end))
        })
    }
}

impl Launch for BoxedTask {
    fn on_blocking_pool(&self) -> bool {
        self.on_blocking_pool
    }

    fn restartable(&self) -> bool {
        self.restartable
    }

    fn launch(
        self,
        ctx: TaskContext,
        end: EndGuard,
        runtime: &Handle,
        keep: &mut dyn FnMut(Relaunch),
    ) -> RunHandle {
        match self.start {
            Start::Once(launch) => launch(ctx, end, runtime, keep),
            Start::Shared(relaunch) => start_kept(relaunch, ctx, end, runtime, keep),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future tokio runs for a supervised async task: the task's own future, inline, and
    /// what records its end.
    pub(crate) struct Supervised<F> {
        // Dropped in place at the end of its last poll, or with the rest (an abort). Not an
        // `Option`: its tag would cost every task's memory, and tokio's task rounds up by 128
        // bytes.
        #[pin]
        future: ManuallyDrop<F>,
        // Declared after `future`, so it is dropped after it.
        end: EndGuard,
    }
    impl<F> PinnedDrop for Supervised<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !this.end.is_recorded() {
                // SAFETY: not dropped yet (an ended task's future was dropped before its end
                // was recorded), and dropped in place, as pinning requires.
                unsafe { ManuallyDrop::drop(this.future.get_unchecked_mut()) }
            }
        }
    }
}

impl<F> Supervised<F> {
    pub fn new(future: F, end: EndGuard) -> Self {
        Self {
            future: ManuallyDrop::new(future),
            end,
        }
    }
}

impl<F: Future<Output: TaskOutput>> Future for Supervised<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.end.is_recorded() {
            return Poll::Ready(());
        }
        // The poll's events go out together when it is over.
        let hub = this.end.hub;
        // SAFETY: the hub is the record's, which the guard's `entry` keeps alive through the
        // poll. (Copied out of the guard, which the poll changes meanwhile.)
        let _held = unsafe { hub.as_ref() }.hold();
        // SAFETY: a projection of the pinned future, never moved out of (only dropped in place).
        let mut future = unsafe { this.future.as_mut().map_unchecked_mut(|f| &mut **f) };
        let result = {
            // Marked as task code, so a silenced panic hook stays quiet; caught, so the panic
            // becomes the task's end rather than tokio's.
            #[cfg(feature = "tracing")]
            let _in_span = this.end.span.as_deref().map(tracing::Span::enter);
            let mut poll =
                || in_task(|| catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))));
            let end = &this.end;
            let entry = &end.entry;
            if end.polls.enabled {
                let (result, slow) = polls::timed(&entry.activity, &end.polls, end.id, poll);
                if let Some(lasted) = slow {
                    entry
                        .hub
                        .emit(entry, EventKind::LongPoll, || Detail::LongPoll { lasted });
                }
                result
            } else {
                poll()
            }
        };
        let outcome = match result {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Outcome::returned(output),
            Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
        };
        // Its locals go first (a journal books what it still held as lost), then its end is
        // recorded: here rather than when tokio drops it, so that the end's events go out with
        // those of the poll that ended it (a stop noticed, a cleanup, the join: one hand-over).
        // A panic while its locals drop changes nothing of how it ended, as before.
        let _ = in_task(|| {
            catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: dropped in place, once: `record` below marks it dropped, and it is
                // never polled or dropped again.
                unsafe { ManuallyDrop::drop(this.future.as_mut().get_unchecked_mut()) }
            }))
        });
        this.end.ending = Ending::Noted(outcome);
        this.end.record();
        Poll::Ready(())
    }
}

/// Runs a blocking-pool task's code, noting how it ended; the guard records the end when the
/// closure that owns it is done (or dropped unrun, at a runtime's shutdown).
fn run_blocking<O: TaskOutput>(body: impl FnOnce() -> O, mut end: EndGuard) {
    #[cfg(feature = "tracing")]
    let span = end.span.clone();
    #[cfg(feature = "tracing")]
    let _in_span = span.as_deref().map(tracing::Span::enter);
    end.ending = Ending::Noted(match in_task(|| catch_unwind(AssertUnwindSafe(body))) {
        Ok(output) => Outcome::returned(output),
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    });
}

/// Where a run's end stands, in one field of every task's future (a flag beside an `Option`
/// would take 8 bytes more, and tokio's task rounds up by 128).
enum Ending {
    /// Its code runs, or was dropped unfinished (an abort).
    Running,
    /// Its code ended so; the end is recorded next.
    Noted(Outcome),
    /// The end has been recorded (once). An async task's future has been dropped by then (see
    /// [`Supervised`]).
    Recorded,
}

/// How the task's code ended; none at all when it was dropped first (an abort).
enum Outcome {
    Returned,
    Errored(String),
    Panicked(String),
}

impl Outcome {
    fn returned(output: impl TaskOutput) -> Self {
        match output.into_error() {
            None => Outcome::Returned,
            Some(message) => Outcome::Errored(message),
        }
    }
}

/// Records the task's end when dropped (or at the end of its last poll). Counts among the
/// tasks shutdown waits for until then.
pub struct EndGuard {
    entry: Arc<TaskEntry>,
    ending: Ending,
    // Copies of what every poll reads, on the line of the task's memory that every poll
    // touches: read through `entry`, they cost the ordinary loop two cache misses a poll.
    polls: PollSettings,
    id: TaskId,
    /// `entry.hub`, for the same reason: every poll asks it whether to hold its events.
    hub: std::ptr::NonNull<super::hub::Hub>,
    /// The run's span, entered at every poll; none without a tracing subscriber. Boxed: a
    /// span's 40 bytes in every task's future cost every spawn its copies.
    #[cfg(feature = "tracing")]
    span: Option<Box<tracing::Span>>,
}

impl EndGuard {
    /// Made once the task has been counted as started.
    pub(super) fn new(entry: Arc<TaskEntry>) -> Self {
        Self {
            polls: entry.hub.polls,
            id: entry.id,
            hub: std::ptr::NonNull::from(&*entry.hub),
            #[cfg(feature = "tracing")]
            span: entry
                .hub
                .tracing()
                .then(|| Box::new(super::trace::run_span(&entry, entry.restarts() + 1))),
            entry,
            ending: Ending::Running,
        }
    }

    fn is_recorded(&self) -> bool {
        matches!(self.ending, Ending::Recorded)
    }

    /// Records the task's end, with the outcome noted so far (none: it was dropped, as by an
    /// abort), unless that was done.
    fn record(&mut self) {
        let outcome = match std::mem::replace(&mut self.ending, Ending::Recorded) {
            Ending::Recorded => return,
            Ending::Running => None,
            Ending::Noted(outcome) => Some(outcome),
        };
        let entry = &self.entry;
        // Its end's events go out together, with its last poll's when it ends in one.
        let _held = entry.hub.hold();
        if record_end(entry, outcome) {
            entry.hub.settle(entry);
        }
    }
}

// SAFETY: `hub` points into an `Arc<Hub>` that `entry` holds; the hub is `Sync`.
unsafe impl Send for EndGuard {}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.record();
    }
}

/// Records how a task's run ended: its end for good, or — when its restart policy covers such an
/// end — a restart after a backoff, or `failed` when the policy gives up. Flags its still-running
/// children as orphans and wakes whoever waits for the join. Returns whether the task ended for
/// good here (a task given up on as abandoned was settled then).
fn record_end(entry: &Arc<TaskEntry>, outcome: Option<Outcome>) -> bool {
    if !entry.begin_end() {
        return false;
    }
    let hub = &entry.hub;
    // Read once: a request stamped after this reading finds the task restarting (and ends it
    // there) or ended, never a run that decided on two different readings.
    let stop_asked = entry.reached(EventKind::StopRequested);
    let asked = stop_asked || entry.reached(EventKind::AbortRequested);
    let mut state = match outcome {
        // The stamp first: `is_cancelled` takes a lock, and it is only needed for a token
        // the task's own code cancelled.
        Some(Outcome::Returned) if stop_asked || entry.token().is_cancelled() => State::Stopped,
        Some(Outcome::Returned) => State::Finished,
        Some(Outcome::Errored(message)) => {
            let message: Arc<str> = crate::text::capped(&message).into();
            entry.set_error(message.clone());
            hub.emit(entry, EventKind::Errored, || Detail::Errored { message });
            State::Errored
        }
        Some(Outcome::Panicked(message)) => {
            let message: Arc<str> = crate::text::capped(&message).into();
            entry.set_panic_message(message.clone());
            hub.emit(entry, EventKind::Panicked, || Detail::Panicked { message });
            State::Panicked
        }
        None if entry.reached(EventKind::Escalated) => State::Escalated,
        None if entry.is_detached() && !entry.reached(EventKind::AbortRequested) => {
            // Nobody asked: its runtime was dropped with the program. It is never joined.
            entry.set_end_state(State::Dropped);
            hub.emit(entry, EventKind::Dropped, || Detail::None);
            return true;
        }
        None => State::Aborted,
    };
    if let Some(restart) = restart_due(entry, state, asked) {
        match restart {
            Restart::After(delay, attempt) => {
                entry.set_end_state(State::Restarting);
                hub.emit(entry, EventKind::Restarting, || Detail::Restarting {
                    after: state,
                    delay,
                    attempt,
                });
                orphan_children(entry, state);
                if let Some(supervisor) = hub.supervisor.upgrade() {
                    supervisor.schedule_restart(entry.clone(), delay);
                }
                return false;
            }
            Restart::GiveUp(limit) => {
                let restarts = entry.restarts();
                hub.emit(entry, EventKind::Failed, || Detail::Failed {
                    after: state,
                    restarts,
                    within: limit.within,
                });
                state = State::Failed;
            }
        }
    }
    let since_start = hub.since_epoch();
    entry.mark(EventKind::Joined, since_start);
    entry.set_end_state(state);
    if hub.listening() {
        let timeline = entry.timeline();
        let detail = Detail::Joined {
            state,
            stop_latency: timeline.stop_latency(state),
            cleanup: timeline.cleanup_time(),
        };
        hub.send(entry, EventKind::Joined, since_start, detail);
    }
    orphan_children(entry, state);
    true
}

/// What a restart policy makes of a run's end.
enum Restart {
    /// Run again after this long, as restart number `.1` (counting from 1).
    After(Duration, u32),
    /// The limit is reached: `failed`.
    GiveUp(RestartLimit),
}

/// Whether the task's restart policy covers this end: a panic, an error or a return of its own,
/// that no person or program asked for, outside a shutdown.
fn restart_due(entry: &TaskEntry, end: State, asked: bool) -> Option<Restart> {
    let restart = entry.restart.get()?;
    if asked || !restart.policy().covers(end) {
        return None;
    }
    let supervisor = entry.hub.supervisor.upgrade()?;
    if supervisor.is_closed() {
        return None;
    }
    let mut history = restart.history();
    Some(
        match history.decide(restart.policy().limit, entry.hub.since_epoch()) {
            Some(n) => Restart::After(
                restart.policy().backoff(n, supervisor.restart_jitter()),
                history.total + 1,
            ),
            None => Restart::GiveUp(restart.policy().limit),
        },
    )
}

/// Flags the task's children that still run as orphans: their parent's run ended as `state`.
fn orphan_children(entry: &TaskEntry, state: State) {
    let children = entry.children();
    if children.is_empty() {
        return;
    }
    let Some(supervisor) = entry.hub.supervisor.upgrade() else {
        return;
    };
    for child in children
        .into_iter()
        .filter_map(|id| supervisor.entry(id).ok())
    {
        if !child.is_ended() {
            child.set_flag(FLAG_ORPHAN, true);
            let detail = || Detail::Orphaned {
                parent: entry.id,
                parent_state: state,
            };
            entry.hub.emit(&child, EventKind::Orphaned, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task's future holds a guard, and tokio's task rounds its size up by 128 bytes: a
    /// few bytes more here cost some programs 128 bytes a task.
    #[test]
    fn the_end_guard_stays_small() {
        let tracing_span = if cfg!(feature = "tracing") { 8 } else { 0 };
        assert_eq!(std::mem::size_of::<EndGuard>(), 72 + tracing_span);
    }
}
