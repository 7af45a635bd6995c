//! Pure rendering: every function here draws from `&App` and changes nothing.

mod detail;
mod log;
mod overlay;
mod table;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::format::humanize;
use crate::input::{self, Mode};
use crate::supervisor::State;

/// The smallest terminal the layout fits in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 20;

/// Where each part of the screen goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub detail: Rect,
    /// Empty while the detail pane has the focus.
    pub log: Rect,
    pub footer: Rect,
}

/// The layout for a terminal of `size`, or `None` when it is too small.
pub fn layout(size: Rect, detail_focus: bool) -> Option<Areas> {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return None;
    }
    let bottom_height = if detail_focus {
        size.height.saturating_sub(10)
    } else {
        (size.height / 3).clamp(10, 14)
    };
    let [header, table, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(bottom_height),
        Constraint::Length(1),
    ])
    .areas(size);
    let (detail, log) = if detail_focus {
        (bottom, Rect::new(bottom.x, bottom.y, 0, 0))
    } else {
        let [detail, log] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(bottom);
        (detail, log)
    };
    Some(Areas {
        header,
        table,
        detail,
        log,
        footer,
    })
}

/// The rows of the table inside its border and below its header line.
pub fn table_body(table: Rect) -> Rect {
    let inner = table.inner(Margin::new(1, 1));
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App) {
    let Some(areas) = layout(frame.area(), app.detail_focus) else {
        overlay::too_small(frame, frame.area());
        return;
    };
    header(frame, areas.header, app);
    table::render(frame, areas.table, app);
    detail::render(frame, areas.detail, app);
    if !app.detail_focus {
        log::render(frame, areas.log, app);
    }
    footer(frame, areas.footer, app);
    match app.mode {
        Mode::Help => overlay::help(frame, frame.area()),
        Mode::Picker => overlay::picker(frame, frame.area(), app.picker),
        Mode::Quitting => overlay::quitting(frame, frame.area(), app),
        Mode::Normal => {}
    }
}

/// The colour of a state, used in the table, the header and the log.
pub fn state_style(state: State) -> Style {
    match state {
        State::Running => Style::new().fg(Color::Green),
        State::Stopping => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        State::CleaningUp => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        State::Stopped => Style::new().fg(Color::Blue),
        State::Aborted => Style::new().fg(Color::Magenta),
        State::Escalated => Style::new().fg(Color::LightRed),
        State::Panicked => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        State::Finished => Style::new().fg(Color::Gray),
        State::Abandoned => Style::new()
            .fg(Color::LightRed)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED),
    }
}

fn header(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![
        Span::from(" taskmon ").bold().reversed(),
        Span::raw(format!(" {} ", app.clock.format("%H:%M:%S"))),
        Span::raw(format!("up {} ", uptime(app.uptime.as_secs()))).dim(),
        Span::raw("│ "),
    ];
    for state in State::ALL {
        let n = app.counts[state as usize];
        if n > 0 || state == State::Running {
            spans.push(Span::styled(
                format!("{} {n}", state.as_str()),
                state_style(state),
            ));
            spans.push(Span::raw("  "));
        }
    }
    spans.push(Span::raw(format!("│ grace {}", humanize(app.grace))));
    if let Some(notice) = &app.notice {
        spans.push(Span::raw("  │ "));
        spans.push(Span::from(notice.as_str()).italic());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::raw(" ")];
    for binding in input::bindings(app.mode)
        .iter()
        .filter(|b| !b.hint.is_empty())
    {
        spans.push(Span::from(binding.label).bold().fg(Color::Cyan));
        spans.push(Span::raw(format!(" {}  ", binding.hint)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `1h 02m`, `3m 05s`, `42s`.
pub fn uptime(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}
