//! How taskmon writes times, latencies, events and reports for people and for programs; shared by
//! the dashboard and `taskmon run`. Text that came from input is escaped here (see [`crate::text`]).

use std::time::Duration;

use chrono::{DateTime, Local};
use serde_json::Value;

use crate::TaskId;
use crate::supervisor::{Detail, Event, EventKind, State, TaskReport, TaskSnapshot};
use crate::text::escape;

/// How many rows a report shows on a terminal; `--report FILE` has every row.
pub const SUMMARY_ROWS: usize = 20;

/// `HH:MM:SS.mmm`
pub fn clock(at: &DateTime<Local>) -> String {
    at.format("%H:%M:%S%.3f").to_string()
}

pub use crate::text::humanize;

/// A latency, or `-` when there is none.
pub fn latency(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), humanize)
}

/// Milliseconds rounded to the microsecond, for JSON: `103.092`, never `103.09199999999999`.
pub fn millis(d: Duration) -> f64 {
    let micros = (d.as_nanos() + 500) / 1000;
    micros as f64 / 1000.0
}

/// What an event's line says: borrowed from an event, or from the smaller copy that
/// `taskmon run` queues for its printing thread.
pub struct Logged<'a> {
    /// When it happened, on the wall clock.
    pub at: &'a DateTime<Local>,
    /// The task's id.
    pub id: TaskId,
    /// The task's name, as given (escaped where written).
    pub task: &'a str,
    /// What happened.
    pub kind: EventKind,
    /// What else is known about it.
    pub detail: &'a Detail,
}

impl<'a> From<&'a Event> for Logged<'a> {
    fn from(e: &'a Event) -> Self {
        Logged {
            at: &e.at,
            id: e.id,
            task: &e.task,
            kind: e.kind,
            detail: &e.detail,
        }
    }
}

/// One event as a log line: time, task, event and detail.
pub fn event_line<'a>(e: impl Into<Logged<'a>>) -> String {
    let e = e.into();
    let task = format!("#{} {}", e.id, escape(e.task));
    let mut line = format!("{}  {:<22} {:<16}", clock(e.at), task, e.kind.as_str());
    if let Some(detail) = e.detail.describe() {
        line.push(' ');
        line.push_str(&escape(&detail));
    }
    line.trim_end().to_string()
}

/// An event received as JSON (from `taskmon ctl watch`) as the log line `taskmon run` prints;
/// escaped, since it came over a connection.
pub fn json_event_line(e: &Value) -> String {
    let at = e["at"].as_str().unwrap_or_default();
    let time: String = at
        .split('T')
        .nth(1)
        .unwrap_or(at)
        .chars()
        .take(12)
        .collect();
    let task = format!(
        "#{} {}",
        e["id"].as_u64().unwrap_or(0),
        e["task"].as_str().unwrap_or_default()
    );
    let mut line = format!(
        "{}  {:<22} {:<16}",
        escape(&time),
        escape(&task),
        escape(e["event"].as_str().unwrap_or_default())
    );
    if let Some(detail) = e["detail"].as_str() {
        line.push(' ');
        line.push_str(&escape(detail));
    }
    line.trim_end().to_string()
}

/// One event as the SPEC's JSON line.
pub fn event_json<'a>(e: impl Into<Logged<'a>>) -> EventJson<'a> {
    let e = e.into();
    EventJson {
        kind: "event",
        at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        id: e.id,
        task: e.task,
        event: e.kind.as_str(),
        detail: e.detail.describe(),
    }
}

/// The SPEC's `event` JSON line, serialized straight from the event: `taskmon run --json`
/// writes millions of them, and a `serde_json::Value` made for each would cost a map and its
/// keys every time.
#[derive(serde::Serialize)]
pub struct EventJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    at: String,
    id: crate::TaskId,
    task: &'a str,
    event: &'static str,
    detail: Option<String>,
}

impl std::fmt::Display for EventJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// The SPEC's `report` JSON line for one task, as a value (for tables and the wire).
pub fn report_json(r: &TaskReport) -> Value {
    serde_json::to_value(report_line(r)).unwrap_or(Value::Null)
}

/// The SPEC's `report` JSON line for one task, serialized straight from the report: `taskmon
/// run` writes a line a task at its end, and a `serde_json::Value` map made for each (a map
/// of 28 keys, each hashed and copied) took most of its printing thread's time.
pub fn report_line(r: &TaskReport) -> ReportJson<'_> {
    let s = &r.snapshot;
    let journal = s.ledger.journal;
    ReportJson {
        kind: "report",
        id: s.id,
        task: &s.name,
        task_kind: &s.kind,
        state: s.state.as_str(),
        ticks: s.ledger.ticks,
        persisted: journal.map(|j| j.persisted),
        lost: journal.map(|j| j.lost),
        pending: journal.map(|j| j.pending),
        cleanup: s.cleanup.as_str(),
        stop_latency_ms: s.stop_latency().map(millis),
        journal_verified: r.journal_verified,
        journal_error: s.journal_error.as_deref(),
        journal_problem: r.journal_problem.as_deref(),
        orphan: s.orphan,
        restarts: s.restarts,
        note: s.note.as_deref(),
        detached: s.detached,
        panic: s.panic_message.as_deref(),
        error: s.error.as_deref(),
        polls: s.polls.polls,
        busy_ms: millis(s.polls.busy),
        max_poll_ms: millis(s.polls.max_poll),
        slow_polls: s.polls.slow_polls,
        location: s.location.as_ref().map(|l| l.to_string()),
        warnings: s.warnings().iter().map(|w| w.as_str()).collect(),
        counters: Counters(&s.counters),
    }
}

/// The `report` lines of `reports`, a line each, serialized straight into `out`: for the
/// `--report` file and `taskmon run --json`'s output, a million lines at a million tasks.
pub fn write_report_lines(
    out: &mut impl std::io::Write,
    reports: &[TaskReport],
) -> std::io::Result<()> {
    for r in reports {
        serde_json::to_writer(&mut *out, &report_line(r))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The fields of a `report` line, in the SPEC's order.
#[derive(serde::Serialize)]
pub struct ReportJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: crate::TaskId,
    task: &'a str,
    #[serde(rename = "kind")]
    task_kind: &'a str,
    state: &'static str,
    ticks: u64,
    persisted: Option<u64>,
    lost: Option<u64>,
    pending: Option<u64>,
    cleanup: &'static str,
    stop_latency_ms: Option<f64>,
    journal_verified: Option<bool>,
    journal_error: Option<&'a str>,
    journal_problem: Option<&'a str>,
    orphan: bool,
    restarts: u32,
    note: Option<&'a str>,
    detached: bool,
    panic: Option<&'a str>,
    error: Option<&'a str>,
    polls: u64,
    busy_ms: f64,
    max_poll_ms: f64,
    slow_polls: u64,
    location: Option<String>,
    warnings: Vec<&'static str>,
    counters: Counters<'a>,
}

/// A task's own counters as a JSON object, name to count.
struct Counters<'a>(&'a [(std::sync::Arc<str>, u64)]);

impl serde::Serialize for Counters<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (&**name, value)))
    }
}

impl std::fmt::Display for ReportJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// A replay's speed: `1x`, `4x`, `0.25x`.
pub fn speed(recorded_seconds_per_second: f64) -> String {
    format!("{recorded_seconds_per_second}x")
}

/// `812 B`, `4.2 KiB`, `31.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1.2s`, `340ms`: a duration that grows while it is watched, to a tenth of a second.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// How much a report row deserves to be among the few shown: lower is more notable.
fn notability(r: &TaskReport) -> u8 {
    let s = &r.snapshot;
    if r.journal_failed() {
        0
    } else if s.state == State::Abandoned {
        1
    } else if s.state == State::Escalated {
        2
    } else if matches!(s.state, State::Panicked | State::Errored) {
        3
    } else if s.ledger.counts().lost > 0 {
        4
    } else {
        5
    }
}

/// The final report of `taskmon run` and of the dashboard's exit summary: every row when there
/// are at most `max_rows`, else the most notable ones (journal failures, abandoned, escalated,
/// panicked, lost records) and a line saying how many are left out; then totals per state.
/// Fitted to `width` columns when given (see [`stdout_width`]).
pub fn report_summary(reports: &[TaskReport], max_rows: usize, width: Option<usize>) -> String {
    let mut digest = ReportDigest::new(max_rows);
    digest.add(reports);
    digest.summary(width)
}

/// What the final report says of a run, taken in a chunk of tasks at a time: `taskmon run` of a
/// million tasks reports them a chunk at a time rather than holding every row at once.
#[derive(Clone, Debug)]
pub struct ReportDigest {
    max_rows: usize,
    /// The most notable rows so far, at most `max_rows`, by notability then id.
    shown: Vec<TaskReport>,
    tasks: usize,
    by_state: [usize; State::COUNT],
    lost: u64,
    /// Tasks whose journal failed: how many, and the first few.
    failed: usize,
    first_failed: Vec<String>,
    /// Detached tasks dropped with the runtime, and the records they lost.
    dropped: usize,
    dropped_lost: u64,
}

/// How many of the tasks whose journal failed are named.
const FAILED_NAMED: usize = 5;

impl ReportDigest {
    /// A digest that will show at most `max_rows` rows.
    pub fn new(max_rows: usize) -> Self {
        Self {
            max_rows,
            shown: Vec::new(),
            tasks: 0,
            by_state: [0; State::COUNT],
            lost: 0,
            failed: 0,
            first_failed: Vec::new(),
            dropped: 0,
            dropped_lost: 0,
        }
    }

    /// Takes in the next tasks' reports (in id order).
    pub fn add(&mut self, reports: &[TaskReport]) {
        for r in reports {
            let s = &r.snapshot;
            self.tasks += 1;
            self.by_state[s.state as usize] += 1;
            let lost = s.ledger.counts().lost;
            self.lost += lost;
            if r.journal_failed() {
                self.failed += 1;
                if self.first_failed.len() < FAILED_NAMED {
                    self.first_failed
                        .push(format!("#{} {}", s.id, escape(&s.name)));
                }
            }
            if s.state == State::Dropped {
                self.dropped += 1;
                self.dropped_lost += lost;
            }
        }
        // Only the chunk's most notable rows are copied.
        let mut best: Vec<&TaskReport> = reports.iter().collect();
        if best.len() > self.max_rows {
            best.sort_by_key(|r| (notability(r), r.snapshot.id));
            best.truncate(self.max_rows);
        }
        self.shown.extend(best.into_iter().cloned());
        if self.shown.len() > self.max_rows {
            self.shown.sort_by_key(|r| (notability(r), r.snapshot.id));
            self.shown.truncate(self.max_rows);
        }
    }

    /// Tasks taken in.
    pub fn tasks(&self) -> usize {
        self.tasks
    }

    /// The line saying which journals failed, if any did: their records are not all on disk.
    pub fn journal_failures(&self) -> Option<String> {
        (self.failed > 0).then(|| {
            format!(
                "{} journal(s) failed ({}{}); their records are not all on disk",
                self.failed,
                self.first_failed.join(", "),
                if self.failed > self.first_failed.len() {
                    ", …"
                } else {
                    ""
                }
            )
        })
    }

    /// The summary [`report_summary`] prints.
    pub fn summary(&self, width: Option<usize>) -> String {
        let mut shown: Vec<&TaskReport> = self.shown.iter().collect();
        // Shown in id order when every row is; by notability when some are left out.
        if self.tasks <= self.max_rows {
            shown.sort_by_key(|r| r.snapshot.id);
        }
        let mut out = report_table(&shown, width);
        if self.tasks > shown.len() {
            out.push_str(&format!(
                "… {} more tasks not shown; `--report FILE` writes every row as JSON lines\n",
                self.tasks - shown.len()
            ));
        }
        if self.tasks > 1 {
            out.push_str(&self.totals());
        }
        if self.dropped > 0 {
            out.push_str(&format!(
                "{} detached task(s) never joined: dropped with the runtime at exit, cleanup never ran, {} records lost\n",
                self.dropped, self.dropped_lost
            ));
        }
        out
    }

    /// `totals: 4990 stopped · 3 escalated · 2 panicked · 15 records lost`
    fn totals(&self) -> String {
        let mut parts: Vec<String> = State::all()
            .map(|state| (self.by_state[state as usize], state))
            .filter(|&(n, _)| n > 0)
            .map(|(n, state)| format!("{n} {state}"))
            .collect();
        if self.lost > 0 {
            parts.push(format!("{} records lost", self.lost));
        }
        if self.failed > 0 {
            parts.push(format!("{} journal failures", self.failed));
        }
        format!("totals: {} tasks: {}\n", self.tasks, parts.join(" · "))
    }
}

/// One row of the report table, from a report here or one received as JSON.
struct ReportRow {
    id: String,
    task: String,
    kind: String,
    state: String,
    restarts: u64,
    orphan: bool,
    ticks: String,
    latency: String,
    cleanup: String,
    persisted: String,
    lost: String,
    journal: &'static str,
    /// Lines under the row: the task's note, its panic, what went wrong with its journal.
    notes: Vec<String>,
}

/// The width of the terminal stdout is, if it is one: a table printed there fits it.
#[cfg(feature = "tui")]
pub fn stdout_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(columns, _)| usize::from(columns))
        .filter(|&columns| columns > 0)
}

/// The rows given, as a table whose columns are as wide as their content.
fn report_table(reports: &[&TaskReport], width: Option<usize>) -> String {
    let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    rows_table(reports.iter().map(|r| {
        let s = &r.snapshot;
        let counts = s.ledger.journal;
        let notes = [
            s.note.as_deref().map(|n| escape(n).into_owned()),
            s.panic_message
                .as_deref()
                .map(|m| format!("panic: {}", escape(m))),
            s.error.as_deref().map(|m| format!("error: {}", escape(m))),
            s.journal_error
                .as_deref()
                .map(|e| format!("journal error: {}", escape(e))),
            r.journal_problem
                .as_ref()
                .map(|p| format!("journal check: {p}")),
        ];
        ReportRow {
            id: s.id.to_string(),
            task: escape(&s.name).into_owned(),
            kind: escape(&s.kind).into_owned(),
            state: s.state.to_string(),
            restarts: u64::from(s.restarts),
            orphan: s.orphan,
            ticks: s.ledger.ticks.to_string(),
            latency: latency(s.stop_latency()),
            cleanup: s.cleanup.to_string(),
            persisted: count(counts.map(|c| c.persisted)),
            lost: count(counts.map(|c| c.lost)),
            journal: match (r.journal_verified, &s.journal_error) {
                (_, Some(_)) => "ERROR",
                (Some(true), None) => "verified",
                (Some(false), None) => "MISMATCH",
                (None, None) => "off",
            },
            notes: notes.into_iter().flatten().collect(),
        }
    }))
    .render(width)
}

/// Report rows received as JSON (from `taskmon ctl`), as the same table `taskmon run` prints.
/// Everything in them came over a connection and is escaped. Fitted to `width` when given.
pub fn json_rows_table(rows: &[Value], width: Option<usize>) -> String {
    let mut pages = JsonRowsPages::new(width);
    pages.page(rows, rows.len())
}

/// A table of rows (as `ctl list` and `run --json` print them) printed a page at a time, as
/// the pages come: the columns are laid out on the first page, wide enough for the ids of all
/// `total` tasks, and kept, so that a million tasks start printing at once.
pub struct JsonRowsPages {
    width: Option<usize>,
    layout: Option<Layout>,
}

impl JsonRowsPages {
    /// Pages fitted to `width` columns (a terminal's), or not fitted.
    pub fn new(width: Option<usize>) -> Self {
        Self {
            width,
            layout: None,
        }
    }

    /// The lines of `rows`, after the column titles on the first page.
    pub fn page(&mut self, rows: &[Value], total: usize) -> String {
        let table = rows_table(rows.iter().map(json_report_row));
        let first = self.layout.is_none();
        let layout = self.layout.get_or_insert_with(|| {
            let mut layout = table.layout(self.width);
            // The widest id to come is `total`'s; names numbered as copies (`worker-7`) grow
            // by as many digits.
            let more_digits = total.to_string().len().saturating_sub(layout.widths[0]);
            layout.widths[0] += more_digits;
            if self.width.is_none() {
                layout.widths[1] += more_digits;
            }
            table.give_room_to_names(&mut layout, self.width);
            layout
        });
        table.render_with(layout, self.width, first)
    }
}

fn json_report_row(r: &Value) -> ReportRow {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => escape(s).into_owned(),
        other => escape(&other.to_string()).into_owned(),
    };
    let notes = [
        r["note"].as_str().map(|n| escape(n).into_owned()),
        r["panic"].as_str().map(|m| format!("panic: {}", escape(m))),
        r["error"].as_str().map(|m| format!("error: {}", escape(m))),
        r["journal_error"]
            .as_str()
            .map(|e| format!("journal error: {}", escape(e))),
        r["journal_problem"]
            .as_str()
            .map(|p| format!("journal check: {}", escape(p))),
    ];
    ReportRow {
        id: text(&r["id"]),
        task: text(&r["task"]),
        kind: text(&r["kind"]),
        state: text(&r["state"]),
        restarts: r["restarts"].as_u64().unwrap_or(0),
        orphan: r["orphan"] == true,
        ticks: text(&r["ticks"]),
        latency: r["stop_latency_ms"]
            .as_f64()
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .map_or("-".to_string(), humanize),
        cleanup: text(&r["cleanup"]),
        persisted: text(&r["persisted"]),
        lost: text(&r["lost"]),
        journal: match (&r["journal_verified"], &r["journal_error"]) {
            (_, Value::String(_)) => "ERROR",
            (Value::Bool(true), _) => "verified",
            (Value::Bool(false), _) => "MISMATCH",
            // Still running: its journal is read back when it ends.
            _ if !r["persisted"].is_null() => "-",
            _ => "off",
        },
        notes: notes.into_iter().flatten().collect(),
    }
}

fn rows_table(rows: impl Iterator<Item = ReportRow>) -> TextTable {
    // Priorities as in the dashboard's table: on a narrow terminal the kind and the journal
    // figures give way first; the id, the task and its state never.
    let mut table = TextTable::new(&[
        ("id", Align::Right, Fit::Keep),
        ("task", Align::Left, Fit::Cut),
        ("kind", Align::Left, Fit::Drop(52)),
        ("state", Align::Left, Fit::Keep),
        ("ticks", Align::Right, Fit::Drop(80)),
        ("stop latency", Align::Right, Fit::Drop(65)),
        ("cleanup", Align::Left, Fit::Drop(60)),
        ("persisted", Align::Right, Fit::Drop(30)),
        ("lost", Align::Right, Fit::Drop(55)),
        ("journal", Align::Left, Fit::Drop(40)),
    ]);
    for row in rows {
        let mut state = row.state;
        match row.restarts {
            0 => {}
            1 => state.push_str(" (1 restart)"),
            n => state.push_str(&format!(" ({n} restarts)")),
        }
        if row.orphan {
            state.push_str(" (orphan)");
        }
        table.row(
            vec![
                row.id,
                row.task,
                row.kind,
                state,
                row.ticks,
                row.latency,
                row.cleanup,
                row.persisted,
                row.lost,
                row.journal.to_string(),
            ],
            row.notes,
        );
    }
    table
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// What a column does when the table is too wide for the terminal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Stays whole.
    Keep,
    /// Its long cells are cut in the middle (one such column: the name).
    Cut,
    /// Goes, lowest priority first.
    Drop(u8),
}
/// The length a long task name is cut to before any column is dropped for it.
const NAME_FIT: usize = 24;
/// The narrowest a task name is cut to when the terminal is narrow.
const NAME_MIN: usize = 12;

/// How wide a line of the columns `shown` is, with two spaces between columns.
fn line_width(shown: &[usize], widths: &[usize]) -> usize {
    shown.iter().map(|&i| widths[i]).sum::<usize>() + 2 * shown.len().saturating_sub(1)
}

/// Where a [`TextTable`]'s columns go: their widths, and which of them show.
struct Layout {
    widths: Vec<usize>,
    shown: Vec<usize>,
}

/// A plain-text table: columns as wide as their widest cell, so no row shifts another's columns;
/// on a terminal too narrow for them all, the columns of lowest priority give way.
struct TextTable {
    columns: Vec<(&'static str, Align, Fit)>,
    rows: Vec<(Vec<String>, Vec<String>)>,
}

impl TextTable {
    fn new(columns: &[(&'static str, Align, Fit)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// A row of cells, and notes printed under it.
    fn row(&mut self, cells: Vec<String>, notes: Vec<String>) {
        self.rows.push((cells, notes));
    }

    /// The table, fitted to `width` columns when one is given (a terminal's): dropping columns by
    /// priority, then cutting long names and notes, so that no row wraps.
    fn render(&self, width: Option<usize>) -> String {
        self.render_with(&self.layout(width), width, true)
    }

    /// Which columns show and how wide: each as wide as its widest cell, fitted to `width`.
    fn layout(&self, width: Option<usize>) -> Layout {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (title, ..))| {
                self.rows
                    .iter()
                    .map(|(cells, _)| cells[i].chars().count())
                    .chain([title.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut shown: Vec<usize> = (0..self.columns.len()).collect();
        if let Some(width) = width {
            // A long name gives way before any column does, down to a useful length; the room
            // left once columns have given way goes back to it.
            let name = self.columns.iter().position(|c| c.2 == Fit::Cut);
            let full_name = name.map_or(0, |i| widths[i]);
            if let Some(i) = name
                && line_width(&shown, &widths) > width
            {
                widths[i] = full_name.min(NAME_FIT);
            }
            while line_width(&shown, &widths) > width {
                let Some(lowest) = shown
                    .iter()
                    .enumerate()
                    .filter_map(|(at, &i)| match self.columns[i].2 {
                        Fit::Drop(priority) => Some((at, priority)),
                        Fit::Keep | Fit::Cut => None,
                    })
                    .min_by_key(|&(_, priority)| priority)
                    .map(|(at, _)| at)
                else {
                    break;
                };
                shown.remove(lowest);
            }
            if let Some(i) = name {
                let used = line_width(&shown, &widths);
                let name = &mut widths[i];
                if used > width {
                    *name = name.saturating_sub(used - width).max(NAME_MIN.min(*name));
                } else {
                    *name = full_name.min(*name + (width - used));
                }
            }
        }
        Layout { widths, shown }
    }

    /// Gives the name column whatever room `width` leaves, for names longer than those laid
    /// out (on the pages to come).
    fn give_room_to_names(&self, layout: &mut Layout, width: Option<usize>) {
        let (Some(width), Some(name)) = (width, self.columns.iter().position(|c| c.2 == Fit::Cut))
        else {
            return;
        };
        let used = line_width(&layout.shown, &layout.widths);
        layout.widths[name] += width.saturating_sub(used);
    }

    /// The rows laid out by `layout`, after the titles when `titles` is set. Only the name is
    /// cut to fit; a figure wider than its column (on a page after the one laid out) is
    /// printed whole.
    fn render_with(&self, layout: &Layout, width: Option<usize>, titles: bool) -> String {
        let Layout { widths, shown } = layout;
        // Not fitted to a terminal, no name is cut (a longer one on a later page than the one
        // laid out then pushes the rest of its line along).
        let fitted = width.is_some();
        let line = |cells: &[&str]| {
            let mut out = String::new();
            for (n, &i) in shown.iter().enumerate() {
                let width = widths[i];
                let cut;
                let mut cell = cells[i];
                if cell.chars().count() > width && self.columns[i].2 == Fit::Cut && fitted {
                    cut = shorten_middle(cell, width);
                    cell = &cut;
                }
                let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
                let sep = if n == 0 { "" } else { "  " };
                match self.columns[i].1 {
                    Align::Left => out.push_str(&format!("{sep}{cell}{pad}")),
                    Align::Right => out.push_str(&format!("{sep}{pad}{cell}")),
                }
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let mut out = String::new();
        if titles {
            let titles: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
            out.push_str(&line(&titles));
        }
        let indent = " ".repeat(widths[0] + 2);
        for (cells, notes) in &self.rows {
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            out.push_str(&line(&cells));
            for note in notes {
                let note = match width {
                    Some(width) => truncate(note, width.saturating_sub(indent.len()).max(1)),
                    None => note.clone(),
                };
                out.push_str(&format!("{indent}{note}\n"));
            }
        }
        out
    }
}

/// The state as the table shows it, with what is special about it right now: the countdown to
/// escalation, cleanup progress, a pending or ignored abort, an orphan, a detached task.
pub fn state_text(r: &TaskSnapshot, now: Duration) -> String {
    let mut text = r.state.as_str().to_string();
    if let (Some(progress), State::CleaningUp) = (r.cleanup_progress, r.state) {
        text.push_str(&format!(" {:.0}%", progress * 100.0));
    }
    if let (Some(at), State::Stopping | State::CleaningUp) = (r.escalation_at, r.state) {
        text.push_str(&format!(" ⏱{:.1}s", at.saturating_sub(now).as_secs_f64()));
    }
    let live = !r.state.is_ended();
    if let (Some(blocking), true) = (&r.polls.blocking, live) {
        text.push_str(&format!(" blocking {}", seconds(blocking.for_)));
    }
    if r.busy && live {
        text.push_str(" busy");
    }
    if r.abort_ignored && live {
        text.push_str(" abort ignored");
    } else if r.timeline.at(EventKind::AbortRequested).is_some() && live {
        // An abort lands at the task's next .await; until then the task runs on.
        text.push_str(" abort pending");
    }
    if r.orphan {
        text.push_str(" orphan");
    }
    if r.detached && live {
        text.push_str(" detached");
    }
    if r.journal_error.is_some() {
        text.push_str(" journal error");
    }
    text
}

/// Cuts `s` to `width` characters in the middle, so that names that differ at either end
/// (`parent+7.child1`, `slow-cleanup+12`) stay distinct: `slow-c…nup+12`.
pub fn shorten_middle(s: &str, width: usize) -> String {
    let count = s.chars().count();
    if count <= width {
        return s.to_string();
    }
    if width <= 1 {
        return "…".repeat(width);
    }
    let tail = (width - 1) / 2 + (width - 1) % 2;
    let head = width - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(count - tail));
    out
}

/// Cuts `s` to `width` characters, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let cut: String = s.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_for_people() {
        let ms = Duration::from_millis;
        assert_eq!(humanize(Duration::from_micros(250)), "250µs");
        assert_eq!(humanize(ms(850)), "850ms");
        assert_eq!(humanize(ms(1250)), "1.25s");
        assert_eq!(humanize(ms(125_000)), "2m 5s");
        assert_eq!(
            humanize(Duration::from_secs(3 * 3600 + 20 * 60 + 9)),
            "3h 20m"
        );
        assert_eq!(humanize(Duration::from_secs(24 * 3600)), "24h");
    }

    #[test]
    fn durations_round_to_the_unit_shown_halves_up() {
        let ns = Duration::from_nanos;
        assert_eq!(humanize(ns(0)), "0µs");
        assert_eq!(humanize(ns(177_499)), "177µs");
        assert_eq!(humanize(ns(177_500)), "178µs");
        assert_eq!(humanize(ns(999_600)), "1000µs");
        assert_eq!(humanize(ns(1_499_999)), "1ms");
        assert_eq!(humanize(ns(1_500_000)), "2ms");
        assert_eq!(humanize(ns(999_999_999)), "1000ms");
        assert_eq!(humanize(ns(1_000_000_000)), "1s");
        assert_eq!(humanize(ns(1_204_999_999)), "1.2s");
        assert_eq!(humanize(ns(1_205_000_000)), "1.21s");
        assert_eq!(humanize(ns(59_996_000_000)), "60s");
        assert_eq!(humanize(Duration::MAX), format!("{}h", u64::MAX / 3600));
    }

    #[test]
    fn names_are_shortened_in_the_middle_so_their_ends_stay() {
        assert_eq!(shorten_middle("slow-cleanup+12", 10), "slow…up+12");
        assert_eq!(shorten_middle("slow-cleanup+1", 10), "slow…nup+1");
        assert_eq!(shorten_middle("parent+7.child1", 9), "pare…ild1");
        assert_eq!(shorten_middle("short", 9), "short");
        assert_eq!(shorten_middle("abc", 1), "…");
        assert_eq!(shorten_middle("abc", 0), "");
        assert_eq!(shorten_middle("ab€cd€ef", 5).chars().count(), 5);
    }

    #[test]
    fn millis_are_rounded_to_the_microsecond() {
        assert_eq!(millis(Duration::from_nanos(103_091_999)), 103.092);
        assert_eq!(millis(Duration::from_nanos(499)), 0.0);
        assert_eq!(millis(Duration::from_micros(1)), 0.001);
        assert_eq!(
            serde_json::to_string(&json!(millis(Duration::from_nanos(103_091_999)))).unwrap(),
            "103.092"
        );
    }

    #[test]
    fn a_text_table_sizes_columns_to_their_content() {
        let mut t = TextTable::new(&[
            ("id", Align::Right, Fit::Keep),
            ("state", Align::Left, Fit::Keep),
            ("n", Align::Right, Fit::Drop(1)),
        ]);
        t.row(vec!["1".into(), "stopped".into(), "5".into()], vec![]);
        t.row(
            vec!["12".into(), "escalated (orphan)".into(), "123".into()],
            vec!["panic: boom".into()],
        );
        assert_eq!(
            t.render(None),
            "id  state                 n\n 1  stopped               5\n12  escalated (orphan)  123\n    panic: boom\n"
        );
        assert_eq!(
            t.render(Some(22)),
            "id  state\n 1  stopped\n12  escalated (orphan)\n    panic: boom\n",
            "the lowest priority gives way"
        );
    }

    fn row(id: u64) -> serde_json::Value {
        json!({ "id": id, "task": format!("w-{id}"), "kind": "select", "state": "running", "ticks": 3 })
    }

    #[test]
    fn pages_print_the_titles_once_and_keep_their_columns_for_ids_to_come() {
        let mut pages = JsonRowsPages::new(None);
        let first = pages.page(&[row(1), row(2)], 1000);
        let later = pages.page(&[row(999), row(1000)], 1000);
        assert_eq!(first.lines().filter(|l| l.contains("task")).count(), 1);
        assert!(
            !later.contains("task"),
            "no titles on a later page: {later}"
        );
        let column_of = |text: &str, cell: &str| {
            text.lines()
                .find(|l| l.contains(cell))
                .map(|l| l.find("select").unwrap())
                .unwrap()
        };
        // Ids and numbered names four digits wide were made room for on the first page.
        assert_eq!(column_of(&first, "w-1 "), column_of(&later, "w-1000"));
        assert!(later.contains("1000  w-1000"), "{later}");
    }
}
