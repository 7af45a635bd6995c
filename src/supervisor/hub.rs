//! What every task's record shares with the supervisor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::Inner;
use super::entry::TaskEntry;
use super::event::{Detail, Event, EventKind, EventStream};

/// A value alone on its cache line (128 bytes covers the pairs of lines some CPUs fetch together).
#[repr(align(128))]
struct CacheLine<T>(T);

/// What every task's record shares with the supervisor: the clock, the event subscribers, the
/// count of tasks not yet ended, and a way back to the supervisor. One reference per task, so a
/// spawn touches one shared count, not several; a task reports its phases through it directly,
/// touching the subscriber list only when someone listens.
pub(crate) struct Hub {
    epoch: Instant,
    epoch_wall: DateTime<Local>,
    /// For spawning children and flagging orphans; weak, so no task keeps the supervisor alive.
    pub supervisor: Weak<Inner>,
    /// Tasks spawned and not yet ended: what shutdown waits for. Written by every task's end,
    /// so kept off the cache line of the fields every event reads.
    live: CacheLine<AtomicUsize>,
    /// Woken when `live` drops to zero.
    all_ended: Notify,
    /// Read by every event from every thread; written only to subscribe or drop a gone reader.
    subscribers: RwLock<Vec<mpsc::UnboundedSender<Event>>>,
    /// `subscribers.len()`, readable without the lock.
    listeners: AtomicUsize,
}

impl Hub {
    pub fn new(epoch_wall: DateTime<Local>, supervisor: Weak<Inner>) -> Self {
        Self {
            epoch: Instant::now(),
            epoch_wall,
            supervisor,
            live: CacheLine(AtomicUsize::new(0)),
            all_ended: Notify::new(),
            subscribers: RwLock::new(Vec::new()),
            listeners: AtomicUsize::new(0),
        }
    }

    /// Counts a task spawned.
    pub fn task_started(&self) {
        self.live.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a task ended (or dropped unrun).
    pub fn task_ended(&self) {
        if self.live.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_ended.notify_waiters();
        }
    }

    /// Waits until no task is left running.
    pub async fn all_ended(&self) {
        loop {
            let ended = self.all_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.live.0.load(Ordering::Acquire) == 0 {
                return;
            }
            ended.await;
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
        let mut subscribers = self.subscribers.write().expect("subscribers");
        subscribers.push(sender);
        self.listeners.store(subscribers.len(), Ordering::Relaxed);
        EventStream { receiver }
    }

    /// Whether anyone would read an event.
    pub fn listening(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Stamps the event's milestone (once) and sends the event to every subscriber. Returns
    /// false, sending nothing, when the milestone had already been reached.
    /// The detail is made only when someone listens.
    pub fn emit(
        &self,
        entry: &TaskEntry,
        kind: EventKind,
        detail: impl FnOnce() -> Detail,
    ) -> bool {
        self.emit_at(entry, kind, self.since_epoch(), detail)
    }

    /// [`Hub::emit`] at a given moment, for a batch of requests made at once.
    pub fn emit_at(
        &self,
        entry: &TaskEntry,
        kind: EventKind,
        since_start: Duration,
        detail: impl FnOnce() -> Detail,
    ) -> bool {
        if let Some(milestone) = kind.milestone()
            && !entry.mark(milestone, since_start)
        {
            return false;
        }
        if self.listening() {
            self.send(entry, kind, since_start, detail());
        }
        true
    }

    pub fn send(&self, entry: &TaskEntry, kind: EventKind, since_start: Duration, detail: Detail) {
        if !self.listening() {
            return;
        }
        let event = Event {
            at: self.wall_time(since_start),
            since_start,
            id: entry.id,
            task: entry.shared_name(),
            kind,
            detail,
        };
        let gone = {
            let subscribers = self.subscribers.read().expect("subscribers");
            subscribers
                .iter()
                .filter(|s| s.send(event.clone()).is_err())
                .count()
        };
        if gone > 0 {
            let mut subscribers = self.subscribers.write().expect("subscribers");
            subscribers.retain(|s| !s.is_closed());
            self.listeners.store(subscribers.len(), Ordering::Relaxed);
        }
    }
}
