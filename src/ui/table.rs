//! The task table. Its columns are data: a title, a width and how to read the cell.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use super::state_style;
use crate::app::App;
use crate::format;
use crate::supervisor::{EventKind, State, TaskSnapshot};

struct Column {
    title: &'static str,
    width: Constraint,
    right: bool,
    cell: fn(&TaskSnapshot, &App) -> Span<'static>,
}

const COLUMNS: &[Column] = &[
    Column {
        title: "id",
        width: Constraint::Length(4),
        right: true,
        cell: |r, _| Span::raw(r.id.to_string()),
    },
    Column {
        title: "name",
        width: Constraint::Min(14),
        right: false,
        cell: |r, _| Span::raw(r.name.to_string()),
    },
    Column {
        title: "kind",
        width: Constraint::Length(14),
        right: false,
        cell: |r, _| Span::raw(r.kind.to_string()).dim(),
    },
    Column {
        title: "state",
        width: Constraint::Length(21),
        right: false,
        cell: state_cell,
    },
    Column {
        title: "ticks",
        width: Constraint::Length(7),
        right: true,
        cell: |r, _| Span::raw(r.ledger.ticks.to_string()),
    },
    Column {
        title: "rst",
        width: Constraint::Length(3),
        right: true,
        cell: |r, _| {
            if r.restarts > 0 {
                Span::raw(r.restarts.to_string())
            } else {
                Span::raw("-").dim()
            }
        },
    },
    Column {
        title: "rate/s",
        width: Constraint::Length(6),
        right: true,
        cell: |r, app| {
            Span::raw(
                app.rates
                    .get(&r.id)
                    .map_or("-".into(), |rate| rate.per_second.to_string()),
            )
        },
    },
    Column {
        title: "age",
        width: Constraint::Length(6),
        right: true,
        cell: |r, _| Span::raw(super::uptime(r.age.as_secs())),
    },
    Column {
        title: "latency",
        width: Constraint::Length(9),
        right: true,
        cell: |r, _| Span::raw(format::latency(r.stop_latency())),
    },
    Column {
        title: "cleanup",
        width: Constraint::Length(7),
        right: false,
        cell: |r, _| Span::raw(r.cleanup.as_str()),
    },
    Column {
        title: "persisted",
        width: Constraint::Length(9),
        right: true,
        cell: |r, _| ledger_cell(r.ledger.journal.map(|j| j.persisted)),
    },
    Column {
        title: "lost",
        width: Constraint::Length(5),
        right: true,
        cell: |r, _| {
            let lost = r.ledger.journal.map(|j| j.lost);
            let cell = ledger_cell(lost);
            if lost.unwrap_or(0) > 0 {
                cell.red().bold()
            } else {
                cell
            }
        },
    },
];

/// A journal count, or a dim `-` for a task without a journal.
fn ledger_cell(value: Option<u64>) -> Span<'static> {
    match value {
        Some(value) => Span::raw(value.to_string()),
        None => Span::raw("-").dim(),
    }
}

/// The state, with what is special about it right now: the countdown to escalation, cleanup
/// progress, an ignored abort, an orphan.
fn state_cell(r: &TaskSnapshot, app: &App) -> Span<'static> {
    let mut text = r.state.as_str().to_string();
    match r.state {
        State::Stopping | State::CleaningUp if r.escalation_at.is_some() => {
            if let (Some(progress), State::CleaningUp) = (r.cleanup_progress, r.state) {
                text.push_str(&format!(" {:.0}%", progress * 100.0));
            }
            let left = r
                .escalation_at
                .unwrap_or_default()
                .saturating_sub(app.uptime);
            text.push_str(&format!(" ⏱{:.1}s", left.as_secs_f64()));
        }
        State::CleaningUp => {
            if let Some(progress) = r.cleanup_progress {
                text.push_str(&format!(" {:.0}%", progress * 100.0));
            }
        }
        _ => {}
    }
    if r.busy && !r.state.is_ended() {
        text.push_str(" busy");
    }
    if r.abort_ignored && !r.state.is_ended() {
        text.push_str(" abort ignored");
    } else if r.timeline.at(EventKind::AbortRequested).is_some() && !r.state.is_ended() {
        // An abort lands at the task's next .await; until then the task runs on.
        text.push_str(" abort pending");
    }
    if r.orphan {
        text.push_str(" orphan");
    }
    if r.detached && !r.state.is_ended() {
        text.push_str(" detached");
    }
    if r.journal_error.is_some() {
        text.push_str(" journal error");
    }
    Span::styled(text, state_style(r.state))
}

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let window = app.window();
    let rows = app.rows.iter().map(|r| {
        Row::new(COLUMNS.iter().map(|c| {
            let line = Line::from((c.cell)(r, app));
            Cell::from(if c.right { line.right_aligned() } else { line })
        }))
    });
    let header = Row::new(COLUMNS.iter().map(|c| {
        let line = Line::from(c.title).bold();
        Cell::from(if c.right { line.right_aligned() } else { line })
    }));
    let title = format!(
        " tasks {}-{} of {} ",
        window.start + usize::from(!window.is_empty()),
        window.end,
        app.ids.len()
    );
    let table = Table::new(rows, COLUMNS.iter().map(|c| c.width))
        .header(header)
        .block(Block::bordered().title(title))
        .column_spacing(1)
        .row_highlight_style(Style::new().reversed())
        .highlight_symbol("▶ ");
    let mut state = TableState::new()
        .with_selected((!app.rows.is_empty()).then(|| app.selected.saturating_sub(window.start)));
    frame.render_stateful_widget(table, area, &mut state);
}
