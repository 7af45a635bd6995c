//! The dashboard's state and the one place it changes: [`App::update`].

mod view;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Local};
use ratatui::layout::{Position, Rect};

pub use view::{Catalog, Filter, Sort, ViewRow};

use crate::format::{self, humanize};
use crate::input::Action;
use crate::kinds::{Kind, Params};
use crate::layout::{self, Column};
use crate::signals::Urgency;
use crate::supervisor::{
    Event, EventKind, State, Supervisor, SupervisorError, TaskId, TaskSnapshot,
};

/// How many events the log keeps.
const LOG_CAPACITY: usize = 1000;
/// How many one-second rate samples a sparkline shows.
const RATE_HISTORY: usize = 60;
const GRACE_STEP: Duration = Duration::from_millis(500);
const GRACE_MAX: Duration = Duration::from_secs(60);
/// How long a status message stays after it last changed.
const STATUS_FOR: Duration = Duration::from_secs(6);
/// The longest filter text.
const FILTER_MAX: usize = 64;
/// How often a sort or a filter on what changes is done again.
const RESORT_EVERY: Duration = Duration::from_secs(1);

/// What the keys mean depends on what is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Picker,
    /// Typing the find filter in the footer.
    Filter,
    /// A `y`/`n` question in the footer.
    Confirm,
    Quitting,
}

/// Something that waits for a `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    StopShown,
    AbortShown,
}

/// Ticks per second of one task, sampled once a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    last_ticks: u64,
    pub per_second: u64,
}

/// Progress of the shutdown that quitting started.
#[derive(Clone, Copy, Debug)]
pub struct Quitting {
    /// Tasks that were still running when quitting began.
    pub live_at_start: usize,
    /// When what is still running will be aborted.
    pub escalation_at: Option<Duration>,
}

/// A one-line message in the header: the answer to the last key, or what became of the task it
/// was about. It follows that task and goes away a few seconds after it last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    /// The task it follows.
    pub task: Option<TaskId>,
    /// Since the supervisor's start.
    pub since: Duration,
}

/// What a scenario says about itself: its description and its timeline.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub description: Option<String>,
    /// When each action happens, and what it does, in order.
    pub steps: Vec<(Duration, String)>,
}

pub struct App {
    sup: Supervisor,
    catalog: Catalog,
    /// Every task's state, by id - 1, as last read.
    states: Vec<State>,
    /// The table's rows: the tasks shown, filtered, sorted, laid out as a tree when asked.
    pub view: Vec<ViewRow>,
    /// Snapshots of the rows in the table's window: only visible rows are read.
    pub rows: Vec<TaskSnapshot>,
    /// Ended tasks cleared from the table (`c`), by id - 1.
    cleared: Vec<bool>,
    /// Index into `view`.
    pub selected: usize,
    /// The task selected, followed when rows move.
    selected_id: Option<TaskId>,
    /// The first row shown in the table.
    pub offset: usize,
    pub mode: Mode,
    /// The highlighted kind in the picker.
    pub picker: usize,
    pub detail_focus: bool,
    pub log: VecDeque<Event>,
    /// Whether the event log has the keys (`Tab`).
    pub log_focus: bool,
    /// Events scrolled back from the newest.
    pub log_scroll: usize,
    pub counts: [usize; State::COUNT],
    /// The terminal's size.
    pub size: Rect,
    pub uptime: Duration,
    pub clock: DateTime<Local>,
    pub grace: Duration,
    /// Every task's rate, by id - 1 (16 bytes a task, so 100,000 tasks stay cheap).
    rates: Vec<Rate>,
    /// The rates of the last minute, kept only for the tasks on screen: the detail pane's
    /// sparkline.
    histories: HashMap<TaskId, VecDeque<u64>>,
    last_sample: Duration,
    /// The selected task's children, for the detail pane.
    pub children: Vec<TaskId>,
    /// The selected task's journal file.
    pub journal_path: Option<std::path::PathBuf>,
    pub quitting: Option<Quitting>,
    quit_requested: bool,
    /// Requests to quit so far: the first stops gracefully, the second aborts, the third exits.
    quit_requests: u32,
    pub status: Option<Status>,
    spawned: u64,
    pub filter: Filter,
    pub sort: Sort,
    pub tree: bool,
    folded: HashSet<TaskId>,
    pub marked: BTreeSet<TaskId>,
    /// The display is frozen; the tasks run on.
    pub paused: bool,
    pub help_scroll: u16,
    pub confirm: Option<Confirm>,
    pub script: Option<Script>,
    /// Timeline steps announced so far.
    announced: usize,
    /// The view needs to be laid out again.
    view_stale: bool,
    /// When the live numbers of a sort or a state filter were last read.
    sorted_at: Option<Duration>,
}

impl App {
    pub fn new(sup: Supervisor, size: Rect) -> Self {
        let grace = sup.grace();
        let mut app = Self {
            sup,
            catalog: Catalog::default(),
            states: Vec::new(),
            view: Vec::new(),
            rows: Vec::new(),
            cleared: Vec::new(),
            selected: 0,
            selected_id: None,
            offset: 0,
            mode: Mode::Normal,
            picker: 0,
            detail_focus: false,
            log: VecDeque::new(),
            log_focus: false,
            log_scroll: 0,
            counts: [0; State::COUNT],
            size,
            uptime: Duration::ZERO,
            clock: Local::now(),
            grace,
            rates: Vec::new(),
            histories: HashMap::new(),
            last_sample: Duration::ZERO,
            children: Vec::new(),
            journal_path: None,
            quitting: None,
            quit_requested: false,
            quit_requests: 0,
            status: None,
            spawned: 0,
            filter: Filter::default(),
            sort: Sort::default(),
            tree: false,
            folded: HashSet::new(),
            marked: BTreeSet::new(),
            paused: false,
            help_scroll: 0,
            confirm: None,
            script: None,
            announced: 0,
            view_stale: true,
            sorted_at: None,
        };
        app.refresh();
        app
    }

    /// Shows a scenario's description and next action, and announces its actions as they happen.
    pub fn with_script(mut self, script: Script) -> Self {
        self.script = Some(script);
        self
    }

    /// The header's height: the counts, then the status message or the scenario's description.
    pub fn header_height(&self) -> u16 {
        2
    }

    fn areas(&self) -> Option<layout::Areas> {
        layout::layout(self.size, self.detail_focus, self.header_height())
    }

    /// The status line's text, if any.
    pub fn notice(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.text.as_str())
    }

    fn say(&mut self, text: impl Into<String>, task: Option<TaskId>) {
        self.status = Some(Status {
            text: text.into(),
            task,
            since: self.uptime,
        });
    }

    pub fn selected_row(&self) -> Option<&TaskSnapshot> {
        self.rows.get(self.selected.checked_sub(self.offset)?)
    }

    pub fn selected_id(&self) -> Option<TaskId> {
        self.view.get(self.selected).map(|r| r.id)
    }

    /// How many tasks there are, cleared rows left out.
    pub fn total(&self) -> usize {
        self.catalog.len() - self.cleared.iter().filter(|&&c| c).count()
    }

    /// Tasks that have not ended yet.
    pub fn live(&self) -> usize {
        State::all()
            .filter(|s| !s.is_ended())
            .map(|s| self.counts[s as usize])
            .sum()
    }

    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        self.sup.wall_time(since_start)
    }

    /// Whether quitting was asked for since the last call; the runner then starts the shutdown.
    pub fn take_quit_request(&mut self) -> bool {
        std::mem::take(&mut self.quit_requested)
    }

    /// Whether a third request to quit asked to leave at once.
    pub fn exit_requested(&self) -> bool {
        Urgency::of(self.quit_requests) == Urgency::ExitNow
    }

    pub fn push_event(&mut self, event: Event) {
        self.follow(&event);
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(event);
    }

    /// Moves the status message on when the task it is about moves on.
    fn follow(&mut self, e: &Event) {
        let Some(status) = &mut self.status else {
            return;
        };
        if status.task != Some(e.id) || e.kind == EventKind::Spawned {
            return;
        }
        let detail = format::detail(&e.detail).unwrap_or_default();
        status.text = format!("#{} {} {} {}", e.id, e.task, e.kind.label(), detail)
            .trim_end()
            .to_string();
        status.since = e.since_start;
    }

    /// The events the log shows: with a filter, those of the tasks shown.
    pub fn log_events(&self) -> Vec<&Event> {
        let shown = self.filter.matcher(&self.catalog, &self.states);
        self.log.iter().filter(|e| shown(e.id)).collect()
    }

    /// Reads what the screen shows: the counts per state, the rows in their order, the window's
    /// snapshots. Returns whether anything on screen would change. A paused display reads nothing.
    pub fn refresh(&mut self) -> bool {
        if self.paused {
            return false;
        }
        let previous_second = self.uptime.as_secs();
        let previous_counts = self.counts;
        let previous_status = self.status.clone();
        self.uptime = self.sup.uptime();
        self.clock = self.sup.wall_time(self.uptime);
        if self.catalog.update(&self.sup) {
            self.cleared.resize(self.catalog.len(), false);
            self.view_stale = true;
        }
        self.states = self.sup.states();
        self.counts = [0; State::COUNT];
        for (state, cleared) in self.states.iter().zip(&self.cleared) {
            if !cleared {
                self.counts[*state as usize] += 1;
            }
        }
        let sample = self.uptime.saturating_sub(self.last_sample) >= Duration::from_secs(1);
        if sample {
            self.sample_rates();
        }
        self.announce();
        if self
            .status
            .as_ref()
            .is_some_and(|s| self.uptime.saturating_sub(s.since) > STATUS_FOR)
        {
            self.status = None;
        }
        let live_order = self.sort.is_live() || self.filter.is_live();
        if live_order
            && self
                .sorted_at
                .is_none_or(|at| self.uptime.saturating_sub(at) >= RESORT_EVERY)
        {
            self.view_stale = true;
        }
        if self.view_stale {
            self.lay_out();
        }
        self.keep_selection_visible();
        if sample {
            self.record_histories();
        }
        let ids: Vec<TaskId> = self.view[self.window()].iter().map(|r| r.id).collect();
        let rows = self.sup.snapshots(&ids);
        let changed = previous_second != self.uptime.as_secs()
            || previous_counts != self.counts
            || previous_status != self.status
            || rows.len() != self.rows.len()
            || rows.iter().zip(&self.rows).any(|(a, b)| !looks_same(a, b))
            || rows
                .iter()
                .any(|r| r.escalation_at.is_some() && !r.state.is_ended());
        self.rows = rows;
        let selected = self.selected_id();
        self.children = selected.map(|id| self.sup.children(id)).unwrap_or_default();
        self.journal_path = selected.and_then(|id| self.sup.journal_path(id));
        changed
    }

    /// Orders the rows again: filter, sort, tree; the selection stays on its task.
    fn lay_out(&mut self) {
        let candidates: Vec<TaskId> = (1..=self.catalog.len() as TaskId)
            .filter(|&id| !self.cleared[id as usize - 1])
            .collect();
        let mut ids = self.filter.apply(&self.catalog, &self.states, candidates);
        let snapshots = if self.sort.needs_snapshots() {
            self.sup.snapshot()
        } else {
            Vec::new()
        };
        let ticks = if self.sort.column == Column::Ticks {
            self.sup.tick_counts()
        } else {
            Vec::new()
        };
        let numbers = view::Numbers {
            states: &self.states,
            ticks: &ticks,
            rates: &self.rates,
            snapshots: &snapshots,
        };
        self.sort.apply(&self.catalog, &numbers, &mut ids);
        self.view = if self.tree {
            view::tree(&self.catalog, &ids, &self.folded)
        } else {
            ids.into_iter().map(ViewRow::flat).collect()
        };
        self.view_stale = false;
        self.sorted_at = Some(self.uptime);
        self.selected = self
            .selected_id
            .and_then(|id| self.view.iter().position(|r| r.id == id))
            .unwrap_or(self.selected)
            .min(self.view.len().saturating_sub(1));
        self.selected_id = self.selected_id();
    }

    /// Says each timeline action as its time comes.
    fn announce(&mut self) {
        let Some(script) = &self.script else { return };
        let due = script
            .steps
            .iter()
            .skip(self.announced)
            .take_while(|(at, _)| *at <= self.uptime)
            .map(|(at, what)| format!("timeline at {}: {what}", humanize(*at)))
            .last();
        let passed = script.steps.iter().filter(|(at, _)| *at <= self.uptime).count();
        self.announced = passed;
        if let Some(text) = due {
            self.say(text, None);
        }
    }

    /// The next timeline action and how long until it, if any is left.
    pub fn next_step(&self) -> Option<(Duration, &str)> {
        let script = self.script.as_ref()?;
        script
            .steps
            .iter()
            .find(|(at, _)| *at > self.uptime)
            .map(|(at, what)| (*at - self.uptime, what.as_str()))
    }

    /// Ticks per second of every task since the last sample; an ended task's rate is 0.
    fn sample_rates(&mut self) {
        let seconds = self
            .uptime
            .saturating_sub(self.last_sample)
            .as_secs_f64()
            .max(1.0);
        self.last_sample = self.uptime;
        let ticks = self.sup.tick_counts();
        self.rates.resize(ticks.len(), Rate::default());
        for (index, (rate, ticks)) in self.rates.iter_mut().zip(ticks).enumerate() {
            let ended = self.states.get(index).is_some_and(|s| s.is_ended());
            rate.per_second = if ended {
                0
            } else {
                ((ticks - rate.last_ticks.min(ticks)) as f64 / seconds).round() as u64
            };
            rate.last_ticks = ticks;
        }
    }

    /// Adds the last sample to the histories of the tasks on screen; forgets the others.
    fn record_histories(&mut self) {
        let on_screen: HashSet<TaskId> = self.view[self.window()]
            .iter()
            .map(|r| r.id)
            .chain(self.selected_id())
            .collect();
        self.histories.retain(|id, _| on_screen.contains(id));
        for id in on_screen {
            let per_second = self.rates[id as usize - 1].per_second;
            let history = self.histories.entry(id).or_default();
            if history.len() == RATE_HISTORY {
                history.pop_front();
            }
            history.push_back(per_second);
        }
    }

    /// Ticks per second of task `id` over the last second; `None` before the first sample.
    pub fn rate(&self, id: TaskId) -> Option<u64> {
        let index = (id as usize).checked_sub(1)?;
        self.rates.get(index).map(|r| r.per_second)
    }

    /// The rates of task `id` over the last minute, oldest first, while it is on screen.
    pub fn rate_history(&self, id: TaskId) -> impl Iterator<Item = u64> + '_ {
        self.histories.get(&id).into_iter().flatten().copied()
    }

    /// The rows the table shows.
    pub fn window(&self) -> std::ops::Range<usize> {
        let end = (self.offset + self.table_height()).min(self.view.len());
        self.offset.min(end)..end
    }

    fn table_height(&self) -> usize {
        self.areas()
            .map_or(0, |a| layout::table_body(a.table).height as usize)
    }

    fn keep_selection_visible(&mut self) {
        let height = self.table_height().max(1);
        self.selected = self.selected.min(self.view.len().saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.view.len().saturating_sub(height));
        self.selected_id = self.selected_id();
    }

    fn select(&mut self, index: usize) {
        self.selected = index.min(self.view.len().saturating_sub(1));
        self.keep_selection_visible();
    }

    fn move_by(&mut self, delta: isize) {
        self.select(self.selected.saturating_add_signed(delta));
    }

    /// Applies one action. The caller refreshes afterwards (as the dashboard does after every
    /// key), so an action only changes state and asks the supervisor; it reads nothing back.
    pub fn update(&mut self, action: Action) {
        match (self.mode, action) {
            (_, Action::Resize { width, height }) => {
                self.size = Rect::new(0, 0, width, height);
                self.keep_selection_visible();
            }
            (_, Action::Quit) => self.quit(),
            (Mode::Quitting, _) => {}
            (Mode::Picker, action) => self.picker(action),
            (Mode::Help, action) => self.help(action),
            (Mode::Filter, action) => self.typing(action),
            (Mode::Confirm, action) => self.answer(action),
            (Mode::Normal, action) if self.log_focus => self.log_keys(action),
            (Mode::Normal, action) => self.normal(action),
        }
    }

    fn picker(&mut self, action: Action) {
        match action {
            Action::Up | Action::ScrollUp => self.picker = self.picker.saturating_sub(1),
            Action::Down | Action::ScrollDown => {
                self.picker = (self.picker + 1).min(Kind::ALL.len() - 1)
            }
            Action::Accept => self.spawn(Kind::ALL[self.picker]),
            Action::Spawn(kind) => self.spawn(kind),
            Action::Close | Action::ToggleHelp => self.mode = Mode::Normal,
            _ => {}
        }
    }

    fn help(&mut self, action: Action) {
        let page = self.size.height.saturating_sub(6).max(1);
        let most = crate::ui::help_scroll_max(self.size);
        let scroll = self.help_scroll;
        match action {
            Action::Up | Action::ScrollUp => self.help_scroll = scroll.saturating_sub(1),
            Action::Down | Action::ScrollDown => self.help_scroll = (scroll + 1).min(most),
            Action::PageUp => self.help_scroll = scroll.saturating_sub(page),
            Action::PageDown => self.help_scroll = scroll.saturating_add(page).min(most),
            Action::Home => self.help_scroll = 0,
            Action::End => self.help_scroll = most,
            Action::Close | Action::ToggleHelp => {
                self.mode = Mode::Normal;
                self.help_scroll = 0;
            }
            _ => {}
        }
    }

    fn typing(&mut self, action: Action) {
        match action {
            Action::Type(c) if self.filter.text.chars().count() < FILTER_MAX => {
                self.filter.text.push(c)
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::Backspace => {
                self.filter.text.pop();
            }
            Action::Accept => {
                self.mode = Mode::Normal;
                let shown = self.view_after_filter();
                self.say(format!("filter `{}`: {shown} shown", self.filter.text), None);
            }
            Action::Close => {
                self.filter = Filter::default();
                self.mode = Mode::Normal;
            }
            _ => {}
        }
        self.view_stale = true;
    }

    fn view_after_filter(&mut self) -> usize {
        self.lay_out();
        self.view.len()
    }

    fn answer(&mut self, action: Action) {
        let confirm = self.confirm.take();
        self.mode = Mode::Normal;
        if action != Action::Yes {
            self.say("nothing done", None);
            return;
        }
        let ids: Vec<TaskId> = self.view.iter().map(|r| r.id).collect();
        let (verb, done) = match confirm {
            Some(Confirm::StopShown) => ("graceful stop", self.each(&ids, Supervisor::stop)),
            Some(Confirm::AbortShown) => ("abort", self.each(&ids, Supervisor::abort)),
            None => return,
        };
        self.say(format!("{verb} requested for the {done} task(s) shown"), None);
    }

    /// Asks `request` of each task; returns how many accepted.
    fn each(
        &self,
        ids: &[TaskId],
        request: fn(&Supervisor, TaskId) -> Result<(), SupervisorError>,
    ) -> usize {
        ids.iter().filter(|&&id| request(&self.sup, id).is_ok()).count()
    }

    fn log_keys(&mut self, action: Action) {
        let page = 5;
        let most = self.log_events().len().saturating_sub(1);
        match action {
            Action::Up | Action::ScrollUp => self.log_scroll = (self.log_scroll + 1).min(most),
            Action::Down | Action::ScrollDown => self.log_scroll = self.log_scroll.saturating_sub(1),
            Action::PageUp => self.log_scroll = (self.log_scroll + page).min(most),
            Action::PageDown => self.log_scroll = self.log_scroll.saturating_sub(page),
            Action::Home => self.log_scroll = most,
            Action::End => self.log_scroll = 0,
            Action::FocusLog | Action::Close => {
                self.log_focus = false;
                self.log_scroll = 0;
            }
            other => {
                // Every other key acts on the table, as usual.
                self.log_focus = false;
                self.normal(other);
            }
        }
    }

    fn normal(&mut self, action: Action) {
        let page = self.table_height().max(1) as isize;
        match action {
            Action::Stop => self.on_chosen("stop", Supervisor::stop),
            Action::Abort => self.on_chosen("abort", Supervisor::abort),
            Action::Restart => self.on_chosen("restart", Supervisor::restart),
            Action::StopAll if !self.filter.is_empty() => self.ask(Confirm::StopShown),
            Action::AbortAll if !self.filter.is_empty() => self.ask(Confirm::AbortShown),
            Action::StopAll => {
                let n = self.sup.stop_all();
                self.say(format!("graceful stop requested for {n} task(s)"), None);
            }
            Action::AbortAll => {
                let n = self.sup.abort_all();
                self.say(format!("abort requested for {n} task(s)"), None);
            }
            Action::OpenPicker => self.mode = Mode::Picker,
            Action::ToggleHelp => self.mode = Mode::Help,
            Action::Spawn(kind) => self.spawn(kind),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::ScrollUp => self.move_by(-3),
            Action::ScrollDown => self.move_by(3),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Home => self.select(0),
            Action::End => self.select(self.view.len().saturating_sub(1)),
            Action::ToggleDetail => {
                self.detail_focus = !self.detail_focus;
                self.keep_selection_visible();
            }
            Action::ClearEnded => self.clear_ended(),
            Action::GraceUp => self.set_grace((self.grace + GRACE_STEP).min(GRACE_MAX)),
            Action::GraceDown => {
                self.set_grace(self.grace.saturating_sub(GRACE_STEP).max(GRACE_STEP))
            }
            Action::Click { column, row } => self.click(column, row),
            Action::OpenFilter => self.mode = Mode::Filter,
            Action::SortNext => self.sort_by(self.next_column(1), false),
            Action::SortPrevious => self.sort_by(self.next_column(-1), false),
            Action::SortInvert => self.sort_by(self.sort.column, true),
            Action::ToggleTree => {
                self.tree = !self.tree;
                self.view_stale = true;
                self.say(if self.tree { "tree view" } else { "flat view" }, None);
            }
            Action::Fold => self.fold(true),
            Action::Unfold => self.fold(false),
            Action::Mark => self.mark(),
            Action::TogglePause => {
                self.paused = !self.paused;
                self.say(
                    if self.paused {
                        "paused: the display is frozen, the tasks run on (p again to go on)"
                    } else {
                        "going on"
                    },
                    None,
                );
            }
            Action::FocusLog => self.log_focus = true,
            Action::Close => {
                if !self.filter.is_empty() {
                    self.filter = Filter::default();
                    self.view_stale = true;
                    self.say("filter cleared", None);
                } else if !self.marked.is_empty() {
                    self.marked.clear();
                    self.say("marks cleared", None);
                }
            }
            _ => {}
        }
    }

    fn ask(&mut self, confirm: Confirm) {
        self.confirm = Some(confirm);
        self.mode = Mode::Confirm;
    }

    /// The question the footer asks, with the number of tasks it is about.
    pub fn question(&self) -> Option<String> {
        let verb = match self.confirm? {
            Confirm::StopShown => "stop",
            Confirm::AbortShown => "abort",
        };
        Some(format!(
            "{verb} the {} task(s) shown by the filter? y/n",
            self.view.len()
        ))
    }

    /// The column `step` columns on from the sorted one, among those on screen.
    fn next_column(&self, step: isize) -> Column {
        let shown: Vec<Column> = self.columns().into_iter().map(|(c, _)| c).collect();
        let at = shown.iter().position(|&c| c == self.sort.column).unwrap_or(0);
        let next = (at as isize + step).rem_euclid(shown.len().max(1) as isize) as usize;
        shown.get(next).copied().unwrap_or(Column::Id)
    }

    /// The table's columns on this terminal.
    pub fn columns(&self) -> Vec<(Column, u16)> {
        self.columns_in(self.areas().map_or(self.size.width, |a| a.table.width))
    }

    /// The columns of a table `width` wide, border included.
    pub fn columns_in(&self, width: u16) -> Vec<(Column, u16)> {
        layout::columns(width.saturating_sub(2), self.state_width())
    }

    /// The widest state text among the rows on screen.
    pub fn state_width(&self) -> u16 {
        self.rows
            .iter()
            .map(|r| format::state_text(r, self.uptime).chars().count() as u16)
            .max()
            .unwrap_or(7)
    }

    /// Sorts by `column`, ascending; `invert` turns the current order around instead.
    fn sort_by(&mut self, column: Column, invert: bool) {
        let descending = invert && !self.sort.descending;
        self.sort = Sort { column, descending };
        self.view_stale = true;
        self.say(
            format!(
                "sorted by {} {}",
                column.title(),
                if descending { "▼" } else { "▲" }
            ),
            None,
        );
    }

    fn fold(&mut self, fold: bool) {
        if !self.tree {
            self.say("← → fold and unfold in the tree view (t)", None);
            return;
        }
        let Some(id) = self.selected_id() else { return };
        let changed = if fold {
            self.folded.insert(id)
        } else {
            self.folded.remove(&id)
        };
        if changed {
            self.view_stale = true;
        }
    }

    fn mark(&mut self) {
        let Some(id) = self.selected_id() else { return };
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        self.move_by(1);
    }

    /// Asks `request` of the marked tasks, or the selected one when none is marked.
    fn on_chosen(
        &mut self,
        verb: &str,
        request: fn(&Supervisor, TaskId) -> Result<(), SupervisorError>,
    ) {
        if !self.marked.is_empty() {
            let ids: Vec<TaskId> = self.marked.iter().copied().collect();
            let done = self.each(&ids, request);
            self.say(
                format!("{verb} requested for {done} of the {} marked task(s)", ids.len()),
                None,
            );
            return;
        }
        let Some(id) = self.selected_id() else {
            self.say(format!("nothing to {verb}: no task selected"), None);
            return;
        };
        let name = self.catalog.name(id).to_string();
        match request(&self.sup, id) {
            Ok(()) => self.say(format!("{verb} requested for #{id} {name}"), Some(id)),
            Err(e) => self.say(format!("cannot {verb}: {e}"), None),
        }
    }

    fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
        self.sup.set_grace(grace);
        self.say(
            format!("grace period {} for stops from now on", humanize(grace)),
            None,
        );
    }

    fn spawn(&mut self, kind: Kind) {
        self.mode = Mode::Normal;
        self.spawned += 1;
        let name = format!("{}+{}", kind.name(), self.spawned);
        match self.sup.spawn(kind.task(&name, &Params::default())) {
            Ok(id) => self.say(format!("spawned #{id} {name}"), Some(id)),
            Err(e) => self.say(format!("cannot spawn: {e}"), None),
        }
    }

    fn click(&mut self, column: u16, row: u16) {
        let Some(areas) = self.areas() else { return };
        let body = layout::table_body(areas.table);
        if row + 1 == body.y && column >= body.x {
            // The header line: sort by the column clicked.
            let mut x = body.x + layout::MARKER;
            for (c, width) in self.columns() {
                if column >= x && column < x + width + 1 {
                    let invert = c == self.sort.column;
                    self.sort_by(c, invert);
                    return;
                }
                x += width + 1;
            }
            return;
        }
        if body.contains(Position::new(column, row)) {
            let index = self.offset + (row - body.y) as usize;
            if index < self.view.len() {
                self.select(index);
            }
        }
    }

    /// One more request to quit: see [`Urgency`].
    fn quit(&mut self) {
        self.quit_requests += 1;
        self.paused = false;
        match Urgency::of(self.quit_requests) {
            Urgency::Graceful => {
                self.mode = Mode::Quitting;
                self.quit_requested = true;
                self.quitting = Some(Quitting {
                    live_at_start: self.live(),
                    escalation_at: Some(self.uptime.saturating_add(self.grace)),
                });
            }
            Urgency::AbortNow => {
                let n = self.sup.abort_all();
                if let Some(quitting) = &mut self.quitting {
                    quitting.escalation_at = None;
                }
                self.say(format!("aborting the {n} task(s) left"), None);
            }
            Urgency::ExitNow => {}
        }
    }

    /// Hides the rows of ended tasks.
    fn clear_ended(&mut self) {
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

/// Equal for display purposes: everything but the ever-growing age.
fn looks_same(a: &TaskSnapshot, b: &TaskSnapshot) -> bool {
    a.id == b.id
        && a.state == b.state
        && a.ledger == b.ledger
        && a.cleanup == b.cleanup
        && a.cleanup_progress == b.cleanup_progress
        && a.orphan == b.orphan
        && a.abort_ignored == b.abort_ignored
        && a.busy == b.busy
        && a.timeline == b.timeline
        && a.note == b.note
        && a.restarts == b.restarts
}
