//! Stopping many tasks at once: requests with one escalation timer, stages, abandoning what an
//! abort cannot reach, ending tasks that wait out a backoff.

use super::entry::{prefetch_ahead, prefetched};
use super::*;

/// Tasks a request of many is told and acted on at a time: its events are never all held at
/// once (a stop of a million would hold 136 MB of them), and the first tasks begin to stop
/// while the rest are asked.
const REQUEST_CHUNK: usize = 1024;

/// A request of many tasks, a chunk at a time: each chunk's events go out in one batch before
/// any of its tasks is acted on, so that a task's `joined` never comes before the request that
/// ended it.
struct Chunked<'a> {
    inner: &'a Inner,
    events: Vec<Event>,
    /// Told of: live tasks, and the run each is asked in.
    asked: Vec<(Arc<TaskEntry>, u32)>,
    /// Ended at once by the request: tasks waiting out a restart's backoff.
    ended: Vec<Arc<TaskEntry>>,
    told: bool,
    /// Tasks asked so far: in the chunks sent, and those acted on at once.
    sent: usize,
}

impl<'a> Chunked<'a> {
    /// For a request of `tasks` tasks (children may add to them).
    fn new(inner: &'a Inner, told: bool, tasks: usize) -> Self {
        let tasks = tasks.min(REQUEST_CHUNK);
        Self {
            inner,
            events: Self::room(told, tasks),
            asked: Vec::with_capacity(tasks),
            ended: Vec::new(),
            told,
            sent: 0,
        }
    }

    /// Sized up front: a thousand events grown by doubling would hold room for twice as many
    /// while the stop is being asked.
    fn room(told: bool, tasks: usize) -> Vec<Event> {
        Vec::with_capacity(if told { tasks } else { 0 })
    }

    fn is_full(&self) -> bool {
        self.asked.len() + self.ended.len() >= REQUEST_CHUNK
    }

    /// Counts a task the request acted on at once, in no chunk.
    fn acted_at_once(&mut self) {
        self.sent += 1;
    }

    /// Tells the chunk's events, then acts on its tasks. Returns how many tasks were asked in
    /// all.
    fn send(&mut self, act: impl Fn(&TaskEntry, u32)) -> usize {
        // Another full chunk is likely to follow a full one; a last one, not.
        let next = if self.is_full() { REQUEST_CHUNK } else { 0 };
        let events = std::mem::replace(&mut self.events, Self::room(self.told, next));
        self.inner.hub.send_batch(events);
        self.inner.settle(&self.ended);
        for (entry, run) in &self.asked {
            act(entry, *run);
        }
        self.sent += self.asked.len() + self.ended.len();
        self.asked.clear();
        self.ended.clear();
        self.sent
    }
}

impl Inner {
    /// Every task stop-all, abort-all and shutdown reach, taken out of the registry so that no
    /// lock is held while they are asked (a subscriber told of it may spawn).
    pub(super) fn reachable(&self) -> Vec<Arc<TaskEntry>> {
        let registry = self.registry.read().expect("registry");
        registry
            .iter()
            .filter(|e| e.is_reachable())
            .cloned()
            .collect()
    }

    /// Cancels the tokens of `roots` and of their descendants, and arms one escalation timer
    /// for all of them: a graceful stop of ten thousand tasks is one timer, not ten thousand.
    /// Returns how many tasks were newly asked to stop.
    pub(super) fn request_stops(self: &Arc<Self>, roots: Vec<Arc<TaskEntry>>) -> usize {
        let grace = self.grace();
        let now = self.hub.since_epoch();
        let deadline = now.saturating_add(grace);
        let at = self.hub.batch_time(now);
        let mut chunk = Chunked::new(self, at.is_some(), roots.len());
        let mut roots = roots.into_iter();
        // Children of tasks asked, each with its parent's id: asked next, depth first. A chunk
        // is not sent while some wait, as cancelling their parent's token would reach them
        // before their own `stop_requested` is told.
        let mut children: Vec<(Arc<TaskEntry>, TaskId)> = Vec::new();
        let mut any_asked = false;
        loop {
            if chunk.is_full() && children.is_empty() {
                chunk.send(|entry, run| entry.cancel_run(run));
            }
            let Some((entry, cascaded_from)) = children
                .pop()
                .map(|(child, parent)| (child, Some(parent)))
                .or_else(|| {
                    prefetch_ahead(roots.as_slice(), 0);
                    roots.next().map(|root| (root, None))
                })
            else {
                break;
            };
            let detail = Detail::StopRequested {
                grace,
                cascaded_from,
            };
            let run = match entry.reach(EventKind::StopRequested, now) {
                Reached::Ended | Reached::Live { new: false, .. } => continue,
                Reached::InBackoff => {
                    self.end_in_backoff(
                        &entry,
                        State::Stopped,
                        now,
                        at,
                        (EventKind::StopRequested, detail),
                        &mut chunk.events,
                    );
                    chunk.ended.push(entry);
                    continue;
                }
                Reached::Live { new: true, run } => run,
            };
            self.hub.batch(
                &mut chunk.events,
                &entry,
                EventKind::StopRequested,
                now,
                at,
                detail,
            );
            entry.set_escalation_deadline(deadline);
            any_asked = true;
            let its_children = entry.children();
            if at.is_none() && its_children.is_empty() {
                // No event is made (nobody reads them), and its token reaches no other task's:
                // nothing has to go out first, so it is acted on now, while its record is at
                // hand, rather than in a second pass over the chunk.
                entry.cancel_run(run);
                chunk.acted_at_once();
                continue;
            }
            for child in its_children {
                if let Ok(child) = self.entry(child) {
                    children.push((child, entry.id));
                }
            }
            chunk.asked.push((entry, run));
        }
        let asked_total = chunk.send(|entry, run| entry.cancel_run(run));
        if any_asked {
            // Sleeps out the grace period rather than waking for every join; it holds the
            // supervisor weakly, so it keeps nothing alive, and shutdown does not wait for it.
            let inner = Arc::downgrade(self);
            self.control.spawn(async move {
                tokio::time::sleep(grace).await;
                if let Some(inner) = inner.upgrade() {
                    inner.escalate_overdue(deadline, grace);
                }
            });
        }
        asked_total
    }

    /// Aborts every task whose stop was due by `deadline` and that has not been joined.
    pub(super) fn escalate_overdue(&self, deadline: Duration, grace: Duration) {
        let overdue: Vec<_> = {
            let registry = self.registry.read().expect("registry");
            registry
                .iter()
                .filter(|e| {
                    !e.is_ended() && e.escalation_deadline().is_some_and(|due| due <= deadline)
                })
                .cloned()
                .collect()
        };
        self.abort_tasks(overdue, EventKind::Escalated, Some(grace));
    }

    /// The tasks a stop of every task reaches, by stage, lowest first.
    pub(super) fn stages(&self) -> Vec<Vec<Arc<TaskEntry>>> {
        let registry = self.registry.read().expect("registry");
        let mut stages = Stages::default();
        prefetched(&registry)
            .filter(|e| e.is_reachable())
            .for_each(|e| stages.add(e));
        stages.lowest_first()
    }

    /// Stops `stages` one after the other: a stage is asked once the one before has been
    /// joined. A stage that overruns its grace is escalated (by its tasks' own timers; at once
    /// in a `shutdown`, which also gives up on what an abort cannot reach a second later, as
    /// `abandoned`); the next stage is asked then, with its full grace.
    pub(super) async fn stop_in_stages(
        self: &Arc<Self>,
        stages: Vec<Vec<Arc<TaskEntry>>>,
        shutdown: bool,
    ) {
        let last = stages.len().saturating_sub(1);
        for (i, roots) in stages.into_iter().enumerate() {
            let grace = self.grace();
            // The last stage of a shutdown is everything still running: its end is the end of
            // every task, which the hub counts, so no list of its tasks is walked to wait.
            let every_task = shutdown && i == last;
            // Its children go with it, through their tokens: they are awaited with it. (Tasks
            // ended since the stages were read are passed by as the stop reaches them.)
            let members = if every_task {
                Vec::new()
            } else {
                self.with_descendants(&roots)
            };
            let still_running = || {
                if every_task {
                    self.reachable()
                } else {
                    unended(&members)
                }
            };
            self.request_stops(roots);
            let joined = async {
                if every_task {
                    self.hub.all_ended().await;
                }
                for entry in &members {
                    entry.wait_ended().await;
                }
            };
            tokio::pin!(joined);
            tokio::select! {
                () = &mut joined => continue,
                () = tokio::time::sleep(grace) => {
                    if shutdown {
                        // Whenever its own stop would have escalated.
                        self.abort_tasks(still_running(), EventKind::Escalated, Some(grace));
                    }
                }
                () = self.aborted_all.cancelled() => {}
            }
            tokio::select! {
                () = &mut joined => {}
                () = tokio::time::sleep(ABANDON_AFTER) => {
                    if shutdown {
                        self.abandon(still_running());
                    }
                }
            }
        }
    }

    /// `roots` and every task below them.
    pub(super) fn with_descendants(&self, roots: &[Arc<TaskEntry>]) -> Vec<Arc<TaskEntry>> {
        let mut all = roots.to_vec();
        let mut next = 0;
        while next < all.len() {
            let children = all[next].children();
            all.extend(children.into_iter().filter_map(|id| self.entry(id).ok()));
            next += 1;
        }
        all
    }

    /// Gives up on every task of `entries` still not joined after its abort: it ends
    /// `abandoned`.
    pub(super) fn abandon(&self, entries: Vec<Arc<TaskEntry>>) {
        for entry in entries {
            if !entry.begin_end() {
                continue;
            }
            let detail = || Detail::Abandoned {
                after: ABANDON_AFTER,
            };
            self.hub.emit(&entry, EventKind::Abandoned, detail);
            entry.set_end_state(State::Abandoned);
            self.hub.settle(&entry);
        }
    }

    pub(super) fn grace(&self) -> Duration {
        Duration::from_nanos(self.grace_nanos.load(Ordering::Relaxed))
    }

    /// Ends a task claimed out of its restart backoff at once, as `state`, when a stop or an
    /// abort (`request`) reached it: no restart follows. Its events join `events`.
    pub(super) fn end_in_backoff(
        &self,
        entry: &TaskEntry,
        state: State,
        now: Duration,
        at: Option<DateTime<Local>>,
        (request, detail): (EventKind, Detail),
        events: &mut Vec<Event>,
    ) {
        entry.mark(request, now);
        self.hub.batch(events, entry, request, now, at, detail);
        joined_at_once(entry, state, now, at, events);
    }

    /// Counts tasks ended by [`Inner::end_in_backoff`] as ended for good, once their events are
    /// out.
    pub(super) fn settle(&self, ended: &[Arc<TaskEntry>]) {
        for entry in ended {
            self.hub.settle(entry);
        }
    }

    /// The one way abort requests and escalations (after `grace`) abort tasks. Every event
    /// goes out before its task is aborted (a chunk at a time), so a task's `joined` never
    /// comes before the request that ended it. A started blocking-pool task cannot be aborted:
    /// it is flagged, and its event says so. Returns how many tasks were asked.
    pub(super) fn abort_tasks(
        &self,
        entries: Vec<Arc<TaskEntry>>,
        kind: EventKind,
        grace: Option<Duration>,
    ) -> usize {
        let now = self.hub.since_epoch();
        let at = self.hub.batch_time(now);
        let mut chunk = Chunked::new(self, at.is_some(), entries.len());
        for entry in entries {
            if chunk.is_full() {
                chunk.send(|entry, run| entry.abort_run(run));
            }
            let detail = Detail::Aborting {
                grace,
                ignored: false,
            };
            let (new, run) = match entry.reach(kind, now) {
                Reached::Ended => continue,
                Reached::InBackoff => {
                    self.end_in_backoff(
                        &entry,
                        State::Aborted,
                        now,
                        at,
                        (kind, detail),
                        &mut chunk.events,
                    );
                    chunk.ended.push(entry);
                    continue;
                }
                Reached::Live { new, run } => (new, run),
            };
            if entry.on_blocking_pool() {
                entry.set_flag(FLAG_ABORT_IGNORED, true);
            }
            // Asked again, it is aborted again, but the moment and the event are the first's.
            if new {
                let detail = Detail::Aborting {
                    grace,
                    ignored: entry.on_blocking_pool(),
                };
                self.hub
                    .batch(&mut chunk.events, &entry, kind, now, at, detail);
            }
            chunk.asked.push((entry, run));
        }
        chunk.send(|entry, run| entry.abort_run(run))
    }

    pub(super) fn snapshot_of(&self, entry: &TaskEntry) -> TaskSnapshot {
        TaskSnapshot::read(entry, self.hub.since_epoch())
    }
}

/// Ends a claimed task that is not running (it waited out a backoff) as `state`, `now`: no run
/// was there to stop, so its timeline keeps no request and it has no stop latency (the request's
/// event was sent). Its `joined` event, when someone listens (`at`).
pub(super) fn joined_at_once(
    entry: &TaskEntry,
    state: State,
    now: Duration,
    at: Option<DateTime<Local>>,
    events: &mut Vec<Event>,
) {
    entry.mark(EventKind::Joined, now);
    // The request found no run: it ended the task, but stopped nothing that took time.
    entry.unmark(EventKind::StopRequested);
    entry.unmark(EventKind::AbortRequested);
    entry.set_end_state(state);
    let joined = Detail::Joined {
        state,
        stop_latency: None,
        cleanup: None,
    };
    entry
        .hub
        .batch(events, entry, EventKind::Joined, now, at, joined);
}

/// Tasks gathered by stage, for a stop of every task.
#[derive(Default)]
pub(super) struct Stages(std::collections::BTreeMap<u32, Vec<Arc<TaskEntry>>>);

impl Stages {
    pub fn add(&mut self, entry: &Arc<TaskEntry>) {
        self.0.entry(entry.stage).or_default().push(entry.clone());
    }

    /// The tasks by stage, lowest first.
    pub fn lowest_first(self) -> Vec<Vec<Arc<TaskEntry>>> {
        self.0.into_values().collect()
    }
}

/// Those of `entries` not yet ended.
pub(super) fn unended(entries: &[Arc<TaskEntry>]) -> Vec<Arc<TaskEntry>> {
    entries.iter().filter(|e| !e.is_ended()).cloned().collect()
}
