//! The words taskmon uses for a task's state and its cleanup, shared by the dashboard, the headless
//! report and the JSON output.

use std::fmt;

use strum::{EnumCount, EnumIter, IntoEnumIterator, IntoStaticStr};

use super::entry::Timeline;
use super::event::EventKind;

/// Where a task is in its life.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, EnumCount, IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub enum State {
    /// Ticking.
    Running,
    /// Its token was cancelled; it has not noticed yet.
    Stopping,
    /// It noticed the stop and runs its cleanup.
    #[strum(serialize = "cleaning up")]
    CleaningUp,
    /// Waiting out its backoff before its restart policy runs it again.
    Restarting,
    /// Ended after a graceful stop.
    Stopped,
    /// Ended by an abort request.
    Aborted,
    /// A graceful stop did not finish within the grace period, so it was aborted.
    Escalated,
    /// Its code panicked.
    Panicked,
    /// Its code returned an error.
    Errored,
    /// Returned on its own, without being asked.
    Finished,
    /// Could not be joined: it was aborted, but blocking code never reached an `.await` within a
    /// second, so shutdown went on without it.
    Abandoned,
    /// Its restart policy gave up: too many restarts within its window.
    Failed,
    /// Never joined: a detached task still running when its runtime was dropped (the program
    /// ended), dropped at its next `.await` — its cleanup never ran.
    Dropped,
}

impl State {
    /// How many states there are.
    pub const COUNT: usize = <State as EnumCount>::COUNT;

    /// Every state, in the order above.
    pub fn all() -> impl Iterator<Item = State> {
        State::iter()
    }

    /// The word for it: `running`, `cleaning up`, …
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The moments [`State::live`] reads: reaching any other changes no live state.
    pub(crate) const LIVE_MOMENTS: [EventKind; 3] = [
        EventKind::StopRequested,
        EventKind::StopNoticed,
        EventKind::CleanupStarted,
    ];

    /// The state of a task not yet ended, from the moments it has reached
    /// ([`State::LIVE_MOMENTS`]).
    pub(crate) fn live(reached: impl Fn(EventKind) -> bool) -> State {
        if reached(EventKind::StopNoticed) || reached(EventKind::CleanupStarted) {
            State::CleaningUp
        } else if reached(EventKind::StopRequested) {
            State::Stopping
        } else {
            State::Running
        }
    }

    /// Whether the task has ended for good (joined, or given up on).
    pub fn is_ended(self) -> bool {
        !matches!(
            self,
            State::Running | State::Stopping | State::CleaningUp | State::Restarting
        )
    }

    pub(crate) fn code(self) -> u8 {
        self as u8 + 1
    }

    pub(crate) fn from_code(code: u8) -> Option<State> {
        State::iter().nth(code.checked_sub(1)? as usize)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What became of a task's cleanup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub enum Cleanup {
    /// It ran to completion.
    Ran,
    /// It started and was cut short by an abort, an escalation or a panic.
    Partial,
    /// The task ended without running it.
    Skipped,
    /// Not decided yet, or the task reports no cleanup phase to speak of.
    #[strum(serialize = "n/a")]
    NotApplicable,
}

impl Cleanup {
    /// What became of the cleanup, judged from the end state (`None` while the task runs) and
    /// the cleanup phases the task reported. A task that reported none has no cleanup to judge.
    pub(crate) fn of(end: Option<State>, timeline: &Timeline) -> Cleanup {
        let Some(end) = end.filter(|s| s.is_ended()) else {
            return Cleanup::NotApplicable;
        };
        let started = timeline.at(EventKind::CleanupStarted).is_some();
        let finished = timeline.at(EventKind::CleanupFinished).is_some();
        match end {
            _ if finished => Cleanup::Ran,
            _ if started => Cleanup::Partial,
            // Cut off before any cleanup could run.
            State::Aborted
            | State::Escalated
            | State::Panicked
            | State::Abandoned
            | State::Failed
            | State::Dropped => Cleanup::Skipped,
            // Ended by its own hand without a word about cleanup: nothing to judge.
            _ => Cleanup::NotApplicable,
        }
    }

    /// The word for it: `ran`, `partial`, `skipped`, `n/a`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
