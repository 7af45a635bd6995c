//! The event log: lifecycle events, newest last.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::App;
use crate::format;
use crate::supervisor::{Event, EventKind};
use crate::text::escape;

fn event_style(kind: EventKind) -> Style {
    match kind {
        EventKind::Spawned => Style::new().fg(Color::Green),
        EventKind::StopRequested | EventKind::StopNoticed => Style::new().fg(Color::Yellow),
        EventKind::CleanupStarted | EventKind::CleanupFinished => Style::new().fg(Color::Cyan),
        EventKind::AbortRequested => Style::new().fg(Color::Magenta),
        EventKind::Escalated | EventKind::Orphaned | EventKind::Blocking | EventKind::LongPoll => {
            Style::new().fg(Color::LightRed)
        }
        EventKind::Restarting | EventKind::Restarted => Style::new().fg(Color::LightMagenta),
        EventKind::Panicked
        | EventKind::Errored
        | EventKind::Abandoned
        | EventKind::JournalError
        | EventKind::Failed
        | EventKind::Dropped => Style::new().fg(Color::Red).bold(),
        EventKind::Joined => Style::new().fg(Color::Blue),
    }
}

fn line(e: &Event) -> Line<'static> {
    let mut spans = vec![
        Span::raw(format!("{} ", format::clock(&e.at))).dim(),
        Span::raw(format!("#{} {} ", e.id, escape(&e.task))),
        Span::styled(e.kind.as_str(), event_style(e.kind)),
    ];
    if let Some(detail) = e.detail.describe() {
        spans.push(Span::raw(format!(" {}", escape(&detail))).dim());
    }
    Line::from(spans)
}

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let events = app.log_events();
    let mut title = String::from(" events ");
    if !app.filter.is_empty() {
        title.push_str("of the tasks shown ");
    }
    if app.log_scroll > 0 {
        title.push_str(&format!("· {} newer below ", app.log_scroll));
    }
    let mut block = Block::bordered().title(title);
    if app.log_focus {
        block = block
            .border_style(Style::new().fg(Color::Cyan).bold())
            .title_bottom(" ↑ ↓ PgUp PgDn scroll · Tab back ");
    }
    // The events come as the window the source was asked for: scrolled, as high as the pane.
    let height = block.inner(area).height as usize;
    let start = events.len().saturating_sub(height);
    let lines: Vec<_> = events[start..].iter().map(line).collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
