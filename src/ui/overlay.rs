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
use crate::input;
use crate::kinds::Kind;
use crate::layout::{Column, MIN_HEIGHT, MIN_WIDTH};

/// What the two keys do differently.
const STOP_VS_ABORT: [(&str, &str); 3] = [
    (
        "s",
        "graceful stop: cancels the task's token, then awaits the task while it notices and runs its cleanup. It takes as long as the task takes to look; after the grace period it is aborted.",
    ),
    (
        "k",
        "abort: JoinHandle::abort. Lands at the task's next .await: async cleanup never runs, pending records are lost, only synchronous Drop runs, children keep running as orphans.",
    ),
    (
        "select!",
        "does the same to the branch that loses, unasked: keep a future across it (pinned).",
    ),
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

/// The help overlay's width on a terminal `width` wide, border included.
fn help_width(width: u16) -> u16 {
    width.min(104)
}

/// What the symbols in the table mean.
const SYMBOLS: &[(&str, &str)] = &[
    ("⏱1.5s", "a graceful stop is under way: the task is aborted when this runs out"),
    ("40%", "how far its cleanup has got, as the task reports it"),
    ("blocking 1.2s", "inside one poll past the slow-poll threshold: its worker runs nothing else (live)"),
    ("busy", "its code runs without reaching an .await: neither a stop nor an abort gets in"),
    ("abort pending", "an abort was asked for and lands at the task's next .await"),
    ("abort ignored", "an abort cannot stop it: blocking code runs until it returns"),
    ("orphan", "its parent ended while it runs on (yellow); it stays under its parent in the tree"),
    ("detached", "spawned with a plain tokio::spawn: nobody joins it, stop-all passes it by"),
    ("journal error", "its journal file could not be written: later records count as lost"),
    ("name+N", "the Nth task spawned from the dashboard; name-3 is copy 3 of a scenario's count"),
    ("├ └ (+N)", "tree view (t): children under their parent; (+N) tasks folded away (←)"),
    ("●", "marked (Space): s, k and r act on the marked tasks"),
    ("▲ ▼", "the column sorted by, and which way (< > I, or click a title)"),
];

/// Every line of the help, wrapped to `width` columns (inside the border).
fn help_lines(width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let entry = |lines: &mut Vec<Line<'static>>, label: &str, text: &str| {
        let indent = 14;
        let mut first = true;
        for part in wrap(text, width.saturating_sub(indent).max(10)) {
            let head = if first {
                Span::from(format!("{:>12}  ", crate::format::truncate(label, 12))).bold()
            } else {
                Span::raw(" ".repeat(indent))
            };
            first = false;
            lines.push(Line::from(vec![head, Span::raw(part)]));
        }
    };
    lines.push(Line::from("stop or abort").bold().underlined());
    for (key, text) in STOP_VS_ABORT {
        entry(&mut lines, key, text);
    }
    lines.push(Line::from(""));
    lines.push(Line::from("keys").bold().underlined());
    for binding in input::NORMAL {
        entry(&mut lines, binding.label, binding.help);
    }
    lines.push(Line::from(""));
    lines.push(Line::from("columns (narrow terminals drop age, rate/s and persisted first)").bold().underlined());
    for column in Column::all() {
        entry(&mut lines, column.title(), column.legend());
    }
    lines.push(Line::from(""));
    lines.push(Line::from("symbols").bold().underlined());
    for (symbol, meaning) in SYMBOLS {
        entry(&mut lines, symbol, meaning);
    }
    lines.push(Line::from(""));
    lines.push(
        Line::from("warnings (⚠ column; find them with warn: or warn:blocked)")
            .bold()
            .underlined(),
    );
    for warning in crate::supervisor::Warning::all() {
        entry(&mut lines, warning.as_str(), warning.explain());
    }
    lines.push(Line::from(""));
    lines.push(Line::from("kinds (1–9 spawn the first nine)").bold().underlined());
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        entry(&mut lines, &format!("{} {}", i + 1, kind.name()), kind.behaviour());
    }
    lines.push(Line::from(""));
    lines.push(Line::from("↑ ↓ PgUp PgDn scroll · Esc or ? closes this help").dim());
    lines
}

/// Greedy word wrap to `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split(' ') {
        let last = out.last_mut().expect("never empty");
        let len = last.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push(word.to_string());
        } else {
            if len > 0 {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    out
}

/// How far the help can scroll on a terminal of `size`: its lines less the rows it shows.
pub fn help_scroll_max(size: Rect) -> u16 {
    let width = help_width(size.width).saturating_sub(2);
    let lines = help_lines(width).len() as u16;
    lines.saturating_sub(size.height.saturating_sub(2))
}

pub(super) fn help(frame: &mut Frame, area: Rect, scroll: u16) {
    let width = help_width(area.width);
    let lines = help_lines(width.saturating_sub(2));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The help's text with its wrapping undone.
    fn unwrapped(width: u16) -> String {
        let text: Vec<String> = help_lines(width)
            .iter()
            .map(|l| l.to_string().trim().to_string())
            .collect();
        text.join(" ")
    }

    #[test]
    fn the_help_explains_every_key_column_and_symbol_at_any_width() {
        for width in [78, 102] {
            let text = unwrapped(width);
            for b in input::NORMAL {
                assert!(text.contains(b.help), "{width}: key {}", b.label);
            }
            for c in Column::all() {
                assert!(text.contains(c.legend()), "{width}: column {}", c.title());
            }
            for (symbol, meaning) in SYMBOLS {
                assert!(text.contains(meaning), "{width}: symbol {symbol}");
            }
            for line in help_lines(width) {
                assert!(line.width() <= width as usize, "{width}: {line}");
            }
        }
    }
}
