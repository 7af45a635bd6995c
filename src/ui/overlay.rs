//! What opens over the dashboard: help, the kind picker, quitting progress, and the notice for a
//! terminal that is too small.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::App;
use crate::format::humanize;
use crate::text::escape;
use crate::help::{self, HelpLine};
use crate::kinds::Kind;
use crate::layout::{MIN_HEIGHT, MIN_WIDTH};

/// A line of the help as it is drawn.
fn styled(line: HelpLine) -> Line<'static> {
    match line {
        HelpLine::Heading(text) => Line::from(text).bold().underlined(),
        HelpLine::Entry { label, text } => Line::from(vec![
            Span::from(label).bold(),
            Span::raw(text),
        ]),
        HelpLine::Blank => Line::from(""),
        HelpLine::Hint(text) => Line::from(text).dim(),
    }
}

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

pub(super) fn help(frame: &mut Frame, area: Rect, scroll: u16, keys: &[crate::input::Binding]) {
    let width = help::width(area.width);
    let lines: Vec<Line> = help::lines(width.saturating_sub(2), keys)
        .into_iter()
        .map(styled)
        .collect();
    let total = lines.len() as u16;
    let popup_area = centered(area, width, total + 2);
    let visible = popup_area.height.saturating_sub(2);
    let scroll = scroll.min(total.saturating_sub(visible));
    let title = if total > visible {
        format!(" help {}-{} of {} ", scroll + 1, scroll + visible, total)
    } else {
        " help ".to_string()
    };
    frame.render_widget(Clear, popup_area);
    let block = Block::bordered().title(title).border_style(Style::new().bold());
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), popup_area);
}

/// The kinds the program offers: taskmon's own with what they do, a program's own by name.
pub(super) fn picker(frame: &mut Frame, area: Rect, kinds: &[String], highlighted: usize) {
    let mut lines: Vec<Line> = kinds
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let does = name.parse::<Kind>().map_or("", Kind::behaviour);
            let line = Line::from(format!(" {}  {:<15}{does}", i + 1, escape(name)));
            if i == highlighted {
                line.reversed()
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" ↑ ↓ choose · Enter spawn · 1–9 spawn at once · Esc close").dim());
    if kinds.is_empty() {
        lines.insert(0, Line::from(" this program offers no kinds to spawn"));
    }
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

