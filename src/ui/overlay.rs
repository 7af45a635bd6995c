//! What opens over the dashboard: help, the kind picker, quitting progress, and the notice for a
//! terminal that is too small.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::App;
use crate::format::humanize;
use crate::input;
use crate::kinds::Kind;
use crate::layout::{MIN_HEIGHT, MIN_WIDTH};

/// The few lines that say what the two keys do differently.
pub const STOP_VS_ABORT: [&str; 5] = [
    "s  graceful stop: cancels the task's token, then awaits the task while it notices and runs its",
    "   cleanup. It takes as long as the task takes to look; after the grace period it is aborted.",
    "k  abort: JoinHandle::abort. Lands at the task's next .await: async cleanup never runs, pending",
    "   records are lost, only synchronous Drop runs, children keep running as orphans.",
    "   select! does the same to the branch that loses, unasked: keep a future across it (pinned).",
];

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

fn popup(frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, width: u16) {
    let height = lines.len() as u16 + 2;
    let area = centered(area, width, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(format!(" {title} "))
        .border_style(Style::new().bold());
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

pub(super) fn help(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = STOP_VS_ABORT.iter().map(|l| Line::from(*l)).collect();
    lines.push(Line::from(""));
    for binding in input::NORMAL {
        lines.push(Line::from(vec![
            Span::from(format!("{:>10}  ", binding.label)).bold(),
            Span::raw(binding.help),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("kinds for 1–9:").bold());
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        lines.push(Line::from(format!(
            "{:>10}  {:<15}{}",
            i + 1,
            kind.name(),
            kind.behaviour()
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("Esc or ? closes this help").dim());
    popup(frame, area, "help", lines, 104);
}

pub(super) fn picker(frame: &mut Frame, area: Rect, highlighted: usize) {
    let mut lines: Vec<Line> = Kind::ALL
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let line = Line::from(format!(
                " {}  {:<15}{}",
                i + 1,
                kind.name(),
                kind.behaviour()
            ));
            if i == highlighted {
                line.reversed()
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" ↑ ↓ choose · Enter spawn · 1–9 spawn at once · Esc close").dim());
    popup(frame, area, "spawn a task", lines, 96);
}

pub(super) fn quitting(frame: &mut Frame, area: Rect, app: &App) {
    let Some(quitting) = app.quitting else { return };
    let live = app.live();
    let joined = quitting.live_at_start.saturating_sub(live);
    let deadline = quitting
        .escalation_at
        .filter(|at| *at > app.uptime)
        .map(|at| humanize(at - app.uptime));
    let lines = if live == 0 {
        vec![
            Line::from(format!(
                "Every task has ended ({} of {}).",
                quitting.live_at_start, quitting.live_at_start
            )),
            Line::from("Reading the journals back to check them…"),
        ]
    } else {
        vec![
            Line::from(format!(
                "Stopping every task gracefully: {joined} of {} joined, {live} left.",
                quitting.live_at_start
            )),
            Line::from(match deadline {
                Some(left) => format!("What is still running is aborted in {left}."),
                None => "Aborted; waiting up to a second for the last joins.".to_string(),
            }),
            Line::from("q again: abort what is left now; a third time: exit at once").dim(),
        ]
    };
    popup(frame, area, "quitting", lines, 70);
}

pub(super) fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "Terminal too small: taskmon needs {MIN_WIDTH}x{MIN_HEIGHT}, this one is {}x{}. Resize it, or press q to quit.",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
