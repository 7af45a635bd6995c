//! Lifecycle events: what happened to which task, and when.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::sync::mpsc;

use super::TaskId;
use super::label::Label;
use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use super::state::State;
use crate::text::humanize;

/// What happened. The first nine are moments of a task's timeline, stamped once each (see
/// [`Timeline`](super::Timeline)); the rest are reported without a stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub enum EventKind {
    /// Spawned.
    Spawned,
    /// A graceful stop was requested: its token is cancelled.
    StopRequested,
    /// The task reported that it saw the stop.
    StopNoticed,
    /// The task reported the start of its cleanup.
    CleanupStarted,
    /// The task reported the end of its cleanup.
    CleanupFinished,
    /// An abort was requested.
    AbortRequested,
    /// A graceful stop overran its grace period and was turned into an abort.
    Escalated,
    /// The task ended and was joined.
    Joined,
    /// Not joined a second after its abort; shutdown went on without it.
    Abandoned,
    /// Its code panicked.
    Panicked,
    /// Its code returned an error.
    Errored,
    /// Its parent ended while it runs.
    Orphaned,
    /// Its restart policy will run it again after a delay.
    Restarting,
    /// Run again by its restart policy, or by hand.
    Restarted,
    /// Its restart policy gave up.
    Failed,
    /// The task's journal could not be written; its records are booked lost from then on.
    JournalError,
    /// A detached task was dropped with its runtime, never joined.
    Dropped,
    /// It has been inside one poll for longer than the slow-poll threshold, holding its worker.
    Blocking,
    /// A poll at or over the slow-poll threshold ended.
    LongPoll,
}

/// How many event kinds are moments of the timeline: the first ones declared.
pub(crate) const STAMPED: usize = 9;

impl EventKind {
    /// The word used in the event log, the headless output and JSON: `stop_requested`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The moment as people read it in a timeline: `stop requested`.
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }

    /// Its place in a timeline, if it is a moment of one.
    pub(crate) fn stamp(self) -> Option<usize> {
        let index = self as usize;
        (index < STAMPED).then_some(index)
    }

    /// The moments of a timeline, in declaration order.
    pub fn stamped() -> impl Iterator<Item = EventKind> {
        EventKind::iter().take(STAMPED)
    }
}

/// What is known about an event beyond its kind. Data, not text: the dashboard and `taskmon run`
/// say it in words (see [`Detail::describe`]).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub enum Detail {
    /// Nothing more to say.
    None,
    /// What was spawned.
    Spawned {
        /// Its kind label.
        kind: Label,
        /// The task that spawned it, if it is a child.
        parent: Option<TaskId>,
    },
    /// The stop's terms.
    StopRequested {
        /// How long it may take before it is escalated.
        grace: Duration,
        /// The parent whose stop reached this task through its token.
        cascaded_from: Option<TaskId>,
    },
    /// An abort request, or an escalation after `grace`; `ignored` when the task is on the
    /// blocking pool, where a started task cannot be aborted.
    Aborting {
        /// The grace period it overran, for an escalation.
        grace: Option<Duration>,
        /// The task is on the blocking pool, where an abort has no effect.
        ignored: bool,
    },
    /// How the task ended.
    Joined {
        /// Its end state.
        state: State,
        /// From the request that ended the task.
        stop_latency: Option<Duration>,
        /// How long its cleanup took, when it ran to its end.
        #[cfg_attr(feature = "serve", serde(default))]
        cleanup: Option<Duration>,
    },
    /// The panic.
    Panicked {
        /// Its message.
        message: Arc<str>,
    },
    /// The error the task's code returned.
    Errored {
        /// Its message (escaped where shown), at most 1,000 characters.
        message: Arc<str>,
    },
    /// The parent that left it.
    Orphaned {
        /// The parent's id.
        parent: TaskId,
        /// How the parent ended.
        parent_state: State,
    },
    /// How long shutdown waited after the abort.
    Abandoned {
        /// The wait.
        after: Duration,
    },
    /// A run ended and the restart policy runs the task again.
    Restarting {
        /// How the run ended.
        after: State,
        /// The wait before the next run.
        delay: Duration,
        /// Which restart this is, counting from 1.
        attempt: u32,
    },
    /// A new run began.
    Restarted {
        /// Which restart this is, counting from 1.
        attempt: u32,
        /// Asked for by a person (or the program), not the policy.
        by_hand: bool,
    },
    /// The restart policy gave up.
    Failed {
        /// How the last run ended.
        after: State,
        /// Restarts done.
        restarts: u32,
        /// The window the limit counts restarts in.
        within: Duration,
    },
    /// Why the journal failed.
    JournalError {
        /// The I/O error.
        reason: Arc<str>,
    },
    /// A poll that holds its worker.
    Blocking {
        /// The worker thread.
        thread: Arc<str>,
        /// How long the poll had lasted when it was seen.
        lasted: Duration,
    },
    /// A slow poll that ended.
    LongPoll {
        /// How long it took.
        lasted: Duration,
    },
}

impl Detail {
    /// What an event's detail says, in words; `None` when it says nothing. Text from the task's
    /// code (a panic message, an I/O error) is escaped where it is printed.
    pub fn describe(&self) -> Option<String> {
        let detail = self;
        const NOT_ABORTABLE: &str =
            "no effect: a started spawn_blocking task runs until it returns";
        Some(match detail {
            Detail::None => return None,
            Detail::Spawned {
                kind,
                parent: Some(parent),
            } => format!("{kind} (child of #{parent})"),
            Detail::Spawned { kind, parent: None } => kind.to_string(),
            Detail::StopRequested {
                cascaded_from: Some(parent),
                ..
            } => format!("cascaded from parent #{parent}"),
            Detail::StopRequested { grace, .. } => format!("grace {}", humanize(*grace)),
            Detail::Aborting {
                grace: None,
                ignored: false,
            } => return None,
            Detail::Aborting {
                grace: None,
                ignored: true,
            } => NOT_ABORTABLE.to_string(),
            Detail::Aborting {
                grace: Some(grace),
                ignored,
            } => {
                let reason = format!(
                    "not joined within the grace period of {}; aborting",
                    humanize(*grace)
                );
                if *ignored {
                    format!("{reason} ({NOT_ABORTABLE})")
                } else {
                    reason
                }
            }
            Detail::Joined {
                state,
                stop_latency: Some(latency),
                ..
            } => format!("{state} after {}", humanize(*latency)),
            Detail::Joined { state, .. } => state.to_string(),
            Detail::Panicked { message } => message.to_string(),
            Detail::Errored { message } => message.to_string(),
            Detail::Orphaned {
                parent,
                parent_state,
            } => format!("parent #{parent} ended ({parent_state}) while it runs"),
            Detail::Abandoned { after } => format!(
                "not joined {} after its abort: blocking code never reached an .await",
                humanize(*after)
            ),
            Detail::Restarting {
                after,
                delay,
                attempt,
            } => format!("{after}; restart {attempt} in {}", humanize(*delay)),
            Detail::Blocking { thread, lasted } => format!(
                "inside one poll for {} on {thread}: other tasks wait for this worker",
                humanize(*lasted)
            ),
            Detail::LongPoll { lasted } => format!("a poll took {}", humanize(*lasted)),
            Detail::Restarted { attempt, by_hand } => {
                let by = if *by_hand { " by hand" } else { "" };
                format!("run {} begins (restart {attempt}{by})", attempt + 1)
            }
            Detail::Failed {
                after,
                restarts,
                within,
            } => format!(
                "{after} again after {restarts} restarts; the limit within {} is reached",
                humanize(*within)
            ),
            Detail::JournalError { reason } => reason.to_string(),
        })
    }
}

/// One lifecycle event.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Event {
    /// Wall-clock time of the event.
    pub at: DateTime<Local>,
    /// Time since the supervisor started, on tokio's clock (exact under a paused clock).
    pub since_start: Duration,
    /// The task's id.
    pub id: TaskId,
    /// The task's name.
    pub task: Arc<str>,
    /// The task's kind label, for whoever counts events by kind (metrics).
    pub task_kind: Label,
    /// What happened.
    pub kind: EventKind,
    /// What else is known about it.
    pub detail: Detail,
}

/// Events handed over at once: one, or a batch: of one request made of many tasks, a thousand
/// tasks at a time (a stop of ten thousand is ten hand-overs, not ten thousand), or of what one
/// poll of a task made (a stop noticed, a cleanup begun and ended: one hand-over, not three).
#[derive(Clone, Debug)]
pub enum Delivery {
    /// One event.
    One(Event),
    /// Several, in order: shared as the request or the poll made them (a slice would be a copy of ten
    /// thousand events, made while the request's own are still held).
    Many(Arc<Vec<Event>>),
}

impl Delivery {
    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        match self {
            Delivery::One(event) => std::slice::from_ref(event),
            Delivery::Many(events) => events,
        }
    }
}

/// A subscription to the supervisor's lifecycle events, from the moment of subscribing on.
pub struct EventStream {
    pub(crate) receiver: mpsc::UnboundedReceiver<Delivery>,
    /// What is left of a batch received.
    batch: Option<(Arc<Vec<Event>>, usize)>,
}

impl EventStream {
    pub(crate) fn new(receiver: mpsc::UnboundedReceiver<Delivery>) -> Self {
        Self {
            receiver,
            batch: None,
        }
    }

    /// The next event of the batch at hand.
    fn next_in_batch(&mut self) -> Option<Event> {
        let (events, next) = self.batch.as_mut()?;
        let event = events.get(*next).cloned();
        *next += 1;
        if *next >= events.len() {
            self.batch = None;
        }
        event
    }

    fn take(&mut self, delivery: Delivery) -> Option<Event> {
        match delivery {
            Delivery::One(event) => Some(event),
            Delivery::Many(events) => {
                self.batch = Some((events, 0));
                self.next_in_batch()
            }
        }
    }

    /// The next event; `None` once the supervisor is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.next_in_batch() {
                return Some(event);
            }
            let delivery = self.receiver.recv().await?;
            if let Some(event) = self.take(delivery) {
                return Some(event);
            }
        }
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.batch.is_none() && self.receiver.is_empty()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.next_in_batch() {
                return Some(event);
            }
            let delivery = self.receiver.try_recv().ok()?;
            if let Some(event) = self.take(delivery) {
                return Some(event);
            }
        }
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        use std::task::Poll;
        loop {
            if let Some(event) = self.next_in_batch() {
                return Poll::Ready(Some(event));
            }
            match self.receiver.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => {
                    if let Some(event) = self.take(delivery) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
