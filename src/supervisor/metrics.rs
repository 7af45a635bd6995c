//! taskmon in `metrics`, the facade: counters and histograms from the lifecycle events, and once
//! a second what only a look at every task tells (tasks by state, polls, records lost, the
//! tasks' own counters). The program installs the exporter; without one, every call here is an
//! atomic load. Nothing here runs per poll: polls are read in aggregate, once a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::sync::RwLock;

use metrics::{Counter, Histogram, Label as MetricLabel, counter, gauge, histogram};

use super::entry::TaskEntry;
use super::event::{Detail, Event, EventKind};
use super::label::Label;
use super::polls::{POLL_BUCKETS, bucket_floor};
use super::state::State;

/// The names taskmon exports, after Prometheus' conventions: `_total` for counters, `_seconds`
/// for durations. The README's table lists each with what it counts.
pub mod names {
    /// Counter: tasks spawned.
    pub const SPAWNED: &str = "taskmon_tasks_spawned_total";
    /// Counter: tasks ended for good, by `state`.
    pub const ENDED: &str = "taskmon_tasks_ended_total";
    /// Counter: graceful stops requested.
    pub const STOP_REQUESTS: &str = "taskmon_stop_requests_total";
    /// Counter: aborts requested.
    pub const ABORT_REQUESTS: &str = "taskmon_abort_requests_total";
    /// Counter: graceful stops that overran their grace and were aborted.
    pub const ESCALATIONS: &str = "taskmon_escalations_total";
    /// Counter: runs that panicked.
    pub const PANICS: &str = "taskmon_panics_total";
    /// Counter: runs that returned an error.
    pub const ERRORS: &str = "taskmon_errors_total";
    /// Counter: runs begun again (by the restart policy or by hand).
    pub const RESTARTS: &str = "taskmon_restarts_total";
    /// Counter: polls at or over the slow-poll threshold.
    pub const LONG_POLLS: &str = "taskmon_long_polls_total";
    /// Counter: polls seen holding their worker past the threshold while they lasted.
    pub const BLOCKING: &str = "taskmon_blocking_total";
    /// Counter: journal records lost.
    pub const RECORDS_LOST: &str = "taskmon_records_lost_total";
    /// Counter: polls that ended.
    pub const POLLS: &str = "taskmon_polls_total";
    /// Gauge: tasks by `state`.
    pub const TASKS: &str = "taskmon_tasks";
    /// Gauge: the share of one worker the tasks used over the last second (1.0 = a whole worker).
    pub const BUSY: &str = "taskmon_busy_ratio";
    /// Histogram: from the request that ended a task to its join.
    pub const STOP_LATENCY: &str = "taskmon_stop_latency_seconds";
    /// Histogram: cleanups run to their end.
    pub const CLEANUP: &str = "taskmon_cleanup_seconds";
    /// Histogram: polls, by their power-of-two bucket's upper bound.
    pub const POLL_TIME: &str = "taskmon_poll_duration_seconds";
    /// Counter: a task's own counts ([`TaskContext::counter`](crate::TaskContext::counter)), by
    /// `count` (the counter's name).
    pub const TASK_COUNT: &str = "taskmon_task_count_total";
}
use names::*;

/// Tells the exporter what each figure is, for its help text.
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(SPAWNED, "Tasks spawned");
    describe_counter!(ENDED, "Tasks ended for good, by the state they ended in");
    describe_counter!(STOP_REQUESTS, "Graceful stops requested (tokens cancelled)");
    describe_counter!(ABORT_REQUESTS, "Aborts requested");
    describe_counter!(
        ESCALATIONS,
        "Graceful stops that overran their grace and were aborted"
    );
    describe_counter!(PANICS, "Task runs that panicked");
    describe_counter!(ERRORS, "Task runs that returned an error");
    describe_counter!(
        RESTARTS,
        "Task runs begun again, by the restart policy or by hand"
    );
    describe_counter!(LONG_POLLS, "Polls at or over the slow-poll threshold");
    describe_counter!(
        BLOCKING,
        "Polls seen holding their worker past the slow-poll threshold while they lasted"
    );
    describe_counter!(RECORDS_LOST, "Journal records lost (never written)");
    describe_counter!(POLLS, "Polls of the tasks, each counted when it returns");
    describe_counter!(TASK_COUNT, "The tasks' own counts, by the counter's name");
    describe_gauge!(TASKS, "Tasks by state");
    describe_gauge!(
        BUSY,
        Unit::Count,
        "Share of one worker the tasks used over the last second"
    );
    describe_histogram!(
        STOP_LATENCY,
        Unit::Seconds,
        "From the request that ended a task to its join"
    );
    describe_histogram!(CLEANUP, Unit::Seconds, "Cleanups run to their end");
    describe_histogram!(
        POLL_TIME,
        Unit::Seconds,
        "Poll durations, by taskmon's power-of-two buckets"
    );
}

/// The upper bound of each poll-time bucket, in seconds: what an exporter's histogram buckets
/// for [`names::POLL_TIME`] should be, so that each bucket maps onto one of taskmon's.
pub fn poll_time_buckets() -> Vec<f64> {
    (1..=POLL_BUCKETS)
        .map(|k| bucket_floor(k).as_secs_f64())
        .collect()
}

/// The labels of a task's figures: its kind, and its name when the program asked for per-task
/// labels (a label per task is a time series per task: only for programs with few).
fn labels(kind: &Label, task: Option<&Arc<str>>) -> Vec<MetricLabel> {
    let mut labels = Vec::with_capacity(3);
    labels.push(MetricLabel::new("kind", kind.metric_value()));
    if let Some(task) = task {
        labels.push(MetricLabel::new(
            "task",
            metrics::SharedString::from_shared(task.clone()),
        ));
    }
    labels
}

/// The counters and histograms of one group (a kind, or a task with per-task labels), made once:
/// an event then costs a look-up and an atomic add, not a key built and hashed by the exporter.
/// Made together, every counter is exported at zero from the group's first task on, so that
/// Prometheus' `increase()` counts the first escalation too.
struct GroupHandles {
    spawned: Counter,
    stop_requests: Counter,
    abort_requests: Counter,
    escalations: Counter,
    panics: Counter,
    errors: Counter,
    restarts: Counter,
    long_polls: Counter,
    blocking: Counter,
    /// By end state, in `State::all()` order; `None` for the states a task does not end in.
    ended: Vec<Option<Counter>>,
    stop_latency: Histogram,
    cleanup: Histogram,
}

impl GroupHandles {
    fn new(labels: Vec<MetricLabel>) -> Self {
        let count = |name: &'static str| {
            let counter = counter!(name, labels.clone());
            counter.increment(0);
            counter
        };
        let ended = State::all()
            .map(|state| {
                state.is_ended().then(|| {
                    let mut labels = labels.clone();
                    labels.push(MetricLabel::new("state", state.as_str()));
                    let counter = counter!(ENDED, labels);
                    counter.increment(0);
                    counter
                })
            })
            .collect();
        Self {
            spawned: count(SPAWNED),
            stop_requests: count(STOP_REQUESTS),
            abort_requests: count(ABORT_REQUESTS),
            escalations: count(ESCALATIONS),
            panics: count(PANICS),
            errors: count(ERRORS),
            restarts: count(RESTARTS),
            long_polls: count(LONG_POLLS),
            blocking: count(BLOCKING),
            ended,
            stop_latency: histogram!(STOP_LATENCY, labels.clone()),
            cleanup: histogram!(CLEANUP, labels),
        }
    }

    fn ended(&self, state: State) {
        if let Some(Some(counter)) = self.ended.get(state as usize) {
            counter.increment(1);
        }
    }
}

/// What a supervisor reports to metrics as events happen.
pub(crate) struct Reporter {
    per_task: bool,
    /// Tells this reporter's groups apart from another supervisor's in a thread's cache.
    id: u64,
    /// Looked up when a thread's cache misses: hashed with foldhash, a few times quicker than
    /// std's SipHash on keys as short as a kind's name.
    groups: RwLock<HashMap<Group, Arc<GroupHandles>, foldhash::fast::RandomState>>,
}

/// Groups a thread counted into lately, most recent last. Without it, every counted event took
/// the groups' read lock and a reference to the handles: three atomic writes to lines that every
/// worker shares, which perf found taking 7% of a stop of 100,000 tasks.
struct RecentGroups(Vec<(u64, Label, Arc<GroupHandles>)>);

/// Kinds of task a thread keeps handles for at once; a program counting more looks up the rest.
const RECENT_GROUPS: usize = 8;

thread_local! {
    static RECENT: std::cell::RefCell<RecentGroups> =
        const { std::cell::RefCell::new(RecentGroups(Vec::new())) };
}

impl Reporter {
    pub fn new(per_task: bool) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        describe();
        Self {
            per_task,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            groups: RwLock::default(),
        }
    }

    /// Runs `count` on the handles of `kind`'s group (with per-task labels, of the task's own).
    fn with_group(
        &self,
        kind: &Label,
        task: impl FnOnce() -> Arc<str>,
        count: impl FnOnce(&GroupHandles),
    ) {
        if self.per_task {
            // A group a task: no thread would find it again.
            return count(&self.group((kind.clone(), Some(task()))));
        }
        // Counted while borrowed: a reference taken out would be one more shared write.
        let mut count = Some(count);
        let counted = RECENT.try_with(|recent| {
            let Ok(recent) = recent.try_borrow() else {
                return false;
            };
            let mut found = recent.0.iter().rev();
            let Some((.., handles)) = found.find(|(id, label, _)| *id == self.id && label == kind)
            else {
                return false;
            };
            if let Some(count) = count.take() {
                count(handles);
            }
            true
        });
        if counted == Ok(true) {
            return;
        }
        let handles = self.group((kind.clone(), None));
        let _ = RECENT.try_with(|recent| {
            if let Ok(mut recent) = recent.try_borrow_mut() {
                if recent.0.len() == RECENT_GROUPS {
                    recent.0.remove(0);
                }
                recent.0.push((self.id, kind.clone(), handles.clone()));
            }
        });
        if let Some(count) = count {
            count(&handles);
        }
    }

    fn group(&self, group: Group) -> Arc<GroupHandles> {
        if let Some(handles) = self.groups.read().expect("metric groups").get(&group) {
            return handles.clone();
        }
        let mut groups = self.groups.write().expect("metric groups");
        groups
            .entry(group)
            .or_insert_with_key(|(kind, task)| {
                Arc::new(GroupHandles::new(labels(kind, task.as_ref())))
            })
            .clone()
    }

    /// Counts `e` where it belongs.
    pub fn event(&self, e: &Event) {
        self.record(&e.task_kind, || e.task.clone(), e.kind, &e.detail);
    }

    /// Counts an event of `kind` about a task of kind `task_kind` (named `task`): what
    /// [`Reporter::event`] does, for a supervisor that makes no events because only metrics
    /// would read them. Events no figure counts (a cleanup's phases, say) look nothing up.
    pub fn record(
        &self,
        task_kind: &Label,
        task: impl FnOnce() -> Arc<str>,
        kind: EventKind,
        detail: &Detail,
    ) {
        let count: fn(&GroupHandles) = match kind {
            EventKind::Spawned => |group| group.spawned.increment(1),
            EventKind::StopRequested => |group| group.stop_requests.increment(1),
            EventKind::AbortRequested => |group| group.abort_requests.increment(1),
            EventKind::Escalated => |group| group.escalations.increment(1),
            EventKind::Panicked => |group| group.panics.increment(1),
            EventKind::Errored => |group| group.errors.increment(1),
            EventKind::Restarted => |group| group.restarts.increment(1),
            EventKind::LongPoll => |group| group.long_polls.increment(1),
            EventKind::Blocking => |group| group.blocking.increment(1),
            EventKind::Abandoned => |group| group.ended(State::Abandoned),
            EventKind::Dropped => |group| group.ended(State::Dropped),
            EventKind::Joined => {
                if let Detail::Joined {
                    state,
                    stop_latency,
                    cleanup,
                } = *detail
                {
                    self.with_group(task_kind, task, |group| {
                        group.ended(state);
                        if let Some(latency) = stop_latency {
                            group.stop_latency.record(latency.as_secs_f64());
                        }
                        if let Some(cleanup) = cleanup {
                            group.cleanup.record(cleanup.as_secs_f64());
                        }
                    });
                }
                return;
            }
            _ => return,
        };
        self.with_group(task_kind, task, count);
    }
}

/// What is summed over the tasks of one group (a kind, or a task with per-task labels).
#[derive(Clone, Default)]
struct Sums {
    polls: u64,
    busy_nanos: u64,
    lost: u64,
    histogram: [u64; POLL_BUCKETS],
    counters: HashMap<Arc<str>, u64>,
    /// Tasks by state, indexed by `State as usize`.
    states: [u64; State::COUNT],
}

type Group = (Label, Option<Arc<str>>);

/// The sums of one look at every task, by group.
#[derive(Default)]
pub(crate) struct Sample {
    index: HashMap<Group, usize, foldhash::fast::RandomState>,
    groups: Vec<(Group, Sums)>,
    /// The group of the task added last: tasks spawned together are mostly of one kind, so
    /// most tasks skip the hash.
    last: Option<usize>,
}

impl Sample {
    fn sums(&mut self, kind: &Label, task: Option<Arc<str>>) -> &mut Sums {
        let same = |(k, t): &Group| **k == **kind && *t == task;
        let i = match self.last.filter(|&i| same(&self.groups[i].0)) {
            Some(i) => i,
            None => {
                let groups = &mut self.groups;
                let i = *self
                    .index
                    .entry((kind.clone(), task))
                    .or_insert_with_key(|group| {
                        groups.push((group.clone(), Sums::default()));
                        groups.len() - 1
                    });
                self.last = Some(i);
                i
            }
        };
        &mut self.groups[i].1
    }

    /// The sums of `group`, if a task of it was seen.
    fn get(&self, group: &Group) -> Option<&Sums> {
        self.index.get(group).map(|&i| &self.groups[i].1)
    }
}

/// Reads every task once a second and publishes the change since the last look. The registry
/// only grows, so sums over it only grow: the change is the difference of two sums, and no
/// task's last figures need keeping.
#[derive(Default)]
pub(crate) struct Sampler {
    per_task: bool,
    last: Sample,
    last_at: Option<std::time::Instant>,
}

impl Sampler {
    pub fn new(per_task: bool) -> Self {
        Self {
            per_task,
            ..Self::default()
        }
    }

    /// Adds `entry`'s figures to `now`, the sums of this look.
    pub fn add(&self, now: &mut Sample, entry: &TaskEntry) {
        let sums = now.sums(&entry.kind, self.per_task.then(|| entry.shared_name()));
        entry
            .activity
            .add_to(&mut sums.polls, &mut sums.busy_nanos, &mut sums.histogram);
        sums.lost += entry.ledger().journal.map_or(0, |j| j.lost);
        if entry.counters.get().is_some() {
            for (name, value) in entry.counters() {
                *sums.counters.entry(name).or_default() += value;
            }
        }
        sums.states[entry.state() as usize] += 1;
    }

    /// Publishes the change from the last look to `now`.
    pub fn finish(&mut self, now: Sample) {
        let elapsed = self.last_at.map(|at| at.elapsed());
        self.last_at = Some(std::time::Instant::now());
        self.publish(&now, elapsed);
        self.last = now;
    }

    fn publish(&self, now: &Sample, elapsed: Option<Duration>) {
        let buckets = poll_time_buckets();
        let empty = Sums::default();
        for (group, sums) in &now.groups {
            let last = self.last.get(group).unwrap_or(&empty);
            let labels = || labels(&group.0, group.1.as_ref());
            counter!(POLLS, labels()).increment(sums.polls.saturating_sub(last.polls));
            counter!(RECORDS_LOST, labels()).increment(sums.lost.saturating_sub(last.lost));
            let poll_time = histogram!(POLL_TIME, labels());
            for (k, (&n, &before)) in sums.histogram.iter().zip(&last.histogram).enumerate() {
                if n > before {
                    poll_time.record_many(buckets[k], (n - before) as usize);
                }
            }
            if let Some(elapsed) = elapsed.filter(|e| !e.is_zero()) {
                let busy = sums.busy_nanos.saturating_sub(last.busy_nanos);
                gauge!(BUSY, labels()).set(busy as f64 / elapsed.as_nanos() as f64);
            }
            for (name, &value) in &sums.counters {
                let before = last.counters.get(name).copied().unwrap_or(0);
                let mut labels = labels();
                labels.push(MetricLabel::new("count", name.to_string()));
                counter!(TASK_COUNT, labels).increment(value.saturating_sub(before));
            }
            for state in State::all() {
                let count = sums.states[state as usize];
                // A state no task of the group has ever been in is left out, not shown as 0.
                if count > 0 || last.states[state as usize] > 0 {
                    let mut labels = labels();
                    labels.push(MetricLabel::new("state", state.as_str()));
                    gauge!(TASKS, labels).set(count as f64);
                }
            }
        }
    }
}
