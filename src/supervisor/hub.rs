//! What every task's record shares with the supervisor.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use arc_swap::ArcSwap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Local, TimeZone};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::Inner;
use super::TaskId;
use super::entry::{FLAG_CRITICAL, TaskEntry};
use super::event::{Delivery, Detail, Event, EventKind, EventStream};
use super::run_dir::JournalSlots;

/// Takes events where they happen; false once it wants no more.
pub(crate) type Subscriber = Arc<dyn Fn(Delivery) -> bool + Send + Sync>;

/// A value alone on its cache line (128 bytes covers the pairs of lines some CPUs fetch together).
#[repr(align(128))]
struct CacheLine<T>(T);

/// What every task's record shares with the supervisor: the clock, the event subscribers, the
/// count of tasks not yet ended, and a way back to the supervisor. One reference per task, so a
/// spawn touches one shared count, not several; a task reports its phases through it directly,
/// touching the subscriber list only when someone listens.
pub(crate) struct Hub {
    /// Set by shutdown: no run can follow an end from here on. Here rather than in the
    /// supervisor, so that a task's end reads it without reaching the supervisor (a shared
    /// count every end would touch twice); on a line of its own, away from the waiters' lists
    /// that a stop writes while every end reads this.
    closed: CacheLine<std::sync::atomic::AtomicBool>,
    epoch: Instant,
    epoch_wall: DateTime<Local>,
    local_offset: LocalOffset,
    /// For spawning children and flagging orphans; weak, so no task keeps the supervisor alive.
    pub supervisor: Weak<Inner>,
    /// Tasks spawned and not yet ended: what shutdown waits for. Written by every task's end,
    /// so kept off the cache line of the fields every event reads.
    live: CacheLine<AtomicUsize>,
    /// Woken when `live` drops to zero.
    all_ended: Notify,
    /// Woken when a task that someone waits for has its end recorded.
    pub end_recorded: Notify,
    /// The first top-level task to end for good, and its waiters.
    first_ended: OnceLock<TaskId>,
    first_ended_notify: Notify,
    /// The journals that may be open; a task holds its place until it ends for good.
    pub journal_slots: JournalSlots,
    /// Read by every event from every thread, without a lock or a shared count; replaced whole
    /// (under `changing`) to subscribe or to drop a reader that has gone.
    subscribers: ArcSwap<Vec<Subscriber>>,
    changing: Mutex<()>,
    /// `subscribers.len()`, readable without loading the list.
    listeners: AtomicUsize,
    /// Events a thread held when it launched a task (see [`Hub::publish_held`]): handed over
    /// before any event handed over after it, from whichever thread, so that no task's events
    /// reach a subscriber before its `spawned`. Locked while it is handed over.
    published: Mutex<Vec<Event>>,
    /// Whether `published` holds events: the one read every hand-over pays.
    any_published: AtomicBool,
    /// Every task's state, a byte a task.
    pub states: super::state_table::StateTable,
    /// How the tasks' polls are counted.
    pub polls: super::polls::PollSettings,
    /// Where events go beside the subscribers.
    reporting: Reporting,
    /// The metrics reported as events happen.
    #[cfg(feature = "metrics")]
    metrics: Option<super::metrics::Reporter>,
}

/// Where the supervisor reports its events beside its own subscribers: the program's `tracing`
/// subscriber and `metrics` recorder, as the features and the builder say.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reporting {
    /// Lifecycle events as tracing events.
    pub tracing: bool,
    /// Lifecycle events counted in metrics.
    pub metrics: bool,
    /// With a `task` label on every figure.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub per_task: bool,
}

impl Reporting {
    /// Whether events must be made for the reporting: tracing wants them whole; metrics only
    /// count them, which needs no event (see [`Hub::send`]).
    fn wants_events(self) -> bool {
        self.tracing
    }
}

/// The local time zone's offset for the events' wall-clock times, looked up at most once per
/// second of the supervisor's time: chrono's look-up reads the system clock and searches the
/// zone's rules, and every event of every task asked for it (a stop of 100,000 tasks makes
/// 600,000 events). A change of the clocks (summer time) shows in events within that second.
#[derive(Default)]
struct LocalOffset {
    /// The second it was looked up for, plus one (0: never), over the offset in seconds east
    /// of UTC: `second << 32 | offset`.
    cached: AtomicU64,
}

impl LocalOffset {
    fn at(&self, second: u64, utc: &chrono::NaiveDateTime) -> FixedOffset {
        let key = second.saturating_add(1).min(u64::from(u32::MAX));
        let cached = self.cached.load(Ordering::Relaxed);
        if cached >> 32 == key
            && let Some(offset) = FixedOffset::east_opt(cached as u32 as i32)
        {
            return offset;
        }
        let offset = Local.offset_from_utc_datetime(utc);
        let east = u64::from(offset.local_minus_utc() as u32);
        self.cached.store(key << 32 | east, Ordering::Relaxed);
        offset
    }
}

impl Hub {
    pub fn new(
        epoch_wall: DateTime<Local>,
        supervisor: Weak<Inner>,
        journals: usize,
        polls: super::polls::PollSettings,
        reporting: Reporting,
    ) -> Self {
        Self {
            epoch: Instant::now(),
            epoch_wall,
            local_offset: LocalOffset::default(),
            supervisor,
            live: CacheLine(AtomicUsize::new(0)),
            all_ended: Notify::new(),
            end_recorded: Notify::new(),
            closed: CacheLine(Default::default()),
            first_ended: OnceLock::new(),
            first_ended_notify: Notify::new(),
            journal_slots: JournalSlots::new(journals),
            subscribers: ArcSwap::from_pointee(Vec::new()),
            changing: Mutex::new(()),
            listeners: AtomicUsize::new(usize::from(reporting.wants_events())),
            published: Mutex::new(Vec::new()),
            any_published: AtomicBool::new(false),
            states: Default::default(),
            polls,
            reporting,
            #[cfg(feature = "metrics")]
            metrics: reporting
                .metrics
                .then(|| super::metrics::Reporter::new(reporting.per_task)),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_closed(&self) -> bool {
        self.closed.0.load(Ordering::Acquire)
    }

    /// Marks shutdown begun: spawns are refused, no run follows an end.
    pub fn close(&self) {
        self.closed.0.store(true, Ordering::Release);
    }

    /// Counts a task spawned.
    pub fn task_started(&self) {
        self.live.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a task ended for good (or dropped unrun), giving back its journal's place.
    pub fn task_ended(&self, journaled: bool) {
        if journaled {
            self.journal_slots.release();
        }
        if self.live.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_ended.notify_waiters();
        }
    }

    /// Counts `entry`'s task ended for good, and drops a restartable task's code once shutdown
    /// has begun: no run can follow. A detached task was never counted among the tasks
    /// shutdown waits for; only its journal's place is given back.
    pub fn settle(&self, entry: &TaskEntry) {
        let over = self.is_closed() || self.supervisor.strong_count() == 0;
        if let Some(restart) = entry.restart.get()
            && over
        {
            restart.drop_code();
        }
        if entry.is_detached() {
            if entry.journaled() {
                self.journal_slots.release();
            }
            return;
        }
        if entry.parent().is_none() && self.first_ended.set(entry.id).is_ok() {
            self.first_ended_notify.notify_waiters();
        }
        if entry.flag(FLAG_CRITICAL)
            && !over
            && let Some(supervisor) = self.supervisor.upgrade()
        {
            entry.set_note("critical: its end shut the supervisor down".into());
            super::Supervisor { inner: supervisor }.begin_shutdown();
        }
        self.task_ended(entry.journaled());
    }

    /// The first top-level task (neither a child nor detached) to end for good.
    pub async fn first_ended(&self) -> TaskId {
        loop {
            let ended = self.first_ended_notify.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(&id) = self.first_ended.get() {
                return id;
            }
            ended.await;
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
        let start = self.epoch_wall.naive_utc();
        let utc = chrono::TimeDelta::from_std(since_start)
            .ok()
            .and_then(|since| start.checked_add_signed(since))
            .unwrap_or(start);
        let offset = self.local_offset.at(since_start.as_secs(), &utc);
        DateTime::from_naive_utc_and_offset(utc, offset)
    }

    pub fn subscribe(&self) -> EventStream {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribe_with(Arc::new(move |delivery| sender.send(delivery).is_ok()));
        EventStream::new(receiver)
    }

    pub fn subscribe_with(&self, subscriber: Subscriber) {
        self.change_subscribers(|subscribers| subscribers.push(subscriber));
    }

    /// Subscribes until the subscription is dropped.
    #[cfg(feature = "serve")]
    pub fn subscribe_scoped(self: &Arc<Self>, subscriber: Subscriber) -> Subscription {
        self.subscribe_with(subscriber.clone());
        Subscription {
            hub: Arc::downgrade(self),
            subscriber,
        }
    }

    #[cfg(feature = "internals")]
    pub fn subscribers(&self) -> usize {
        self.subscribers.load().len()
    }

    /// Whether the program had a tracing subscriber when the supervisor was built: without one,
    /// a run gets no span at all (not even a disabled one to check).
    #[cfg(feature = "tracing")]
    pub fn tracing(&self) -> bool {
        self.reporting.tracing
    }

    /// Whether anyone would read an event: a subscriber, tracing or metrics.
    pub fn listening(&self) -> bool {
        self.reading() || self.reporting.metrics
    }

    /// Whether anyone wants events made: a subscriber or tracing.
    fn reading(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Stamps the event's moment (once) and sends the event to every subscriber. Returns
    /// false, sending nothing, when that moment had already been reached.
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
        if kind.stamp().is_some() && !entry.mark(kind, since_start) {
            return false;
        }
        if self.listening() {
            self.send(entry, kind, since_start, detail());
        }
        true
    }

    /// Sends the event to every subscriber and the reporting; when only metrics would read it,
    /// counts it without making it (no shared name, no wall-clock time: a spawn stays cheap).
    /// Made during a task's poll, it waits for the poll's other events (see [`Hub::hold`]).
    pub fn send(&self, entry: &TaskEntry, kind: EventKind, since_start: Duration, detail: Detail) {
        if self.reading() {
            let at = self.wall_time(since_start);
            if let Some(event) = self.keep_held(event(entry, kind, since_start, at, detail)) {
                self.deliver(Delivery::One(event));
            }
        } else {
            self.count(entry, kind, &detail);
        }
    }

    /// Holds the events this thread makes about this supervisor's tasks until the guard goes,
    /// then hands them over at once: a task's poll that notices its stop, cleans up and returns
    /// makes four events, and its end a fifth, which subscribers take in one hand-over
    /// (`taskmon run`'s printer: one lock of its queue, not five). None when nobody reads
    /// events, or the thread already holds another supervisor's.
    ///
    /// Only around a poll (never a blocking-pool task's whole run): the events wait at most as
    /// long as the poll that made them.
    pub fn hold(&self) -> Option<Holding<'_>> {
        if !self.reading() {
            return None;
        }
        let hub: *const Hub = self;
        let held = HELD.try_with(|held| {
            let mut held = held.try_borrow_mut().ok()?;
            if held.depth > 0 && held.hub != hub {
                return None;
            }
            held.hub = hub;
            held.depth += 1;
            Some(())
        });
        held.ok().flatten().map(|()| Holding { hub: self })
    }

    /// Keeps `event` with this thread's held events, if it holds this supervisor's; gives it
    /// back otherwise.
    fn keep_held(&self, event: Event) -> Option<Event> {
        let hub: *const Hub = self;
        let mut event = Some(event);
        self.change_held(|held| {
            if held.depth == 0 || held.hub != hub {
                return false;
            }
            held.events.extend(event.take());
            // A poll that makes events without end (children spawned in a loop that never
            // yields) hands them over as they come, a batch at a time, rather than hold them all.
            held.events.len() >= HELD_AT_MOST
        });
        event
    }

    /// Hands over what this thread holds of this supervisor's events, before events made
    /// after them (a batch of a request made inside a poll).
    fn release_held(&self) {
        let hub: *const Hub = self;
        self.change_held(|held| held.hub == hub);
    }

    /// Changes this thread's held events; when `change` says so, hands over what is held,
    /// outside the borrow (a subscriber may make events of its own).
    fn change_held(&self, change: impl FnOnce(&mut Held) -> bool) {
        let taken = HELD
            .try_with(|held| {
                let mut held = held.try_borrow_mut().ok()?;
                (change(&mut held) && !held.events.is_empty())
                    .then(|| std::mem::take(&mut held.events))
            })
            .ok()
            .flatten();
        if let Some(events) = taken {
            self.deliver_held(events);
        }
    }

    /// Makes what this thread holds of this supervisor's events visible to every thread, ahead
    /// of what any of them hands over next: called before a task is launched, whose own events
    /// (made on another worker, maybe at once) must not overtake its `spawned`. A scenario's
    /// spawns still go out a thousand at a time: this moves them, it does not hand them over.
    pub fn publish_held(&self) {
        // Nothing is held where nobody reads events (see `hold`): a library's spawn stops here.
        // A subscriber that spawns, while this thread hands the published events over, keeps
        // its own events until then: the lock is this thread's.
        if !self.reading() || IN_PUBLISHED.get() {
            return;
        }
        let hub: *const Hub = self;
        let _ = HELD.try_with(|held| {
            let Ok(mut held) = held.try_borrow_mut() else {
                return;
            };
            if held.depth == 0 || held.hub != hub || held.events.is_empty() {
                return;
            }
            held.published = true;
            let mut published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Moved, not handed over; the thread keeps its buffer for the next ones.
            published.append(&mut held.events);
            if !self.any_published.load(Ordering::Relaxed) {
                self.any_published.store(true, Ordering::Release);
            }
            if published.len() >= HELD_AT_MOST {
                drop(held);
                self.hand_over_published(published);
            }
        });
    }

    /// Hands over the published events, if there are any, before the caller's own.
    fn deliver_published_first(&self) {
        if !self.any_published.load(Ordering::Acquire) || IN_PUBLISHED.get() {
            return;
        }
        // Waits while another thread hands them over: what it hands over comes first.
        let published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.hand_over_published(published);
    }

    /// Hands over `published`, holding its lock until the subscribers have it; a subscriber
    /// that makes events of its own on this thread hands them over after, without the lock.
    fn hand_over_published(&self, mut published: std::sync::MutexGuard<'_, Vec<Event>>) {
        let events = std::mem::take(&mut *published);
        if !events.is_empty() {
            IN_PUBLISHED.set(true);
            self.deliver_now(Delivery::Many(Arc::new(events)));
            IN_PUBLISHED.set(false);
        }
        // Only now: a thread that finds it set waits on the lock, so that nothing it hands
        // over reaches a subscriber before these.
        self.any_published.store(false, Ordering::Release);
        drop(published);
    }

    fn deliver_held(&self, mut events: Vec<Event>) {
        if events.len() == 1 {
            let event = events.pop().expect("one event");
            self.deliver(Delivery::One(event));
        } else {
            self.deliver(Delivery::Many(Arc::new(events)));
        }
    }

    /// The wall-clock time of a batch of events made at `now`, when anyone reads events; `None`
    /// when no event needs making (see [`Hub::batch`]).
    pub fn batch_time(&self, now: Duration) -> Option<DateTime<Local>> {
        self.reading().then(|| self.wall_time(now))
    }

    /// Adds an event to a batch: made when anyone reads events (`at`, from [`Hub::batch_time`]),
    /// only counted when metrics alone would read it.
    pub fn batch(
        &self,
        events: &mut Vec<Event>,
        entry: &TaskEntry,
        kind: EventKind,
        now: Duration,
        at: Option<DateTime<Local>>,
        detail: Detail,
    ) {
        match at {
            Some(at) => events.push(event(entry, kind, now, at, detail)),
            None => self.count(entry, kind, &detail),
        }
    }

    /// Counts an event in metrics without making it.
    fn count(&self, entry: &TaskEntry, kind: EventKind, detail: &Detail) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.record(&entry.kind, || entry.shared_name(), kind, detail);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (entry, kind, detail);
    }

    /// Hands a batch over at once, if it holds anything (after what this thread holds).
    pub fn send_batch(&self, events: Vec<Event>) {
        if !events.is_empty() {
            self.release_held();
            self.deliver(Delivery::Many(Arc::new(events)));
        }
    }

    /// Hands `delivery` to every subscriber. One that panics is dropped like one that wants no
    /// more: its panic must not cut short what the task or the supervisor was recording.
    /// Hands `events` to the program's tracing subscriber and metrics recorder.
    fn report(&self, events: &[Event]) {
        for e in events {
            #[cfg(feature = "tracing")]
            if self.reporting.tracing {
                super::trace::event(e);
            }
            #[cfg(feature = "metrics")]
            if let Some(metrics) = &self.metrics {
                metrics.event(e);
            }
            let _ = e;
        }
    }

    fn deliver(&self, delivery: Delivery) {
        self.deliver_published_first();
        self.deliver_now(delivery);
    }

    fn deliver_now(&self, delivery: Delivery) {
        self.report(delivery.events());
        let subscribers = self.subscribers.load();
        let mut gone = Vec::new();
        let hand = |s: &Subscriber, delivery: Delivery| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s(delivery))).unwrap_or(false)
        };
        if let Some((last, others)) = subscribers.split_last() {
            for s in others {
                if !hand(s, delivery.clone()) {
                    gone.push(s.clone());
                }
            }
            if !hand(last, delivery) {
                gone.push(last.clone());
            }
        }
        if !gone.is_empty() {
            self.change_subscribers(|subscribers| {
                subscribers.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)))
            });
        }
    }

    /// How many tasks are running.
    pub fn live_tasks(&self) -> usize {
        self.live.0.load(Ordering::Acquire)
    }

    fn change_subscribers(&self, change: impl FnOnce(&mut Vec<Subscriber>)) {
        let _changing = self.changing.lock().expect("subscribers");
        let mut subscribers = Vec::clone(&self.subscribers.load());
        change(&mut subscribers);
        let listeners = subscribers.len() + usize::from(self.reporting.wants_events());
        self.listeners.store(listeners, Ordering::Relaxed);
        self.subscribers.store(Arc::new(subscribers));
    }
}

/// The events a thread holds for one supervisor (see [`Hub::hold`]).
struct Held {
    /// Whose: compared, never read through.
    hub: *const Hub,
    /// Guards alive on this thread (a poll inside a poll holds on).
    depth: u32,
    events: Vec<Event>,
    /// Whether it published events since its outermost guard began.
    published: bool,
}

/// Events a thread holds at the most before it hands them over.
const HELD_AT_MOST: usize = 1024;

thread_local! {
    /// Set while this thread hands over the published events (see [`Hub::publish_held`]).
    static IN_PUBLISHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static HELD: std::cell::RefCell<Held> = const {
        std::cell::RefCell::new(Held {
            hub: std::ptr::null(),
            depth: 0,
            events: Vec::new(),
            published: false,
        })
    };
}

/// Hands over the events held since it was made when it goes (the outermost one on a thread).
pub(crate) struct Holding<'a> {
    hub: &'a Hub,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut published = false;
        self.hub.change_held(|held| {
            held.depth -= 1;
            let outermost = held.depth == 0;
            published = outermost && std::mem::take(&mut held.published);
            outermost
        });
        // What it published at a launch goes now too, if no hand-over since took it.
        if published {
            self.hub.deliver_published_first();
        }
    }
}

/// An event about `entry`.
pub(crate) fn event(
    entry: &TaskEntry,
    kind: EventKind,
    since_start: Duration,
    at: DateTime<Local>,
    detail: Detail,
) -> Event {
    Event {
        at,
        since_start,
        id: entry.id,
        task: entry.shared_name(),
        task_kind: entry.kind.clone(),
        kind,
        detail,
    }
}

/// A subscriber that is removed when this is dropped.
#[cfg(feature = "serve")]
pub(crate) struct Subscription {
    hub: Weak<Hub>,
    subscriber: Subscriber,
}

#[cfg(feature = "serve")]
impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.change_subscribers(|subscribers| {
                subscribers.retain(|s| !Arc::ptr_eq(s, &self.subscriber))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::polls::{DEFAULT_SLOW_POLL, PollSettings};

    /// The offset kept for a second gives what chrono works out for every event, over seconds,
    /// back and forth, and half a year on (across a change of the clocks, where the zone has
    /// one).
    #[test]
    fn wall_times_agree_with_chronos_local_time() {
        let epoch = Local::now();
        let settings = PollSettings::new(true, DEFAULT_SLOW_POLL);
        let hub = Hub::new(epoch, Weak::new(), 1, settings, Reporting::default());
        let half_a_year = 183 * 86_400_000;
        for millis in [0, 1, 999, 1_000, 1_500, half_a_year, half_a_year + 1, 2, 0] {
            let since = Duration::from_millis(millis);
            let chronos = epoch + chrono::TimeDelta::from_std(since).unwrap();
            let ours = hub.wall_time(since);
            assert_eq!(ours, chronos, "{millis} ms in");
            assert_eq!(ours.offset(), chronos.offset(), "{millis} ms in");
        }
    }
}
