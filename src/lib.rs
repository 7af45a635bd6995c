//! taskmon: watch what a graceful stop and an abort do to tokio tasks.
//!
//! The [`Supervisor`] spawns tasks — one of the built-in [`kinds`], or your own async closure that
//! receives a [`TaskContext`] — stops them gracefully (cancel the token, await the task, escalate to
//! an abort after the grace period) or aborts them, and accounts for what their cleanup did.
//!
//! ```rust
//! use std::time::Duration;
//! use taskmon::kinds::{Kind, Params};
//! use taskmon::{Cleanup, State, Supervisor};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sup = Supervisor::builder()
//!     .grace(Duration::from_secs(2))
//!     .own_task_runtime(2) // tasks on their own runtime: blocking tasks cannot stall yours
//!     .build()?;
//! let mut events = sup.events(); // spawned, stop_requested, …, joined, panicked, orphaned
//! let id = sup.spawn_fn("worker", |mut ctx| async move {
//!     loop {
//!         tokio::select! {
//!             _ = ctx.cancelled() => break,
//!             _ = tokio::time::sleep(Duration::from_millis(10)) => { ctx.tick(); }
//!         }
//!     }
//!     // Reported as it goes (stop noticed, cleanup started, finished): its row says `ran`.
//!     ctx.cleanup(async { /* flush, close, say goodbye */ }).await;
//! })?;
//! sup.spawn(Kind::Stubborn.task("legacy", &Params::default()))?;
//!
//! sup.stop(id)?; // cancel the token; escalate to an abort after the grace period
//! let end = sup.joined(id).await?; // state, stop latency, cleanup, error, polls
//! assert_eq!(end.state, State::Stopped);
//! assert_eq!(end.cleanup, Cleanup::Ran);
//! let rows = sup.snapshot(); // lock-free counters of every task
//! assert_eq!(rows.len(), 2);
//! sup.shutdown(Duration::from_millis(100)).await; // returns when every task is joined
//! assert!(events.recv().await.is_some());
//! # Ok(()) }
//! ```
//!
//! With the `tui` feature (on by default), [`dashboard::run`] opens the dashboard over a
//! supervisor's tasks. Without default features only the supervisor is built:
//!
//! ```toml
//! taskmon = { version = "0.1", default-features = false }
//! ```
//!
//! Two features report where a team already looks: `tracing` (each run of a task in a span, each
//! lifecycle event a tracing event) and `metrics` (counters, gauges and histograms through the
//! `metrics` facade, for whatever exporter the program installs; names in
//! [`supervisor::metrics::names`]). Install the subscriber and the exporter before building the
//! supervisor.

#![cfg_attr(not(feature = "internals"), warn(missing_docs))]

/// Declares a module that is taskmon's own: private, but public to taskmon's tests and
/// benchmarks (the `internals` feature), which drive the dashboard's state and the scenario
/// player directly.
#[cfg(any(feature = "tui", feature = "serve"))]
macro_rules! internal {
    ($($module:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $module;
        #[cfg(not(feature = "internals"))]
        mod $module;
    )*};
}

#[cfg(any(feature = "tui", feature = "serve"))]
pub mod format;
pub mod journal;
#[cfg(feature = "kinds")]
pub mod kinds;
pub mod supervisor;
pub mod text;

#[cfg(feature = "serve")]
pub mod serve;

#[cfg(feature = "record")]
pub mod record;

#[cfg(any(feature = "tui", feature = "serve"))]
internal!(board);

#[cfg(feature = "tui")]
pub mod dashboard;
#[cfg(feature = "tui")]
internal!(app, help, input, layout, signals, ui);

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
internal!(ctl, headless, replay, scenario, telemetry);

pub use journal::{JournalConfig, JournalCounts, LedgerReading};
pub use supervisor::panic::silence_task_panics;
pub use supervisor::{
    BuildError, Cleanup, Delivery, Detail, Event, EventKind, EventStream, Restart, RestartLimit,
    RestartPolicy, State, Supervisor, SupervisorBuilder, SupervisorError, TaskContext, TaskCounter,
    TaskDef, TaskId, TaskOutput, TaskReport, TaskSnapshot, Timeline, Warning,
};
