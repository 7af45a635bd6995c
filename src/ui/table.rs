//! The task table: the columns that fit the terminal (see [`layout::columns`]), the rows of the
//! view (filtered, sorted, maybe a tree), marks and the sorted column shown.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use super::state_style;
use crate::app::{App, ViewRow};
use crate::format;
use crate::layout::{self, Column};
use crate::supervisor::{State, TaskSnapshot, Warning};

/// One cell of a row.
fn cell(column: Column, width: u16, r: &TaskSnapshot, place: ViewRow, app: &App) -> Span<'static> {
    match column {
        Column::Id => Span::raw(r.id.to_string()),
        Column::Name => Span::raw(name_cell(&r.name, width as usize, place)),
        Column::Kind => Span::raw(format::shorten_middle(&r.kind, width as usize)).dim(),
        Column::State => state_cell(r, app),
        Column::Ticks => Span::raw(r.ledger.ticks.to_string()),
        Column::Restarts if r.restarts > 0 => Span::raw(r.restarts.to_string()),
        Column::Restarts => Span::raw("-").dim(),
        Column::Rate => Span::raw(
            app.rate(r.id)
                .map_or("-".into(), |rate| rate.to_string()),
        ),
        Column::Age => Span::raw(super::uptime(r.age.as_secs())),
        Column::Latency => Span::raw(format::latency(r.stop_latency())),
        Column::Cleanup => Span::raw(r.cleanup.as_str()),
        Column::Persisted => ledger_cell(r.ledger.journal.map(|j| j.persisted)),
        Column::Lost => {
            let lost = r.ledger.journal.map(|j| j.lost);
            let cell = ledger_cell(lost);
            if lost.unwrap_or(0) > 0 {
                cell.red().bold()
            } else {
                cell
            }
        }
        Column::Warnings => match r.warnings().len() {
            0 => Span::raw(""),
            n => {
                let cell = Span::raw(format!("⚠{n}"));
                if r.warns(Warning::Blocking) {
                    cell.red().bold()
                } else {
                    cell.yellow()
                }
            }
        },
        Column::Polls => Span::raw(r.polls.polls.to_string()),
        Column::Busy => Span::raw(
            app.busy(r.id)
                .map_or("-".into(), |busy| format!("{:.0}%", busy * 100.0)),
        ),
        Column::MaxPoll => {
            let cell = Span::raw(format::latency(
                (r.polls.polls > 0).then_some(r.polls.max_poll),
            ));
            if r.polls.slow_polls > 0 {
                cell.yellow()
            } else {
                cell
            }
        }
        Column::Location => Span::raw(format::shorten_middle(
            &crate::text::escape(&r.location.as_ref().map(|l| l.to_string()).unwrap_or_default()),
            width as usize,
        ))
        .dim(),
        Column::Note => Span::raw(format::truncate(
            &crate::text::escape(r.note.as_deref().unwrap_or("")),
            width as usize,
        ))
        .italic(),
    }
}

/// The name, after its place in the tree, shortened in the middle to fit, then `(+N)` when its
/// descendants are folded away.
fn name_cell(name: &str, width: usize, place: ViewRow) -> String {
    let mut prefix = String::new();
    if place.depth > 0 {
        prefix.push_str(&"  ".repeat(usize::from(place.depth) - 1));
        prefix.push_str(if place.last { "└ " } else { "├ " });
    }
    let suffix = if place.folded > 0 {
        format!(" (+{})", place.folded)
    } else {
        String::new()
    };
    let room = width.saturating_sub(prefix.chars().count() + suffix.chars().count());
    format!("{prefix}{}{suffix}", format::shorten_middle(name, room.max(1)))
}

/// A journal count, or a dim `-` for a task without a journal.
fn ledger_cell(value: Option<u64>) -> Span<'static> {
    match value {
        Some(value) => Span::raw(value.to_string()),
        None => Span::raw("-").dim(),
    }
}

/// The state in its colour; a running orphan stands out from a running task.
fn state_cell(r: &TaskSnapshot, app: &App) -> Span<'static> {
    let style = if r.orphan && r.state == State::Running {
        Style::new().fg(Color::LightYellow).italic()
    } else {
        state_style(r.state)
    };
    Span::styled(format::state_text(r, app.uptime), style)
}

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let window = app.window();
    let columns = app.columns_in(area.width);
    let places = &app.view;
    let rows = app.rows.iter().enumerate().map(|(i, r)| {
        let place = places
            .get(i)
            .copied()
            .filter(|p| p.id == r.id)
            .unwrap_or(ViewRow::flat(r.id));
        let marker = if app.marked.contains(&r.id) {
            Span::raw("●").fg(Color::Yellow).bold()
        } else if app.selected == window.start.saturating_add(i) {
            Span::raw("▶")
        } else {
            Span::raw(" ")
        };
        let cells = columns.iter().map(|&(c, width)| {
            let line = Line::from(cell(c, width, r, place, app));
            Cell::from(if c.right() { line.right_aligned() } else { line })
        });
        let row = Row::new(std::iter::once(Cell::from(marker)).chain(cells));
        // Figures of a program out of reach may no longer be true.
        if app.connected() { row } else { row.dim() }
    });
    let header = Row::new(std::iter::once(Cell::from("")).chain(columns.iter().map(|&(c, _)| {
        let mut line = Line::from(c.title()).bold();
        if c == app.sort.column {
            line.push_span(Span::raw(if app.sort.descending { "▼" } else { "▲" }).fg(Color::Cyan));
            line = line.underlined();
        }
        Cell::from(if c.right() { line.right_aligned() } else { line })
    })));
    let widths = std::iter::once(Constraint::Length(layout::MARKER - 1))
        .chain(columns.iter().map(|&(_, w)| Constraint::Length(w)));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title(app, window.clone())))
        .column_spacing(1)
        .row_highlight_style(Style::new().reversed());
    let mut state = TableState::new()
        .with_selected((!app.rows.is_empty()).then(|| app.selected.saturating_sub(window.start)));
    frame.render_stateful_widget(table, area, &mut state);
}

/// ` tasks 1-30 of 5206 `, or with a filter ` showing 3 of 5206 · filter `state:esc` `.
fn title(app: &App, window: std::ops::Range<usize>) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    if app.filter.is_empty() {
        spans.push(Span::raw(format!(
            "tasks {}-{} of {}",
            window.start.saturating_add(usize::from(!window.is_empty())),
            window.end,
            app.total()
        )));
    } else {
        spans.push(
            Span::raw(format!("showing {} of {}", app.shown(), app.total())).bold(),
        );
        spans.push(Span::raw(format!(" · filter `{}`", app.filter.text)).fg(Color::Cyan));
    }
    if app.tree {
        spans.push(Span::raw(" · tree"));
    }
    if !app.marked.is_empty() {
        spans.push(Span::raw(format!(" · {} marked", app.marked.len())).fg(Color::Yellow));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}
