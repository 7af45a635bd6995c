//! Pure rendering: every function here draws from `&App` and changes nothing.

mod detail;
mod log;
mod overlay;
mod table;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::app::Mode;
use crate::format::humanize;
use crate::input;
use crate::layout::layout;
use crate::supervisor::State;

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
        State::Restarting => Style::new()
            .fg(Color::LightMagenta)
            .add_modifier(Modifier::BOLD),
        State::Failed | State::Dropped => {
            Style::new().fg(Color::Red).add_modifier(Modifier::REVERSED)
        }
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
    for state in State::all() {
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

/// The key hints that fit: when they do not all, the ones nearest the middle of the list give way
/// first, so the first (what to do to a task) and the last (`? help`, `q quit`) stay.
fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let mut shown: Vec<&input::Binding> = input::bindings(app.mode)
        .iter()
        .filter(|b| !b.hint.is_empty())
        .collect();
    let width = |bindings: &[&input::Binding]| -> usize {
        1 + bindings
            .iter()
            .map(|b| b.label.chars().count() + b.hint.chars().count() + 3)
            .sum::<usize>()
    };
    while width(&shown) > area.width as usize && shown.len() > 2 {
        // The last two are help and quit; drop what is just before them.
        shown.remove(shown.len() - 3);
    }
    let mut spans = vec![Span::raw(" ")];
    for binding in shown {
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
