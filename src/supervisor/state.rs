//! The words taskmon uses for a task's state and its cleanup, shared by the dashboard, the headless
//! report and the JSON output.

use std::fmt;

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Ticking.
    Running,
    /// Its token was cancelled; it has not noticed yet.
    Stopping,
    /// It noticed the stop and runs its cleanup.
    CleaningUp,
    /// Ended after a graceful stop; cleanup completed.
    Stopped,
    /// Ended by an abort request.
    Aborted,
    /// A graceful stop did not finish within the grace period, so it was aborted.
    Escalated,
    /// Its code panicked.
    Panicked,
    /// Returned on its own, without being asked.
    Finished,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Running,
        State::Stopping,
        State::CleaningUp,
        State::Stopped,
        State::Aborted,
        State::Escalated,
        State::Panicked,
        State::Finished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopping => "stopping",
            State::CleaningUp => "cleaning up",
            State::Stopped => "stopped",
            State::Aborted => "aborted",
            State::Escalated => "escalated",
            State::Panicked => "panicked",
            State::Finished => "finished",
        }
    }

    /// Whether the task has been joined.
    pub fn is_ended(self) -> bool {
        !matches!(self, State::Running | State::Stopping | State::CleaningUp)
    }

    pub(crate) fn code(self) -> u8 {
        self as u8 + 1
    }

    pub(crate) fn from_code(code: u8) -> Option<State> {
        code.checked_sub(1)
            .and_then(|i| State::ALL.get(i as usize).copied())
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What became of a task's cleanup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cleanup {
    /// It ran to completion.
    Ran,
    /// It started and was cut short by an abort, an escalation or a panic.
    Partial,
    /// The task ended without running it.
    Skipped,
    /// Not decided yet, or the task has no cleanup to speak of.
    NotApplicable,
}

impl Cleanup {
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::Ran => "ran",
            Cleanup::Partial => "partial",
            Cleanup::Skipped => "skipped",
            Cleanup::NotApplicable => "n/a",
        }
    }
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The moments of a task's life that taskmon timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Milestone {
    Spawned,
    StopRequested,
    StopNoticed,
    CleanupStarted,
    CleanupFinished,
    AbortRequested,
    Escalated,
    Joined,
}

impl Milestone {
    pub const ALL: [Milestone; 8] = [
        Milestone::Spawned,
        Milestone::StopRequested,
        Milestone::StopNoticed,
        Milestone::CleanupStarted,
        Milestone::CleanupFinished,
        Milestone::AbortRequested,
        Milestone::Escalated,
        Milestone::Joined,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Milestone::Spawned => "spawned",
            Milestone::StopRequested => "stop requested",
            Milestone::StopNoticed => "stop noticed",
            Milestone::CleanupStarted => "cleanup started",
            Milestone::CleanupFinished => "cleanup finished",
            Milestone::AbortRequested => "abort requested",
            Milestone::Escalated => "escalated",
            Milestone::Joined => "joined",
        }
    }
}
