//! Lifecycle events: what happened to which task, and when.

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Local};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::TaskId;
use super::entry::TaskEntry;
use super::state::Milestone;

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
    /// A short human explanation, e.g. the panic message or the end state.
    pub detail: Option<String>,
}

/// A subscription to the supervisor's lifecycle events, from the moment of subscribing on.
pub struct EventStream {
    pub(crate) receiver: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    /// The next event; `None` once the supervisor is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.receiver.recv().await
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        self.receiver.poll_recv(cx)
    }
}

/// The supervisor's clock and its subscribers. Tasks report their phases through it directly, so a
/// report touches nothing shared but the subscriber list, and that only when someone listens.
pub(crate) struct Hub {
    epoch: Instant,
    epoch_wall: DateTime<Local>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
    /// `subscribers.len()`, readable without the lock.
    listeners: AtomicUsize,
}

impl Hub {
    pub fn new(epoch_wall: DateTime<Local>) -> Self {
        Self {
            epoch: Instant::now(),
            epoch_wall,
            subscribers: Mutex::new(Vec::new()),
            listeners: AtomicUsize::new(0),
        }
    }

    /// Time since the supervisor started, on tokio's clock.
    pub fn since_epoch(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        self.epoch_wall + chrono::TimeDelta::from_std(since_start).unwrap_or_default()
    }

    pub fn subscribe(&self) -> EventStream {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut subscribers = self.subscribers.lock().expect("subscribers");
        subscribers.push(sender);
        self.listeners.store(subscribers.len(), Ordering::Relaxed);
        EventStream { receiver }
    }

    /// Whether anyone would read an event's detail.
    pub fn listening(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Stamps the event's milestone (once) and sends the event to every subscriber. Returns
    /// false, sending nothing, when the milestone had already been reached.
    pub fn emit(&self, entry: &TaskEntry, kind: EventKind, detail: Option<String>) -> bool {
        self.emit_at(entry, kind, self.since_epoch(), detail)
    }

    /// [`Hub::emit`] at a given moment, for a batch of requests made at once.
    pub fn emit_at(
        &self,
        entry: &TaskEntry,
        kind: EventKind,
        since_start: Duration,
        detail: Option<String>,
    ) -> bool {
        if let Some(milestone) = kind.milestone()
            && !entry.mark(milestone, since_start)
        {
            return false;
        }
        self.send(entry, kind, since_start, detail);
        true
    }

    pub fn send(
        &self,
        entry: &TaskEntry,
        kind: EventKind,
        since_start: Duration,
        detail: Option<String>,
    ) {
        if !self.listening() {
            return;
        }
        let event = Event {
            at: self.wall_time(since_start),
            since_start,
            id: entry.id,
            task: entry.name.clone(),
            kind,
            detail,
        };
        let mut subscribers = self.subscribers.lock().expect("subscribers");
        subscribers.retain(|s| s.send(event.clone()).is_ok());
        self.listeners.store(subscribers.len(), Ordering::Relaxed);
    }
}
