//! taskmon in `tracing`: each run of a task inside a span, so the task's own log lines say which
//! task wrote them, and every lifecycle event a tracing event at the level it deserves.
//!
//! A run's span is a root, as tokio's own task spans are: a task outlives the code that spawned
//! it (a request handler, a key press on the dashboard), and a child span would keep that
//! spawner's span open, and its timing wrong, for as long as the task runs. The spawner's span is
//! linked instead, with `follows_from`, so the cause is not lost.

use tracing::{Level, Span};

use super::entry::TaskEntry;
use super::event::{Event, EventKind};

/// The span a run of `entry`'s task executes in: at `ERROR` level, so that a filter as strict as
/// `warn` still keeps it and the task's warnings still say which task wrote them.
pub(crate) fn run_span(entry: &TaskEntry, run: u32) -> Span {
    let span = tracing::error_span!(
        target: "taskmon",
        parent: None,
        "task",
        task.id = entry.id,
        task.name = %entry.name,
        task.kind = %&*entry.kind,
        task.run = run,
    );
    if !span.is_disabled() {
        span.follows_from(Span::current());
    }
    span
}

/// How loud an event is: the ordinary life of a task is `debug`, what a person asked for is
/// `info`, what went wrong without ending the task badly is `warn`, a task lost is `error`.
pub fn level(kind: EventKind) -> Level {
    use EventKind::*;
    match kind {
        Spawned | StopNoticed | CleanupStarted | CleanupFinished | Joined | Restarted => {
            Level::DEBUG
        }
        StopRequested | AbortRequested => Level::INFO,
        Escalated | Restarting | LongPoll | Blocking | JournalError | Orphaned | Abandoned
        | Dropped => Level::WARN,
        Panicked | Errored | Failed => Level::ERROR,
    }
}

/// Sends `e` to the program's tracing subscriber, with the data of the JSON event.
pub(crate) fn event(e: &Event) {
    let detail = e.detail.describe();
    let detail = detail.as_deref();
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "taskmon",
                parent: None,
                $level,
                task.id = e.id,
                task.name = &*e.task,
                task.kind = &*e.task_kind,
                event = e.kind.as_str(),
                detail,
                "{}",
                e.kind.label(),
            )
        };
    }
    match level(e.kind) {
        Level::ERROR => emit!(Level::ERROR),
        Level::WARN => emit!(Level::WARN),
        Level::INFO => emit!(Level::INFO),
        Level::DEBUG => emit!(Level::DEBUG),
        _ => emit!(Level::TRACE),
    }
}
