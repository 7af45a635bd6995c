//! Lifecycle events: what happened to which task, and when.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::sync::mpsc;

use super::TaskId;
use super::label::Label;
use super::state::{Milestone, State};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Spawned,
    StopRequested,
    StopNoticed,
    CleanupStarted,
    CleanupFinished,
    AbortRequested,
    Escalated,
    Joined,
    Panicked,
    Orphaned,
    Abandoned,
    /// The task's journal could not be written; its records are booked lost from then on.
    JournalError,
}

impl EventKind {
    /// The word used in the event log, the headless output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawned => "spawned",
            EventKind::StopRequested => "stop_requested",
            EventKind::StopNoticed => "stop_noticed",
            EventKind::CleanupStarted => "cleanup_started",
            EventKind::CleanupFinished => "cleanup_finished",
            EventKind::AbortRequested => "abort_requested",
            EventKind::Escalated => "escalated",
            EventKind::Joined => "joined",
            EventKind::Panicked => "panicked",
            EventKind::Orphaned => "orphaned",
            EventKind::Abandoned => "abandoned",
            EventKind::JournalError => "journal_error",
        }
    }

    /// The timeline moment this event marks, if any.
    pub(crate) fn milestone(self) -> Option<Milestone> {
        Some(match self {
            EventKind::Spawned => Milestone::Spawned,
            EventKind::StopRequested => Milestone::StopRequested,
            EventKind::StopNoticed => Milestone::StopNoticed,
            EventKind::CleanupStarted => Milestone::CleanupStarted,
            EventKind::CleanupFinished => Milestone::CleanupFinished,
            EventKind::AbortRequested => Milestone::AbortRequested,
            EventKind::Escalated => Milestone::Escalated,
            EventKind::Joined => Milestone::Joined,
            EventKind::Abandoned => Milestone::Abandoned,
            EventKind::Panicked | EventKind::Orphaned | EventKind::JournalError => return None,
        })
    }
}

/// What is known about an event beyond its kind. Data, not text: the dashboard and `taskmon run`
/// say it in words (see `format::detail`).
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    None,
    Spawned {
        kind: Label,
        parent: Option<TaskId>,
    },
    StopRequested {
        grace: Duration,
        /// The parent whose stop reached this task through its token.
        cascaded_from: Option<TaskId>,
    },
    /// An abort request, or an escalation after `grace`; `ignored` when the task is on the
    /// blocking pool, where a started task cannot be aborted.
    Aborting {
        grace: Option<Duration>,
        ignored: bool,
    },
    Joined {
        state: State,
        /// From the request that ended the task.
        stop_latency: Option<Duration>,
    },
    Panicked {
        message: Arc<str>,
    },
    Orphaned {
        parent: TaskId,
        parent_state: State,
    },
    Abandoned {
        after: Duration,
    },
    JournalError {
        reason: Arc<str>,
    },
}

/// One lifecycle event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Wall-clock time of the event.
    pub at: DateTime<Local>,
    /// Time since the supervisor started, on tokio's clock (exact under a paused clock).
    pub since_start: Duration,
    pub id: TaskId,
    pub task: Arc<str>,
    pub kind: EventKind,
    pub detail: Detail,
}

/// Events handed over at once: one, or the batch of one request made of many tasks (a stop of
/// ten thousand is one hand-over, not ten thousand).
#[derive(Clone, Debug)]
pub enum Delivery {
    One(Event),
    Many(Arc<[Event]>),
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
    batch: Option<(Arc<[Event]>, usize)>,
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
