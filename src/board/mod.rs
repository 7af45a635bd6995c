//! The board: what a dashboard shows of a supervisor's tasks, worked out next to the supervisor —
//! the counts, the rows of the table's window after the filter, the sort and the tree, the event
//! log's window, the selected task's details — and what a dashboard asks of the tasks.
//!
//! A dashboard in the same process asks its board directly; an attached one (`taskmon attach`)
//! asks the board the served program keeps for it, over the connection. Both go through
//! [`Source`], and the board is one piece of code for both: they cannot drift apart, and 100,000
//! tasks never cross a connection, only the rows on screen.

mod column;
mod view;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
#[cfg(feature = "tui")]
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};

pub use column::Column;
pub use view::{Catalog, Filter, Sort, ViewRow};

use crate::format::humanize;
use crate::supervisor::{Event, State, Supervisor, SupervisorError, TaskId, TaskSnapshot};

/// What never changes about a task: its name, its kind, its parent.
pub type Identity = (std::sync::Arc<str>, crate::supervisor::Label, Option<TaskId>);

/// How many events the log keeps.
pub const LOG_CAPACITY: usize = 1000;
/// How many one-second rate samples a sparkline shows.
const RATE_HISTORY: usize = 60;
/// The longest grace period a dashboard may set, as for `--grace`.
const MAX_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// How often a sort or a filter on what changes is done again.
const RESORT_EVERY: Duration = Duration::from_secs(1);

/// What a dashboard wants to see.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serve", serde(deny_unknown_fields))]
pub struct Query {
    pub filter: String,
    pub sort: Sort,
    pub tree: bool,
    /// Tasks whose children the tree hides.
    pub folded: Vec<TaskId>,
    /// The selected row's index, and the task it was on.
    pub selected: usize,
    pub selected_id: Option<TaskId>,
    /// A key moved the selection: keep the index rather than follow the task.
    pub moved: bool,
    /// The first row shown.
    pub offset: usize,
    /// How many rows the table shows.
    pub height: usize,
    /// How many events the log shows, and how far back from the newest it is scrolled.
    pub log_height: usize,
    pub log_scroll: usize,
    /// The task whose events the status line follows.
    pub follow: Option<TaskId>,
    /// The query's number, echoed by its frame: over a connection a frame can answer a query
    /// older than the dashboard's latest. Optional on the wire.
    #[cfg_attr(feature = "serve", serde(default))]
    pub seq: u64,
}

/// The longest filter a served board works out: a filter's terms are matched against every
/// task. (A frame's window is bounded by the tasks there are, and its size by the frame limit.)
#[cfg(feature = "serve")]
pub const MAX_FILTER_CHARS: usize = 1_000;
/// The answers a board keeps until its next frame: only the newest are shown.
const MAX_NOTICES: usize = 16;

#[cfg(feature = "serve")]
impl Query {
    /// Whether a client's query stays within what a served board works out for it.
    pub fn within_limits(&self) -> Result<(), String> {
        if self.filter.chars().count() > MAX_FILTER_CHARS {
            return Err(format!(
                "a filter of more than {MAX_FILTER_CHARS} characters"
            ));
        }
        Ok(())
    }
}

/// One row of the table's window.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Row {
    pub place: ViewRow,
    pub task: TaskSnapshot,
    /// Ticks in the last second; `None` before the first second.
    pub rate: Option<u64>,
    /// The share of one worker it took over the last second; `None` before the first second.
    #[cfg_attr(feature = "serve", serde(default))]
    pub busy: Option<f32>,
}

/// The answer to a request, for the status line; `task` is the task it follows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Notice {
    pub text: String,
    pub task: Option<TaskId>,
}

/// What a dashboard shows, for one [`Query`].
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Frame {
    pub uptime: Duration,
    /// The wall clock at the supervisor's start: `started + uptime` is now.
    pub started: DateTime<Local>,
    pub grace: Duration,
    /// Tasks per state, cleared rows left out, indexed by `State as usize`.
    pub counts: Vec<usize>,
    /// Tasks, cleared rows left out.
    pub total: usize,
    /// Rows after the filter (and folding).
    pub shown: usize,
    /// The selected row's index, and the first row of the window.
    pub selected: usize,
    pub offset: usize,
    /// The window's rows.
    pub rows: Vec<Row>,
    /// The selected task's children and journal, and its rates over the last minute.
    pub children: Vec<TaskId>,
    pub journal_path: Option<PathBuf>,
    pub history: Vec<u64>,
    /// The log's window, oldest first, and how many events pass the filter.
    pub log: Vec<Event>,
    pub log_total: usize,
    /// The newest event of the task followed, since the last frame.
    pub followed: Option<Event>,
    /// Answers to requests since the last frame.
    pub notices: Vec<Notice>,
    /// The kinds that can be spawned here.
    pub kinds: Vec<String>,
    /// The number of the query this frame answers (0 from a program that does not say).
    #[cfg_attr(feature = "serve", serde(default))]
    pub seq: u64,
}

#[cfg(feature = "tui")]
impl Frame {
    /// The wall-clock time of a moment given as time since the supervisor's start.
    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        chrono::Duration::from_std(since_start)
            .ok()
            .and_then(|d| self.started.checked_add_signed(d))
            .unwrap_or(self.started)
    }
}

/// A request to the tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serve", serde(rename_all = "snake_case"))]
pub enum Verb {
    Stop,
    Abort,
    Restart,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Stop => "stop",
            Verb::Abort => "abort",
            Verb::Restart => "restart",
        }
    }

    fn apply(self, sup: &Supervisor, id: TaskId) -> Result<(), SupervisorError> {
        match self {
            Verb::Stop => sup.stop(id),
            Verb::Abort => sup.abort(id),
            Verb::Restart => sup.restart(id),
        }
    }
}

/// What a dashboard asks of the tasks; the answer comes back as a [`Notice`] in the next frame.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serve",
    serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum Command {
    /// The selected task.
    One {
        verb: Verb,
        id: TaskId,
    },
    /// The marked tasks.
    Marked {
        verb: Verb,
        ids: Vec<TaskId>,
    },
    /// Every task the query's filter shows.
    Shown {
        verb: Verb,
    },
    StopAll {},
    AbortAll {},
    Grace {
        grace: Duration,
    },
    /// A task of this kind (one of [`Frame::kinds`]).
    Spawn {
        kind: String,
    },
    /// Hide the rows of ended tasks.
    ClearEnded {},
    /// Say how many tasks the query's filter shows (as it is kept).
    CountShown {},
}

pub use crate::supervisor::MakeTask;

/// What a board reads its tasks from: a supervisor, live, or a recording at a moment of its
/// past. Only a supervisor can act on them.
pub trait Tasks {
    /// How many tasks there are.
    fn count(&self) -> usize;
    /// Time since the supervisor's start.
    fn uptime(&self) -> Duration;
    /// The wall-clock time of the supervisor's start.
    fn started(&self) -> DateTime<Local>;
    fn grace(&self) -> Duration;
    /// Every task's state, task `id` at index `id - 1`.
    fn states(&self) -> Vec<State>;
    fn tick_counts(&self) -> Vec<u64>;
    fn busy_times(&self) -> Vec<u64>;
    /// The name, kind and parent of every task from `first` on, in id order.
    fn identities(&self, first: TaskId) -> Vec<Identity> {
        let ids: Vec<TaskId> = (first..=self.count() as TaskId).collect();
        self.snapshots(&ids)
            .into_iter()
            .map(|s| (s.name, s.kind, s.parent))
            .collect()
    }
    /// The reads a dashboard makes of every task, into buffers it keeps from frame to frame
    /// (at a million tasks fresh ones cost more in page faults than the reading).
    fn states_into(&self, states: &mut Vec<State>) {
        *states = self.states();
    }
    fn tick_counts_into(&self, ticks: &mut Vec<u64>) {
        *ticks = self.tick_counts();
    }
    fn ticks_and_busy_into(&self, ticks: &mut Vec<u64>, busy: &mut Vec<u64>) {
        *ticks = self.tick_counts();
        *busy = self.busy_times();
    }
    /// The tasks `ids`, in that order.
    fn snapshots(&self, ids: &[TaskId]) -> Vec<TaskSnapshot>;
    /// Every task.
    fn snapshot(&self) -> Vec<TaskSnapshot>;
    fn children(&self, id: TaskId) -> Vec<TaskId>;
    fn journal_path(&self, id: TaskId) -> Option<PathBuf>;
    /// The supervisor that does what a dashboard asks; `None` for a recording.
    fn supervisor(&self) -> Option<&Supervisor>;
    /// Ticks and busy nanoseconds per second as they were recorded; `None` when the board works
    /// them out from what it reads once a second.
    fn per_second(&self) -> Option<(Vec<u64>, Vec<u64>)> {
        None
    }
}

impl Tasks for Supervisor {
    fn count(&self) -> usize {
        Supervisor::len(self)
    }
    fn uptime(&self) -> Duration {
        Supervisor::uptime(self)
    }
    fn started(&self) -> DateTime<Local> {
        self.wall_time(Duration::ZERO)
    }
    fn grace(&self) -> Duration {
        Supervisor::grace(self)
    }
    fn states(&self) -> Vec<State> {
        Supervisor::states(self)
    }
    fn tick_counts(&self) -> Vec<u64> {
        Supervisor::tick_counts(self)
    }
    fn busy_times(&self) -> Vec<u64> {
        Supervisor::busy_times(self)
    }
    fn identities(&self, first: TaskId) -> Vec<Identity> {
        Supervisor::identities(self, first)
    }
    fn states_into(&self, states: &mut Vec<State>) {
        Supervisor::states_into(self, states);
    }
    fn tick_counts_into(&self, ticks: &mut Vec<u64>) {
        Supervisor::tick_counts_into(self, ticks);
    }
    fn ticks_and_busy_into(&self, ticks: &mut Vec<u64>, busy: &mut Vec<u64>) {
        Supervisor::ticks_and_busy_into(self, ticks, busy);
    }
    fn snapshots(&self, ids: &[TaskId]) -> Vec<TaskSnapshot> {
        Supervisor::snapshots(self, ids)
    }
    fn snapshot(&self) -> Vec<TaskSnapshot> {
        Supervisor::snapshot(self)
    }
    fn children(&self, id: TaskId) -> Vec<TaskId> {
        Supervisor::children(self, id)
    }
    fn journal_path(&self, id: TaskId) -> Option<PathBuf> {
        Supervisor::journal_path(self, id)
    }
    fn supervisor(&self) -> Option<&Supervisor> {
        Some(self)
    }
}

/// What a board answers a request to act when it reads a recording.
pub const CANNOT_ACT: &str = "a replay cannot act: it shows what was recorded";

/// Where a dashboard reads its tasks: a board in this process, or one in a served program.
#[cfg(feature = "tui")]
pub trait Source: Send {
    /// The frame for `query`; `None` when nothing new has come (from a connection).
    fn frame(&mut self, query: &Query) -> Option<Frame>;
    /// Asks something of the tasks.
    fn command(&mut self, command: Command, query: &Query);
    /// An event of the supervisor, for the log (a local board is handed them; a served one
    /// subscribes itself).
    fn push_event(&mut self, _event: Event) {}
    /// What the dashboard is attached to, for its header; `None` for a local supervisor.
    fn target(&self) -> Option<String> {
        None
    }
    /// Whether the connection is up (always, locally).
    fn connected(&self) -> bool {
        true
    }
    /// Woken when something new can be read without being asked (a frame from a connection).
    fn wake(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// Where a recording's playback stands; `None` for tasks that run now.
    fn playback(&self) -> Option<Playback> {
        None
    }
    /// Moves a recording's playback; the answer is for the status line.
    fn play(&mut self, _control: PlayControl) -> Result<String, String> {
        Err("only a replay has a time to move".into())
    }
}

/// Where a recording's playback stands, for the time bar.
#[cfg(feature = "tui")]
#[derive(Clone, Debug, PartialEq)]
pub struct Playback {
    /// The moment shown, and the recording's first and last, since the supervisor's start.
    pub at: Duration,
    pub start: Duration,
    pub end: Duration,
    pub playing: bool,
    /// Recorded seconds per second shown.
    pub speed: f64,
    /// Events the recorder dropped before the moment shown.
    pub events_missed: u64,
    /// What is wrong with the file, if anything (a torn tail).
    pub note: Option<String>,
    /// The program recorded and its process id, escaped.
    pub program: String,
}

/// A move of a recording's playback.
#[cfg(feature = "tui")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlayControl {
    /// Play, or pause.
    Toggle,
    /// A second forward or back (pausing).
    Second { forward: bool },
    /// To the next or the previous event (pausing).
    Event { forward: bool },
    Faster,
    Slower,
    /// To a time as typed (`12:03:04`, `+42s`).
    GoTo(String),
    Start,
    End,
}

/// Ticks per second of one task, and its share of a worker, sampled once a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    last_ticks: u64,
    pub per_second: u64,
    last_busy: u64,
    /// Busy nanoseconds per second, over the last second.
    pub busy_per_second: u64,
}

/// See [`Board`]'s `scratch`.
#[derive(Default)]
struct Scratch {
    ids: Vec<TaskId>,
    ticks: Vec<u64>,
    /// When `ticks` were read for the rates: a sort by ticks in the same frame uses them.
    ticks_read_at: Option<Duration>,
    busy: Vec<u64>,
    keyed: Vec<(u64, TaskId)>,
}

/// One dashboard's view of a supervisor (or of a recording). See the module's documentation.
pub struct Board<T: Tasks = Supervisor> {
    /// `None` between the requests of a served board: serving does not keep the program's
    /// supervisor alive, so the board holds it only while it works.
    sup: Option<T>,
    kinds: Vec<(String, MakeTask)>,
    catalog: Catalog,
    /// Every task's state, by id - 1, as last read.
    states: Vec<State>,
    /// Every task's warnings, by id - 1, read only while the filter asks for them.
    warnings: Vec<Vec<crate::supervisor::Warning>>,
    /// Ended tasks cleared from the table, by id - 1.
    cleared: Vec<bool>,
    /// Every task's rate, by id - 1 (16 bytes a task, so 100,000 tasks stay cheap).
    rates: Vec<Rate>,
    /// The rates of the last minute, kept only for the tasks on screen.
    histories: HashMap<TaskId, VecDeque<u64>>,
    last_sample: Duration,
    filter: Filter,
    /// The last query's order: a new one lays the rows out again at once.
    order: Option<(Sort, bool, Vec<TaskId>)>,
    view: Vec<ViewRow>,
    /// Buffers of a task each, kept from layout to layout: fresh ones of a million tasks cost
    /// their pages' faults every time.
    scratch: Scratch,
    view_stale: bool,
    sorted_at: Option<Duration>,
    log: VecDeque<Event>,
    follow: Option<TaskId>,
    followed: Option<Event>,
    notices: Vec<Notice>,
}

/// The supervisor a board holds; a field of its own, so the board's buffers can be borrowed
/// beside it.
fn lent<T>(sup: &Option<T>) -> &T {
    sup.as_ref()
        .expect("a served board is lent its supervisor while it works")
}

impl Board {
    /// A board offering taskmon's own kinds, as the `taskmon` dashboard does.
    #[cfg(feature = "tui")]
    pub fn with_taskmon_kinds(sup: Supervisor) -> Self {
        Self::new(sup, taskmon_kinds())
    }

    /// Gives the supervisor back between requests (see [`Board::lend`]).
    #[cfg(feature = "serve")]
    pub(crate) fn release(&mut self) {
        self.sup = None;
    }

    /// Lends the supervisor for a request, while the program still has it.
    #[cfg(feature = "serve")]
    pub(crate) fn lend(&mut self, sup: Supervisor) {
        self.sup = Some(sup);
    }
}

impl<T: Tasks> Board<T> {
    /// A board over `sup` offering `kinds` to spawn.
    pub fn new(sup: T, kinds: Vec<(String, MakeTask)>) -> Self {
        Self {
            sup: Some(sup),
            kinds,
            catalog: Catalog::default(),
            states: Vec::new(),
            warnings: Vec::new(),
            cleared: Vec::new(),
            rates: Vec::new(),
            histories: HashMap::new(),
            last_sample: Duration::ZERO,
            filter: Filter::default(),
            order: None,
            view: Vec::new(),
            scratch: Scratch::default(),
            view_stale: true,
            sorted_at: None,
            log: VecDeque::new(),
            follow: None,
            followed: None,
            notices: Vec::new(),
        }
    }

    fn sup(&self) -> &T {
        lent(&self.sup)
    }

    /// What it reads.
    #[cfg(feature = "cli")]
    pub fn tasks(&self) -> &T {
        self.sup()
    }

    /// What it reads, to move (a recording to another moment).
    #[cfg(feature = "cli")]
    pub fn tasks_mut(&mut self) -> &mut T {
        self.sup
            .as_mut()
            .expect("a served board is lent its supervisor while it works")
    }

    /// What it reads, given up (a recording gone back in time gets a new board).
    #[cfg(feature = "cli")]
    pub fn into_tasks(self) -> T {
        self.sup
            .expect("a served board is lent its supervisor while it works")
    }

    /// Forgets the log and takes `events` as it, oldest first (a recording gone to another
    /// moment).
    #[cfg(feature = "cli")]
    pub fn replace_log(&mut self, events: Vec<Event>) {
        self.log = events.into();
        while self.log.len() > LOG_CAPACITY {
            self.log.pop_front();
        }
    }

    /// Takes an event into the log.
    pub fn push_event(&mut self, event: Event) {
        if self.follow == Some(event.id) {
            self.followed = Some(event.clone());
        }
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(event);
    }

    /// Reads what `query` shows.
    pub fn frame(&mut self, query: &Query) -> Frame {
        let uptime = self.sup().uptime();
        self.read_tasks();
        let mut counts = vec![0; State::COUNT];
        for (state, cleared) in self.states.iter().zip(&self.cleared) {
            if !cleared {
                counts[*state as usize] += 1;
            }
        }
        // A recording can go back in time: its rates are then read again at once.
        let sample = uptime.saturating_sub(self.last_sample) >= Duration::from_secs(1)
            || uptime < self.last_sample;
        if sample {
            self.sample_rates(uptime);
        }
        if self.filter.text != query.filter {
            self.filter.text = query.filter.clone();
            self.view_stale = true;
        }
        let order = (query.sort, query.tree, query.folded.clone());
        if self.order.as_ref() != Some(&order) {
            self.order = Some(order);
            self.view_stale = true;
        }
        let live_order = query.sort.is_live() || self.filter.is_live();
        if live_order
            && self
                .sorted_at
                .is_none_or(|at| uptime.saturating_sub(at) >= RESORT_EVERY)
        {
            self.view_stale = true;
        }
        if self.view_stale {
            self.lay_out(query, uptime);
        }
        let (selected, offset) = self.place_selection(query);
        let window = offset..offset.saturating_add(query.height).min(self.view.len());
        let places: Vec<ViewRow> = self.view[window.clone()].to_vec();
        let selected_id = self.view.get(selected).map(|r| r.id);
        if sample {
            self.record_histories(&places, selected_id);
        }
        let ids: Vec<TaskId> = places.iter().map(|r| r.id).collect();
        let rows = places
            .into_iter()
            .zip(self.sup().snapshots(&ids))
            .map(|(place, task)| Row {
                rate: self.rate(task.id),
                busy: self.busy(task.id),
                place,
                task,
            })
            .collect();
        let (log, log_total) = self.log_window(query);
        if query.follow.is_some() {
            self.follow = query.follow;
        }
        Frame {
            uptime,
            started: self.sup().started(),
            grace: self.sup().grace(),
            total: self.catalog.len() - self.cleared.iter().filter(|&&c| c).count(),
            counts,
            shown: self.view.len(),
            selected,
            offset,
            rows,
            children: selected_id
                .map(|id| self.sup().children(id))
                .unwrap_or_default(),
            journal_path: selected_id.and_then(|id| self.sup().journal_path(id)),
            history: selected_id
                .and_then(|id| self.histories.get(&id))
                .map(|h| h.iter().copied().collect())
                .unwrap_or_default(),
            log,
            log_total,
            followed: self.followed.take(),
            notices: std::mem::take(&mut self.notices),
            kinds: self.kinds.iter().map(|(name, _)| name.clone()).collect(),
            seq: query.seq,
        }
    }

    /// Takes in the tasks spawned since the last read, and every task's state.
    fn read_tasks(&mut self) {
        let sup = lent(&self.sup);
        if self.catalog.update(sup) {
            self.cleared.resize(self.catalog.len(), false);
            self.view_stale = true;
        }
        sup.states_into(&mut self.states);
    }

    /// The selection after a relayout (on its task, unless a key moved it) and a window
    /// offset that keeps it on screen.
    fn place_selection(&self, query: &Query) -> (usize, usize) {
        let last = self.view.len().saturating_sub(1);
        let selected = if query.moved {
            query.selected
        } else {
            query
                .selected_id
                .and_then(|id| self.view.iter().position(|r| r.id == id))
                .unwrap_or(query.selected)
        }
        .min(last);
        let height = query.height.max(1);
        let mut offset = query.offset;
        if selected < offset {
            offset = selected;
        } else if selected >= offset.saturating_add(height) {
            offset = selected + 1 - height;
        }
        (selected, offset.min(self.view.len().saturating_sub(height)))
    }

    /// The rows `query` shows as they are now, for a request about them.
    fn lay_out_now(&mut self, query: &Query) {
        self.filter.text = query.filter.clone();
        self.read_tasks();
        self.lay_out(query, self.sup().uptime());
    }

    /// Orders the rows again: filter, sort, tree.
    fn lay_out(&mut self, query: &Query, uptime: Duration) {
        let sup = lent(&self.sup);
        let Scratch {
            ids,
            ticks,
            ticks_read_at,
            keyed,
            ..
        } = &mut self.scratch;
        ids.clear();
        ids.extend((1..=self.catalog.len() as TaskId).filter(|&id| !self.cleared[id as usize - 1]));
        // One snapshot of every task serves both the `warn:` filter and a sort that needs one.
        let reads_warnings = self.filter.reads_warnings();
        let snapshots = if reads_warnings || query.sort.needs_snapshots() {
            sup.snapshot()
        } else {
            Vec::new()
        };
        self.warnings = if reads_warnings {
            snapshots.iter().map(|s| s.warnings()).collect()
        } else {
            Vec::new()
        };
        self.filter
            .retain(&self.catalog, &self.states, &self.warnings, ids);
        if query.sort.column == Column::Ticks && *ticks_read_at != Some(uptime) {
            sup.tick_counts_into(ticks);
            *ticks_read_at = None;
        }
        let numbers = view::Numbers {
            states: &self.states,
            ticks,
            rates: &self.rates,
            snapshots: &snapshots,
        };
        query.sort.apply(&self.catalog, &numbers, ids, keyed);
        if query.tree {
            let folded: HashSet<TaskId> = query.folded.iter().copied().collect();
            self.view = view::tree(&self.catalog, ids, &folded);
        } else {
            self.view.clear();
            self.view.extend(ids.iter().copied().map(ViewRow::flat));
        }
        self.view_stale = false;
        self.sorted_at = Some(uptime);
    }

    /// Ticks per second of every task since the last sample; an ended task's rate is 0.
    fn sample_rates(&mut self, uptime: Duration) {
        let seconds = uptime
            .saturating_sub(self.last_sample)
            .as_secs_f64()
            .max(1.0);
        self.last_sample = uptime;
        if let Some((ticks, busy)) = self.sup().per_second() {
            self.rates = ticks
                .into_iter()
                .zip(busy)
                .map(|(per_second, busy_per_second)| Rate {
                    per_second,
                    busy_per_second,
                    ..Rate::default()
                })
                .collect();
            return;
        }
        let Scratch {
            ticks,
            busy,
            ticks_read_at,
            ..
        } = &mut self.scratch;
        lent(&self.sup).ticks_and_busy_into(ticks, busy);
        *ticks_read_at = Some(uptime);
        self.rates.resize(ticks.len(), Rate::default());
        let per_second = |now: u64, last: u64| ((now - last.min(now)) as f64 / seconds).round() as u64;
        for (index, (rate, (&ticks, &busy))) in self.rates.iter_mut().zip(ticks.iter().zip(busy.iter())).enumerate() {
            let ended = self.states.get(index).is_some_and(|s| s.is_ended());
            rate.per_second = if ended { 0 } else { per_second(ticks, rate.last_ticks) };
            rate.busy_per_second = if ended { 0 } else { per_second(busy, rate.last_busy) };
            rate.last_ticks = ticks;
            rate.last_busy = busy;
        }
    }

    /// Adds the last sample to the histories of the tasks on screen; forgets the others.
    fn record_histories(&mut self, window: &[ViewRow], selected: Option<TaskId>) {
        let on_screen: HashSet<TaskId> = window.iter().map(|r| r.id).chain(selected).collect();
        self.histories.retain(|id, _| on_screen.contains(id));
        for id in on_screen {
            let per_second = self.rate(id).unwrap_or(0);
            let history = self.histories.entry(id).or_default();
            if history.len() == RATE_HISTORY {
                history.pop_front();
            }
            history.push_back(per_second);
        }
    }

    fn rate(&self, id: TaskId) -> Option<u64> {
        let index = (id as usize).checked_sub(1)?;
        self.rates.get(index).map(|r| r.per_second)
    }

    fn busy(&self, id: TaskId) -> Option<f32> {
        let index = (id as usize).checked_sub(1)?;
        self.rates
            .get(index)
            .map(|r| r.busy_per_second as f32 / 1e9)
    }

    /// The log's events that pass the filter: the window `query` asks for, and how many pass.
    fn log_window(&self, query: &Query) -> (Vec<Event>, usize) {
        let passes = self
            .filter
            .matcher(&self.catalog, &self.states, &self.warnings);
        let shown: Vec<&Event> = self.log.iter().filter(|e| passes(e.id)).collect();
        let end = shown.len().saturating_sub(query.log_scroll);
        let start = end.saturating_sub(query.log_height);
        (
            shown[start..end].iter().map(|&e| e.clone()).collect(),
            shown.len(),
        )
    }

    fn say(&mut self, text: impl Into<String>, task: Option<TaskId>) {
        // The status line will follow the task: its next events are kept for it.
        if task.is_some() {
            self.follow = task;
            self.followed = None;
        }
        if self.notices.len() == MAX_NOTICES {
            self.notices.remove(0);
        }
        let text = text.into();
        self.notices.push(Notice {
            text: crate::text::capped(&text).into_owned(),
            task,
        });
    }

    /// Does what `command` asks; its answer is in the next frame.
    pub fn command(&mut self, command: Command, query: &Query) {
        let acts = !matches!(command, Command::ClearEnded {} | Command::CountShown {});
        if acts && self.sup().supervisor().is_none() {
            self.say(CANNOT_ACT, None);
            return;
        }
        match command {
            Command::One { verb, id } => {
                let name = (id as usize)
                    .checked_sub(1)
                    .and_then(|i| self.catalog.names.get(i))
                    .cloned();
                match verb.apply(self.acting(), id) {
                    Ok(()) => self.say(
                        format!(
                            "{} requested for #{id} {}",
                            verb.as_str(),
                            name.as_deref().unwrap_or("")
                        ),
                        Some(id),
                    ),
                    Err(e) => self.say(format!("cannot {}: {e}", verb.as_str()), None),
                }
            }
            Command::Marked { verb, ids } => {
                let done = self.each(verb, &ids);
                self.say(
                    format!(
                        "{} requested for {done} of the {} marked task(s)",
                        verb.as_str(),
                        ids.len()
                    ),
                    None,
                );
            }
            Command::Shown { verb } => {
                self.lay_out_now(query);
                let ids: Vec<TaskId> = self.view.iter().map(|r| r.id).collect();
                let done = self.each(verb, &ids);
                let verb = if verb == Verb::Stop {
                    "graceful stop"
                } else {
                    verb.as_str()
                };
                self.say(
                    format!("{verb} requested for the {done} task(s) shown"),
                    None,
                );
            }
            Command::StopAll {} => {
                let n = self.acting().stop_all();
                self.say(format!("graceful stop requested for {n} task(s)"), None);
            }
            Command::AbortAll {} => {
                let n = self.acting().abort_all();
                self.say(format!("abort requested for {n} task(s)"), None);
            }
            Command::Grace { grace } => {
                let grace = grace.min(MAX_GRACE);
                self.acting().set_grace(grace);
                self.say(
                    format!("grace period {} for stops from now on", humanize(grace)),
                    None,
                );
            }
            Command::Spawn { kind } => {
                let Some((_, make)) = self.kinds.iter().find(|(name, _)| *name == kind) else {
                    self.say(
                        format!(
                            "cannot spawn: this program offers no kind `{}`",
                            crate::text::escape(&kind)
                        ),
                        None,
                    );
                    return;
                };
                // Numbered by the supervisor: unique in the program, whichever dashboard asks.
                let name = format!("{kind}+{}", self.acting().next_serial());
                match self.acting().spawn(make(name.clone())) {
                    Ok(id) => self.say(format!("spawned #{id} {name}"), Some(id)),
                    Err(e) => self.say(format!("cannot spawn: {e}"), None),
                }
            }
            Command::CountShown {} => {
                self.lay_out_now(query);
                let text = format!("filter `{}`: {} shown", query.filter, self.view.len());
                self.say(text, None);
            }
            Command::ClearEnded {} => {
                let mut cleared = 0;
                for (i, state) in self.states.iter().enumerate() {
                    if state.is_ended() && !self.cleared[i] {
                        self.cleared[i] = true;
                        cleared += 1;
                    }
                }
                self.view_stale = true;
                self.say(format!("cleared {cleared} ended row(s)"), None);
            }
        }
    }

    /// The supervisor a request acts through (checked to be there before).
    fn acting(&self) -> &Supervisor {
        self.sup().supervisor().expect("only a supervisor's board acts")
    }

    /// Asks `verb` of each task; returns how many accepted.
    fn each(&self, verb: Verb, ids: &[TaskId]) -> usize {
        ids.iter()
            .filter(|&&id| verb.apply(self.acting(), id).is_ok())
            .count()
    }
}

#[cfg(feature = "tui")]
impl<T: Tasks + Send> Source for Board<T> {
    fn frame(&mut self, query: &Query) -> Option<Frame> {
        Some(Board::frame(self, query))
    }

    fn command(&mut self, command: Command, query: &Query) {
        Board::command(self, command, query);
    }

    fn push_event(&mut self, event: Event) {
        Board::push_event(self, event);
    }
}

/// taskmon's own kinds, with their default parameters.
#[cfg(feature = "tui")]
pub fn taskmon_kinds() -> Vec<(String, MakeTask)> {
    use crate::kinds::{Kind, Params};
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let make: MakeTask = Arc::new(move |name| kind.task(name, &Params::default()));
            (kind.name().to_string(), make)
        })
        .collect()
}
