//! taskmon: watch what a graceful stop and an abort do to tokio tasks.
//!
//! The [`Supervisor`] spawns tasks — one of the built-in [`kinds`], or your own async closure that
//! receives a [`TaskContext`] — stops them gracefully (cancel the token, await the task, escalate to
//! an abort after the grace period) or aborts them, and accounts for what their cleanup did.

pub mod app;
pub mod cli;
pub mod dashboard;
pub mod format;
pub mod headless;
pub mod input;
pub mod journal;
pub mod kinds;
pub mod scenario;
pub mod supervisor;
pub mod ui;

pub use journal::{JournalConfig, LedgerReading};
pub use supervisor::panic::silence_task_panics;
pub use supervisor::{
    Cleanup, Event, EventKind, EventStream, Milestone, State, Supervisor, SupervisorBuilder,
    SupervisorError, TaskContext, TaskDef, TaskId, TaskReport, TaskSnapshot, Timeline,
};
