//! Pure rendering: every function here draws from `&App` and changes nothing.

mod detail;
mod log;
mod overlay;
mod table;


use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;
use crate::app::Mode;
use crate::format::humanize;
use crate::text::escape;
use crate::input;
use crate::layout::layout;
use crate::supervisor::State;

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App) {
    let Some(areas) = layout(frame.area(), app.detail_focus, app.header_height()) else {
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
        Mode::Help => overlay::help(
            frame,
            frame.area(),
            app.help_scroll,
            input::bindings(app.home_mode()),
        ),
        Mode::Picker => overlay::picker(frame, frame.area(), app.kinds(), app.picker),
        Mode::Quitting => overlay::quitting(frame, frame.area(), app),
        Mode::Normal | Mode::Filter | Mode::Confirm | Mode::Replay | Mode::GoTo => {}
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
        State::Errored => Style::new().fg(Color::LightRed).add_modifier(Modifier::BOLD),
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

/// The counts per state and the grace period always; the clock and the uptime when they fit.
fn header(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::from(" taskmon ").bold().reversed(), Span::raw(" ")];
    if let Some(target) = app.target() {
        spans.push(Span::raw(format!("{target} ")).cyan());
        if !app.connected() {
            spans.push(Span::from(" disconnected — reconnecting ").bold().white().on_red());
        }
        spans.push(Span::raw(" "));
    }
    if let Some(address) = &app.serving {
        spans.push(Span::raw(format!("serving {} ", escape(address))).cyan());
    }
    if app.paused {
        spans.push(Span::from(" PAUSED ").bold().black().on_yellow());
        spans.push(Span::raw(" "));
    }
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
    let clock = [
        Span::raw(format!("  │ {}", app.clock.format("%H:%M:%S"))),
        Span::raw(format!(" up {}", uptime(app.uptime.as_secs()))).dim(),
    ];
    let clock_width: usize = clock.iter().map(Span::width).sum();
    if Line::from(spans.clone()).width() + clock_width <= area.width as usize {
        spans.extend(clock);
    }
    let [first, second, third] = Layout::vertical([Constraint::Length(1); 3]).areas(Rect {
        height: 3,
        ..area
    });
    frame.render_widget(Paragraph::new(Line::from(spans)), first);
    frame.render_widget(Paragraph::new(second_line(app)), second);
    if let Some(playback) = &app.playback {
        frame.render_widget(Paragraph::new(time_bar(app, playback, third.width)), third);
    }
}

/// A replay's time bar: `▶ 12:03:04.120 / 12:05:00  1x  ━━━━●────  +42s`, the gaps and a
/// torn tail said after it.
fn time_bar(app: &App, playback: &crate::board::Playback, width: u16) -> Line<'static> {
    let clock = |at| app.wall_time(at).format("%H:%M:%S%.3f").to_string();
    let end = clock(playback.end);
    let sign = if playback.playing { "▶" } else { "⏸" };
    let mut spans = vec![
        Span::raw(" "),
        Span::from(format!("{sign} {}", clock(playback.at))).bold(),
        Span::raw(format!(" / {end}  ")),
        Span::from(crate::format::speed(playback.speed)).bold().fg(Color::Cyan),
        Span::raw("  "),
    ];
    let mut after = vec![Span::raw(format!("  +{}", uptime(playback.at.as_secs())))];
    if playback.events_missed > 0 {
        after.push(Span::raw("  "));
        after.push(
            Span::from(format!("⚠ {} events not recorded before this", playback.events_missed))
                .fg(Color::Yellow),
        );
    }
    if playback.note.is_some() {
        after.push(Span::raw("  "));
        after.push(Span::from("⚠ the file ends cut short").fg(Color::Yellow));
    }
    let used = Line::from(spans.clone()).width() + Line::from(after.clone()).width();
    let bar = (width as usize).saturating_sub(used + 1).min(60);
    if bar >= 10 {
        let span = playback.end.saturating_sub(playback.start).as_secs_f64();
        let done = if span > 0.0 {
            playback.at.saturating_sub(playback.start).as_secs_f64() / span
        } else {
            1.0
        };
        let knob = ((done * (bar - 1) as f64).round() as usize).min(bar - 1);
        spans.push(Span::raw("━".repeat(knob)).fg(Color::Cyan));
        spans.push(Span::raw("●").bold());
        spans.push(Span::raw("─".repeat(bar - 1 - knob)).dim());
    }
    spans.extend(after);
    Line::from(spans)
}

/// The status message, else the scenario's description; then the next timeline action.
fn second_line(app: &App) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    if let Some(notice) = app.notice() {
        spans.push(Span::from(notice.to_string()).italic().fg(Color::Yellow));
    } else if let Some(description) = app.script.as_ref().and_then(|s| s.description.clone()) {
        spans.push(Span::from(description).dim());
    } else if let Some(playback) = &app.playback {
        spans.push(
            Span::from(format!(
                "a recording of {}: Space plays, b f step a second, , . an event, g goes to a time",
                playback.program
            ))
            .dim(),
        );
    } else {
        spans.push(
            Span::from("s stops a task gracefully, k aborts it: the detail pane shows the difference")
                .dim(),
        );
    }
    if let Some((left, what)) = app.next_step() {
        spans.push(Span::raw("  │ "));
        spans.push(Span::raw(format!("next in {}: {what}", humanize(left))).cyan());
    }
    Line::from(spans)
}

/// The key hints that fit: when they do not all, the ones nearest the middle of the list give way
/// first, so the first (what to do to a task) and the last (`? help`, `q quit`) stay. In the
/// filter, the text typed comes first; with a question, the question.
fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::raw(" ")];
    match app.mode {
        Mode::Filter => {
            spans.push(Span::from("/").bold().fg(Color::Cyan));
            spans.push(Span::raw(app.filter.text.clone()).reversed());
            spans.push(Span::raw("▏ "));
        }
        Mode::Confirm => {
            spans.push(Span::raw(app.question().unwrap_or_default()).bold().fg(Color::Yellow));
            spans.push(Span::raw("  "));
        }
        Mode::GoTo => {
            spans.push(Span::from("go to ").bold().fg(Color::Cyan));
            spans.push(Span::raw(app.goto.clone()).reversed());
            spans.push(Span::raw("▏ "));
        }
        _ => {}
    }
    let room = (area.width as usize).saturating_sub(Line::from(spans.clone()).width());
    let mut shown: Vec<&input::Binding> = input::bindings(app.mode)
        .iter()
        .filter(|b| !b.hint.is_empty())
        .collect();
    let width = |bindings: &[&input::Binding]| -> usize {
        bindings
            .iter()
            .map(|b| b.label.chars().count() + b.hint.chars().count() + 3)
            .sum::<usize>()
    };
    while width(&shown) > room && shown.len() > 2 {
        // The last two are help and quit; drop what is just before them.
        shown.remove(shown.len() - 3);
    }
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
