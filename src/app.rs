//! The dashboard's state and the one place it changes: [`App::update`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Local};
use ratatui::layout::{Position, Rect};

use crate::format::humanize;
use crate::input::Action;
use crate::kinds::{Kind, Params};
use crate::layout;
use crate::signals::Urgency;
use crate::supervisor::{Event, State, Supervisor, TaskId, TaskSnapshot};

/// How many events the log keeps.
const LOG_CAPACITY: usize = 1000;
/// How many one-second rate samples a sparkline shows.
const RATE_HISTORY: usize = 60;
const GRACE_STEP: Duration = Duration::from_millis(500);
const GRACE_MAX: Duration = Duration::from_secs(60);

/// What the keys mean depends on what is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Picker,
    Quitting,
}

/// Ticks per second of one task, sampled once a second.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    last_ticks: u64,
    pub per_second: u64,
    pub history: VecDeque<u64>,
}

/// Progress of the shutdown that quitting started.
#[derive(Clone, Copy, Debug)]
pub struct Quitting {
    /// Tasks that were still running when quitting began.
    pub live_at_start: usize,
    /// When what is still running will be aborted.
    pub escalation_at: Option<Duration>,
}

pub struct App {
    sup: Supervisor,
    /// Every task not cleared, in spawn order.
    pub ids: Vec<TaskId>,
    /// Snapshots of the tasks in the table's window, `ids[window()]`: only visible rows are read.
    pub rows: Vec<TaskSnapshot>,
    /// How many of the supervisor's tasks `ids` has taken in.
    known: usize,
    /// Per-state counts of the cleared rows, left out of the header's counts.
    hidden_counts: [usize; State::COUNT],
    /// Index into `ids`.
    pub selected: usize,
    /// The first row shown in the table.
    pub offset: usize,
    pub mode: Mode,
    /// The highlighted kind in the picker.
    pub picker: usize,
    pub detail_focus: bool,
    pub log: VecDeque<Event>,
    pub counts: [usize; State::COUNT],
    /// The terminal's size.
    pub size: Rect,
    pub uptime: Duration,
    pub clock: DateTime<Local>,
    pub grace: Duration,
    pub rates: HashMap<TaskId, Rate>,
    last_sample: Duration,
    /// The selected task's children, for the detail pane.
    pub children: Vec<TaskId>,
    /// The selected task's journal file.
    pub journal_path: Option<std::path::PathBuf>,
    pub quitting: Option<Quitting>,
    quit_requested: bool,
    /// Requests to quit so far: the first stops gracefully, the second aborts, the third exits.
    quit_requests: u32,
    /// A one-line answer to the last key: what it did or why it did nothing.
    pub notice: Option<String>,
    spawned: u64,
}

impl App {
    pub fn new(sup: Supervisor, size: Rect) -> Self {
        let grace = sup.grace();
        let mut app = Self {
            sup,
            ids: Vec::new(),
            rows: Vec::new(),
            known: 0,
            hidden_counts: [0; State::COUNT],
            selected: 0,
            offset: 0,
            mode: Mode::Normal,
            picker: 0,
            detail_focus: false,
            log: VecDeque::new(),
            counts: [0; State::COUNT],
            size,
            uptime: Duration::ZERO,
            clock: Local::now(),
            grace,
            rates: HashMap::new(),
            last_sample: Duration::ZERO,
            children: Vec::new(),
            journal_path: None,
            quitting: None,
            quit_requested: false,
            quit_requests: 0,
            notice: None,
            spawned: 0,
        };
        app.refresh();
        app
    }

    pub fn selected_row(&self) -> Option<&TaskSnapshot> {
        self.rows.get(self.selected.checked_sub(self.offset)?)
    }

    pub fn selected_id(&self) -> Option<TaskId> {
        self.ids.get(self.selected).copied()
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
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(event);
    }

    /// Reads what the screen shows: the counts per state and the window's rows. Returns whether
    /// anything on screen would change.
    pub fn refresh(&mut self) -> bool {
        let previous_second = self.uptime.as_secs();
        let previous_counts = self.counts;
        self.uptime = self.sup.uptime();
        self.clock = self.sup.wall_time(self.uptime);
        let total = self.sup.len();
        self.ids.extend(self.known as TaskId + 1..=total as TaskId);
        self.known = total;
        self.counts = [0; State::COUNT];
        let states = self.sup.states();
        for &state in &states {
            self.counts[state as usize] += 1;
        }
        for (count, hidden) in self.counts.iter_mut().zip(self.hidden_counts) {
            *count -= hidden;
        }
        if self.uptime.saturating_sub(self.last_sample) >= Duration::from_secs(1) {
            self.sample_rates(&states);
        }
        self.selected = self.selected.min(self.ids.len().saturating_sub(1));
        self.keep_selection_visible();
        let rows = self.sup.snapshots(&self.ids[self.window()]);
        let changed = previous_second != self.uptime.as_secs()
            || previous_counts != self.counts
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

    /// Ticks per second of every task since the last sample; an ended task's rate is 0.
    fn sample_rates(&mut self, states: &[State]) {
        let seconds = self
            .uptime
            .saturating_sub(self.last_sample)
            .as_secs_f64()
            .max(1.0);
        self.last_sample = self.uptime;
        for (index, ticks) in self.sup.tick_counts().into_iter().enumerate() {
            let rate = self.rates.entry(index as TaskId + 1).or_default();
            let ended = states.get(index).is_some_and(|s| s.is_ended());
            rate.per_second = if ended {
                0
            } else {
                ((ticks - rate.last_ticks.min(ticks)) as f64 / seconds).round() as u64
            };
            rate.last_ticks = ticks;
            if rate.history.len() == RATE_HISTORY {
                rate.history.pop_front();
            }
            rate.history.push_back(rate.per_second);
        }
    }

    /// The rows the table shows.
    pub fn window(&self) -> std::ops::Range<usize> {
        let end = (self.offset + self.table_height()).min(self.ids.len());
        self.offset.min(end)..end
    }

    fn table_height(&self) -> usize {
        layout::layout(self.size, self.detail_focus)
            .map_or(0, |a| layout::table_body(a.table).height as usize)
    }

    fn keep_selection_visible(&mut self) {
        let height = self.table_height().max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.ids.len().saturating_sub(height));
    }

    fn select(&mut self, index: usize) {
        self.selected = index.min(self.ids.len().saturating_sub(1));
        self.keep_selection_visible();
    }

    fn move_by(&mut self, delta: isize) {
        self.select(self.selected.saturating_add_signed(delta));
    }

    /// Applies one action. The caller refreshes afterwards (as the dashboard does after every
    /// key), so an action only changes state and asks the supervisor; it reads nothing back.
    pub fn update(&mut self, action: Action) {
        self.notice = None;
        match (self.mode, action) {
            (_, Action::Resize { width, height }) => {
                self.size = Rect::new(0, 0, width, height);
                self.keep_selection_visible();
            }
            (_, Action::Quit) => self.quit(),
            (Mode::Quitting, _) => {}
            (Mode::Picker, Action::Up) => self.picker = self.picker.saturating_sub(1),
            (Mode::Picker, Action::Down | Action::ScrollDown) => {
                self.picker = (self.picker + 1).min(Kind::ALL.len() - 1)
            }
            (Mode::Picker, Action::ScrollUp) => self.picker = self.picker.saturating_sub(1),
            (Mode::Picker, Action::PickerConfirm) => self.spawn(Kind::ALL[self.picker]),
            (Mode::Help | Mode::Picker, Action::Close | Action::ToggleHelp) => {
                self.mode = Mode::Normal
            }
            (_, Action::Spawn(kind)) => self.spawn(kind),
            (Mode::Normal, action) => self.normal(action),
            _ => {}
        }
    }

    fn normal(&mut self, action: Action) {
        let page = self.table_height().max(1) as isize;
        match action {
            Action::Stop => self.on_selected("stop", |sup, id| sup.stop(id)),
            Action::Abort => self.on_selected("abort", |sup, id| sup.abort(id)),
            Action::Restart => self.on_selected("restart", |sup, id| sup.restart(id)),
            Action::StopAll => {
                let n = self.sup.stop_all();
                self.notice = Some(format!("graceful stop requested for {n} task(s)"));
            }
            Action::AbortAll => {
                let n = self.sup.abort_all();
                self.notice = Some(format!("abort requested for {n} task(s)"));
            }
            Action::OpenPicker => self.mode = Mode::Picker,
            Action::ToggleHelp => self.mode = Mode::Help,
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::ScrollUp => self.move_by(-3),
            Action::ScrollDown => self.move_by(3),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Home => self.select(0),
            Action::End => self.select(self.ids.len().saturating_sub(1)),
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
            _ => {}
        }
    }

    fn on_selected(
        &mut self,
        verb: &str,
        request: impl FnOnce(&Supervisor, TaskId) -> Result<(), crate::supervisor::SupervisorError>,
    ) {
        let Some(row) = self.selected_row() else {
            self.notice = Some(format!("nothing to {verb}: no task selected"));
            return;
        };
        let (id, name) = (row.id, row.name.clone());
        self.notice = Some(match request(&self.sup, id) {
            Ok(()) => format!("{verb} requested for #{id} {name}"),
            Err(e) => format!("cannot {verb}: {e}"),
        });
    }

    fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
        self.sup.set_grace(grace);
        self.notice = Some(format!(
            "grace period {} for stops from now on",
            humanize(grace)
        ));
    }

    fn spawn(&mut self, kind: Kind) {
        self.mode = Mode::Normal;
        self.spawned += 1;
        let name = format!("{}+{}", kind.name(), self.spawned);
        self.notice = Some(match self.sup.spawn(kind.task(&name, &Params::default())) {
            Ok(id) => format!("spawned #{id} {name}"),
            Err(e) => format!("cannot spawn: {e}"),
        });
    }

    fn click(&mut self, column: u16, row: u16) {
        let Some(areas) = layout::layout(self.size, self.detail_focus) else {
            return;
        };
        let body = layout::table_body(areas.table);
        if body.contains(Position::new(column, row)) {
            let index = self.offset + (row - body.y) as usize;
            if index < self.ids.len() {
                self.select(index);
            }
        }
    }

    /// One more request to quit: see [`Urgency`].
    fn quit(&mut self) {
        self.quit_requests += 1;
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
                self.notice = Some(format!("aborting the {n} task(s) left"));
            }
            Urgency::ExitNow => {}
        }
    }

    /// Hides the rows of ended tasks; their states are final, so their counts can be set aside.
    fn clear_ended(&mut self) {
        let states = self.sup.states();
        let state_of = |id: TaskId| states[id as usize - 1];
        let before = self.ids.len();
        let selected = self.selected_id();
        for &id in self.ids.iter().filter(|&&id| state_of(id).is_ended()) {
            self.hidden_counts[state_of(id) as usize] += 1;
        }
        self.ids.retain(|&id| !state_of(id).is_ended());
        self.notice = Some(format!("cleared {} ended row(s)", before - self.ids.len()));
        self.selected = selected
            .and_then(|id| self.ids.iter().position(|&i| i >= id))
            .unwrap_or(self.ids.len().saturating_sub(1));
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
}
