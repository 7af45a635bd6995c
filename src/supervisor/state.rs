//! The words taskmon uses for a task's state and its cleanup, shared by the dashboard, the headless
//! report and the JSON output.

use std::fmt;

use super::entry::Timeline;

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
    /// Could not be joined: it was aborted, but blocking code never reached an `.await` within a
    /// second, so shutdown went on without it.
    Abandoned,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Running,
        State::Stopping,
        State::CleaningUp,
        State::Stopped,
        State::Aborted,
        State::Escalated,
        State::Panicked,
        State::Finished,
        State::Abandoned,
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
            State::Abandoned => "abandoned",
        }
    }

    /// The state of a task not yet ended, from the milestones it has reached.
    pub(crate) fn live(timeline: &Timeline) -> State {
        if timeline.at(Milestone::StopNoticed).is_some()
            || timeline.at(Milestone::CleanupStarted).is_some()
        {
            State::CleaningUp
        } else if timeline.at(Milestone::StopRequested).is_some() {
            State::Stopping
        } else {
            State::Running
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
    /// What became of the cleanup, judged from the end state (`None` while the task runs) and
    /// the cleanup milestones.
    pub(crate) fn of(end: Option<State>, timeline: &Timeline) -> Cleanup {
        let Some(end) = end else {
            return Cleanup::NotApplicable;
        };
        if timeline.at(Milestone::CleanupFinished).is_some() {
            return Cleanup::Ran;
        }
        let started = timeline.at(Milestone::CleanupStarted).is_some();
        match end {
            State::Stopped => Cleanup::Ran,
            State::Aborted | State::Escalated | State::Panicked | State::Abandoned if started => {
                Cleanup::Partial
            }
            State::Aborted | State::Escalated | State::Panicked | State::Abandoned => {
                Cleanup::Skipped
            }
            _ if started => Cleanup::Partial,
            _ => Cleanup::NotApplicable,
        }
    }

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
    Abandoned,
}

impl Milestone {
    pub const ALL: [Milestone; 9] = [
        Milestone::Spawned,
        Milestone::StopRequested,
        Milestone::StopNoticed,
        Milestone::CleanupStarted,
        Milestone::CleanupFinished,
        Milestone::AbortRequested,
        Milestone::Escalated,
        Milestone::Joined,
        Milestone::Abandoned,
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
            Milestone::Abandoned => "abandoned",
        }
    }
}
