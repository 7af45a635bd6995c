//! The dashboard's state and the one place it changes: [`App::update`]. What it shows of the
//! tasks comes from a [`Source`] (a board next to the supervisor, here or in a served program);
//! what stays here is the person's side: the keys, the selection, the marks, the messages.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Local};
use ratatui::layout::{Position, Rect};

pub use crate::board::{Filter, Sort, ViewRow};

use crate::board::{Board, CANNOT_ACT, Command, Frame, PlayControl, Playback, Query, Source, Verb};
use crate::format::humanize;
use crate::input::Action;
use crate::layout::{self, Column};
use crate::supervisor::Urgency;
use crate::supervisor::{Event, EventKind, State, Supervisor, TaskId, TaskSnapshot};

const GRACE_STEP: Duration = Duration::from_millis(500);
const GRACE_MAX: Duration = Duration::from_secs(60);
/// How long a status message stays after it last changed.
const STATUS_FOR: Duration = Duration::from_secs(6);
/// The longest filter text.
const FILTER_MAX: usize = 64;

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
    /// The table of a recording played back: its own keys move time.
    Replay,
    /// Typing a time to go to, in a replay.
    GoTo,
}

/// Something that waits for a `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    StopShown,
    AbortShown,
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
    /// Where the tasks are served to other terminals (`--serve`).
    pub serving: Option<String>,
    /// When each action happens, and what it does, in order.
    pub steps: Vec<(Duration, String)>,
}

pub struct App {
    source: Box<dyn Source>,
    /// The last frame read.
    frame: Frame,
    /// The window's rows: where each stands, and the task as it was read.
    pub view: Vec<ViewRow>,
    pub rows: Vec<TaskSnapshot>,
    /// Index of the selected row among all the rows shown.
    pub selected: usize,
    /// The task selected, followed when rows move.
    selected_id: Option<TaskId>,
    /// A key moved the selection since the last frame.
    moved: bool,
    /// A key moved the selection since the last query.
    move_unsent: bool,
    /// The number of the last query that carried a move, until a frame answers it: a frame
    /// answering an older query (over a connection) must not put the selection back.
    move_sent: Option<u64>,
    /// The number of the last query.
    seq: u64,
    /// The first row shown in the table.
    pub offset: usize,
    pub mode: Mode,
    /// The highlighted kind in the picker.
    pub picker: usize,
    pub detail_focus: bool,
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
    /// The selected task's children, for the detail pane.
    pub children: Vec<TaskId>,
    /// The selected task's journal file.
    pub journal_path: Option<std::path::PathBuf>,
    pub quitting: Option<Quitting>,
    quit_requested: bool,
    /// Requests to quit so far: the first stops gracefully, the second aborts, the third exits.
    quit_requests: u32,
    pub status: Option<Status>,
    pub filter: Filter,
    pub sort: Sort,
    pub tree: bool,
    folded: BTreeSet<TaskId>,
    pub marked: BTreeSet<TaskId>,
    /// The display is frozen; the tasks run on.
    pub paused: bool,
    pub help_scroll: u16,
    pub confirm: Option<Confirm>,
    pub script: Option<Script>,
    /// Timeline steps announced so far.
    announced: usize,
    /// Whether the source was connected at the last refresh.
    was_connected: bool,
    /// Where these tasks are served to other terminals, if they are.
    pub serving: Option<String>,
    /// Where a recording's playback stands; `None` for tasks that run now.
    pub playback: Option<Playback>,
    /// The time being typed after `g`, in a replay.
    pub goto: String,
}

/// The longest time typed after `g`.
const GOTO_MAX: usize = 40;

impl App {
    /// A dashboard over `sup`, in this process, offering taskmon's kinds to spawn.
    pub fn new(sup: Supervisor, size: Rect) -> Self {
        Self::with_source(Box::new(Board::with_taskmon_kinds(sup)), size)
    }

    /// A dashboard over whatever `source` reads.
    pub fn with_source(source: Box<dyn Source>, size: Rect) -> Self {
        let mut app = Self {
            source,
            frame: Frame::default(),
            view: Vec::new(),
            rows: Vec::new(),
            selected: 0,
            selected_id: None,
            moved: false,
            move_unsent: false,
            move_sent: None,
            seq: 0,
            offset: 0,
            mode: Mode::Normal,
            picker: 0,
            detail_focus: false,
            log_focus: false,
            log_scroll: 0,
            counts: [0; State::COUNT],
            size,
            uptime: Duration::ZERO,
            clock: Local::now(),
            grace: Duration::ZERO,
            children: Vec::new(),
            journal_path: None,
            quitting: None,
            quit_requested: false,
            quit_requests: 0,
            status: None,
            filter: Filter::default(),
            sort: Sort::default(),
            tree: false,
            folded: BTreeSet::new(),
            marked: BTreeSet::new(),
            paused: false,
            help_scroll: 0,
            confirm: None,
            script: None,
            announced: 0,
            was_connected: true,
            serving: None,
            playback: None,
            goto: String::new(),
        };
        app.playback = app.source.playback();
        app.mode = app.home_mode();
        app.refresh();
        app
    }

    /// Shows a scenario's description and next action, and announces its actions as they happen.
    pub fn with_script(mut self, script: Script) -> Self {
        self.serving = script.serving.clone();
        self.script = Some(script);
        self
    }

    /// What the dashboard is attached to, for its header; `None` in the supervisor's process.
    pub fn target(&self) -> Option<String> {
        self.source.target()
    }

    /// Whether the tasks can be read (a connection can be lost).
    pub fn connected(&self) -> bool {
        self.source.connected()
    }

    /// Woken when the source has something new without being asked.
    pub fn wake(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.source.wake()
    }

    /// The header's height: the counts, then the status message or the scenario's description;
    /// in a replay, the time bar.
    pub fn header_height(&self) -> u16 {
        if self.playback.is_some() { 3 } else { 2 }
    }

    /// The mode the keys go back to when an overlay closes: the table's, or a replay's.
    pub fn home_mode(&self) -> Mode {
        if self.playback.is_some() {
            Mode::Replay
        } else {
            Mode::Normal
        }
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
        self.view
            .get(self.selected.checked_sub(self.offset)?)
            .map(|r| r.id)
    }

    /// How many tasks there are, cleared rows left out.
    pub fn total(&self) -> usize {
        self.frame.total
    }

    /// How many rows the filter shows.
    pub fn shown(&self) -> usize {
        self.frame.shown
    }

    /// Tasks that have not ended yet.
    pub fn live(&self) -> usize {
        State::all()
            .filter(|s| !s.is_ended())
            .map(|s| self.counts[s as usize])
            .sum()
    }

    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        self.frame.wall_time(since_start)
    }

    /// Ticks per second of task `id` over the last second, while it is on screen.
    pub fn rate(&self, id: TaskId) -> Option<u64> {
        self.view
            .iter()
            .position(|r| r.id == id)
            .and_then(|i| self.frame.rows.get(i))
            .and_then(|r| r.rate)
    }

    /// The share of one worker task `id` took over the last second, while it is on screen.
    pub fn busy(&self, id: TaskId) -> Option<f32> {
        self.view
            .iter()
            .position(|r| r.id == id)
            .and_then(|i| self.frame.rows.get(i))
            .and_then(|r| r.busy)
    }

    /// The selected task's rates over the last minute, oldest first.
    pub fn rate_history(&self) -> &[u64] {
        &self.frame.history
    }

    /// The kinds the picker offers.
    pub fn kinds(&self) -> &[String] {
        &self.frame.kinds
    }

    /// Whether quitting was asked for since the last call; the runner then starts the shutdown.
    pub fn take_quit_request(&mut self) -> bool {
        std::mem::take(&mut self.quit_requested)
    }

    /// Whether a third request to quit asked to leave at once.
    pub fn exit_requested(&self) -> bool {
        Urgency::of(self.quit_requests) == Urgency::ExitNow
    }

    /// An event of the supervisor, for the log and the status line.
    pub fn push_event(&mut self, event: Event) {
        self.source.push_event(event);
    }

    /// Moves the status message on when the task it is about moves on.
    fn follow(&mut self, e: &Event) {
        let Some(status) = &mut self.status else {
            return;
        };
        if status.task != Some(e.id) || e.kind == EventKind::Spawned {
            return;
        }
        let detail = e.detail.describe().unwrap_or_default();
        status.text = format!("#{} {} {} {}", e.id, e.task, e.kind.label(), detail)
            .trim_end()
            .to_string();
        status.since = e.since_start;
    }

    /// The events the log shows (with a filter, those of the tasks shown), oldest first.
    pub fn log_events(&self) -> &[Event] {
        &self.frame.log
    }

    /// How many events the log holds for the tasks shown.
    pub fn log_total(&self) -> usize {
        self.frame.log_total
    }

    /// The selected task's own events, for the detail pane.
    pub fn task_events(&self) -> impl Iterator<Item = &Event> {
        let id = self.selected_id();
        self.frame.log.iter().filter(move |e| Some(e.id) == id)
    }

    /// What the screen asks of the source.
    fn query(&self) -> Query {
        let areas = self.areas();
        let height = areas.map_or(0, |a| layout::table_body(a.table).height as usize);
        let log_height = if self.detail_focus {
            // The detail pane lists the selected task's own events from the log.
            crate::board::LOG_CAPACITY
        } else {
            areas.map_or(0, |a| a.log.height.saturating_sub(2) as usize)
        };
        Query {
            filter: self.filter.text.clone(),
            sort: self.sort,
            tree: self.tree,
            folded: self.folded.iter().copied().collect(),
            selected: self.selected,
            selected_id: self.selected_id,
            moved: self.moved,
            offset: self.offset,
            height,
            log_height,
            log_scroll: self.log_scroll,
            follow: self.status.as_ref().and_then(|s| s.task),
            seq: self.seq,
        }
    }

    /// Reads what the screen shows. Returns whether anything on screen would change. A paused
    /// display reads nothing.
    pub fn refresh(&mut self) -> bool {
        if self.paused {
            return false;
        }
        self.seq += 1;
        if std::mem::take(&mut self.move_unsent) {
            self.move_sent = Some(self.seq);
        }
        let query = self.query();
        let connected = self.source.connected();
        let connection_changed = std::mem::replace(&mut self.was_connected, connected) != connected;
        let Some(frame) = self.source.frame(&query) else {
            return connection_changed;
        };
        let previous_second = self.uptime.as_secs();
        let previous_counts = self.counts;
        let previous_status = self.status.clone();
        let previous_rows = std::mem::take(&mut self.rows);
        let previous_playback = self.playback.take();
        self.playback = self.source.playback();
        self.apply(frame);
        self.announce();
        if self
            .status
            .as_ref()
            .is_some_and(|s| self.uptime.saturating_sub(s.since) > STATUS_FOR)
        {
            self.status = None;
        }
        connection_changed
            || previous_playback != self.playback
            || previous_second != self.uptime.as_secs()
            || previous_counts != self.counts
            || previous_status != self.status
            || previous_rows.len() != self.rows.len()
            || previous_rows.iter().zip(&self.rows).any(|(a, b)| !looks_same(a, b))
            || self
                .rows
                .iter()
                .any(|r| r.escalation_at.is_some() && !r.state.is_ended())
    }

    /// Takes in a frame: the figures, the window, the answers to requests.
    fn apply(&mut self, mut frame: Frame) {
        self.uptime = frame.uptime;
        self.clock = frame.wall_time(frame.uptime);
        self.grace = frame.grace;
        self.counts = [0; State::COUNT];
        for (count, n) in self.counts.iter_mut().zip(&frame.counts) {
            *count = *n;
        }
        // A move not answered yet keeps its selection; the window is the frame's.
        let answers_the_move = self.move_sent.is_none_or(|sent| frame.seq >= sent);
        if answers_the_move {
            self.selected = frame.selected;
            self.moved = false;
            self.move_sent = None;
        }
        self.offset = frame.offset;
        self.view = frame.rows.iter().map(|r| r.place).collect();
        self.rows = frame.rows.iter().map(|r| r.task.clone()).collect();
        self.selected_id = self.selected_id();
        self.children = std::mem::take(&mut frame.children);
        self.journal_path = frame.journal_path.take();
        // The answer to a request first, then what became of its task since.
        for notice in std::mem::take(&mut frame.notices) {
            self.say(notice.text, notice.task);
        }
        if let Some(event) = frame.followed.take() {
            self.follow(&event);
        }
        self.picker = self.picker.min(frame.kinds.len().saturating_sub(1));
        self.frame = frame;
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
        let passed = script
            .steps
            .iter()
            .filter(|(at, _)| *at <= self.uptime)
            .count();
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

    /// The rows the table shows, as indices among all the rows shown.
    pub fn window(&self) -> std::ops::Range<usize> {
        self.offset..self.offset.saturating_add(self.view.len())
    }

    fn table_height(&self) -> usize {
        self.areas()
            .map_or(0, |a| layout::table_body(a.table).height as usize)
    }

    /// Moves the selection to row `index`; the next frame brings it on screen.
    fn select(&mut self, index: usize) {
        self.selected = index.min(self.frame.shown.saturating_sub(1));
        self.moved = true;
        self.move_unsent = true;
    }

    fn move_by(&mut self, delta: isize) {
        self.select(self.selected.saturating_add_signed(delta));
    }

    /// Asks something of the tasks; the answer comes with the next frame.
    fn command(&mut self, command: Command) {
        let query = self.query();
        self.source.command(command, &query);
    }

    /// Applies one action. The caller refreshes afterwards (as the dashboard does after every
    /// key), so an action only changes state and asks the source; it reads nothing back.
    pub fn update(&mut self, action: Action) {
        match (self.mode, action) {
            (_, Action::Resize { width, height }) => {
                self.size = Rect::new(0, 0, width, height);
            }
            (_, Action::Quit) => self.quit(),
            (Mode::Quitting, _) => {}
            (Mode::Picker, action) => self.picker(action),
            (Mode::Help, action) => self.help(action),
            (Mode::Filter, action) => self.typing(action),
            (Mode::Confirm, action) => self.answer(action),
            (Mode::GoTo, action) => self.typing_time(action),
            (Mode::Normal | Mode::Replay, action) if self.log_focus => self.log_keys(action),
            (Mode::Replay, action) => self.replay(action),
            (Mode::Normal, action) => self.normal(action),
        }
    }

    /// A replay's keys: time moves; what would act on tasks is answered, not done.
    fn replay(&mut self, action: Action) {
        let control = match action {
            Action::TogglePlay => PlayControl::Toggle,
            Action::Second { forward } => PlayControl::Second { forward },
            Action::Event { forward } => PlayControl::Event { forward },
            Action::Faster => PlayControl::Faster,
            Action::Slower => PlayControl::Slower,
            Action::ToStart => PlayControl::Start,
            Action::ToEnd => PlayControl::End,
            Action::OpenGoTo => {
                self.goto.clear();
                self.mode = Mode::GoTo;
                return;
            }
            Action::CannotAct => {
                self.say(CANNOT_ACT, None);
                return;
            }
            other => return self.normal(other),
        };
        self.play(control);
    }

    fn play(&mut self, control: PlayControl) {
        match self.source.play(control) {
            Ok(text) | Err(text) => self.say(text, None),
        }
    }

    fn typing_time(&mut self, action: Action) {
        match action {
            Action::Type(c) if self.goto.chars().count() < GOTO_MAX => self.goto.push(c),
            Action::Backspace => {
                self.goto.pop();
            }
            Action::Accept => {
                self.mode = self.home_mode();
                let text = std::mem::take(&mut self.goto);
                self.play(PlayControl::GoTo(text));
            }
            Action::Close => {
                self.goto.clear();
                self.mode = self.home_mode();
            }
            _ => {}
        }
    }

    fn picker(&mut self, action: Action) {
        let last = self.frame.kinds.len().saturating_sub(1);
        match action {
            Action::Up | Action::ScrollUp => self.picker = self.picker.saturating_sub(1),
            Action::Down | Action::ScrollDown => self.picker = (self.picker + 1).min(last),
            Action::Accept => self.spawn_nth(self.picker),
            Action::Spawn(index) => self.spawn_nth(index),
            Action::Close | Action::ToggleHelp => self.mode = self.home_mode(),
            _ => {}
        }
    }

    fn help(&mut self, action: Action) {
        let page = self.size.height.saturating_sub(6).max(1);
        let most = crate::help::scroll_max(self.size, crate::input::bindings(self.home_mode()));
        let scroll = self.help_scroll;
        match action {
            Action::Up | Action::ScrollUp => self.help_scroll = scroll.saturating_sub(1),
            Action::Down | Action::ScrollDown => self.help_scroll = (scroll + 1).min(most),
            Action::PageUp => self.help_scroll = scroll.saturating_sub(page),
            Action::PageDown => self.help_scroll = scroll.saturating_add(page).min(most),
            Action::Home => self.help_scroll = 0,
            Action::End => self.help_scroll = most,
            Action::Close | Action::ToggleHelp => {
                self.mode = self.home_mode();
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
                self.mode = self.home_mode();
                self.command(Command::CountShown {});
            }
            Action::Close => {
                self.filter = Filter::default();
                self.mode = self.home_mode();
            }
            _ => {}
        }
    }

    fn answer(&mut self, action: Action) {
        let confirm = self.confirm.take();
        self.mode = self.home_mode();
        if action != Action::Yes {
            self.say("nothing done", None);
            return;
        }
        let verb = match confirm {
            Some(Confirm::StopShown) => Verb::Stop,
            Some(Confirm::AbortShown) => Verb::Abort,
            None => return,
        };
        self.command(Command::Shown { verb });
    }

    fn log_keys(&mut self, action: Action) {
        let page = 5;
        let most = self.log_total().saturating_sub(1);
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
                self.update(other);
            }
        }
    }

    fn normal(&mut self, action: Action) {
        let page = self.table_height().max(1) as isize;
        match action {
            Action::Stop => self.on_chosen(Verb::Stop),
            Action::Abort => self.on_chosen(Verb::Abort),
            Action::Restart => self.on_chosen(Verb::Restart),
            Action::StopAll if !self.filter.is_empty() => self.ask(Confirm::StopShown),
            Action::AbortAll if !self.filter.is_empty() => self.ask(Confirm::AbortShown),
            Action::StopAll => self.command(Command::StopAll {}),
            Action::AbortAll => self.command(Command::AbortAll {}),
            Action::OpenPicker => self.mode = Mode::Picker,
            Action::ToggleHelp => self.mode = Mode::Help,
            Action::Spawn(index) => self.spawn_nth(index),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::ScrollUp => self.move_by(-3),
            Action::ScrollDown => self.move_by(3),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Home => self.select(0),
            Action::End => self.select(usize::MAX),
            Action::ToggleDetail => self.detail_focus = !self.detail_focus,
            Action::ClearEnded => self.command(Command::ClearEnded {}),
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
            self.frame.shown
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
            .map(|r| crate::format::state_text(r, self.uptime).chars().count() as u16)
            .max()
            .unwrap_or(7)
    }

    /// Sorts by `column`, ascending; `invert` turns the current order around instead.
    fn sort_by(&mut self, column: Column, invert: bool) {
        let descending = invert && !self.sort.descending;
        self.sort = Sort { column, descending };
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
        if fold {
            self.folded.insert(id);
        } else {
            self.folded.remove(&id);
        }
    }

    fn mark(&mut self) {
        let Some(id) = self.selected_id() else { return };
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        self.move_by(1);
    }

    /// Asks `verb` of the marked tasks, or the selected one when none is marked.
    fn on_chosen(&mut self, verb: Verb) {
        if !self.marked.is_empty() {
            let ids = self.marked.iter().copied().collect();
            self.command(Command::Marked { verb, ids });
            return;
        }
        match self.selected_id() {
            Some(id) => self.command(Command::One { verb, id }),
            None => {
                let verb = format!("{verb:?}").to_lowercase();
                self.say(format!("nothing to {verb}: no task selected"), None);
            }
        }
    }

    fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
        self.command(Command::Grace { grace });
    }

    fn spawn_nth(&mut self, index: usize) {
        match self.frame.kinds.get(index).cloned() {
            Some(kind) => self.spawn(kind),
            None => self.mode = self.home_mode(),
        }
    }

    fn spawn(&mut self, kind: String) {
        self.mode = self.home_mode();
        self.command(Command::Spawn { kind });
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
            let index = self.offset.saturating_add((row - body.y) as usize);
            if index < self.frame.shown {
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
                if let Some(quitting) = &mut self.quitting {
                    quitting.escalation_at = None;
                }
                self.command(Command::AbortAll {});
            }
            Urgency::ExitNow => {}
        }
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
