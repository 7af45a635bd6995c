//! The help's text, worked out below both the app (how far it scrolls) and the drawing (how it
//! looks): plain lines, wrapped to a width.

use ratatui::layout::Rect;

use crate::input;
use crate::kinds::Kind;
use crate::layout::Column;
use crate::supervisor::Warning;

/// One line of the help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpLine {
    Heading(String),
    /// A key, column, symbol or kind (`label`, right-aligned, or blank on a continued line)
    /// and a line of what it means.
    Entry { label: String, text: String },
    Blank,
    Hint(String),
}

#[cfg(test)]
impl HelpLine {
    /// The line's text as shown.
    pub fn text(&self) -> String {
        match self {
            HelpLine::Heading(text) | HelpLine::Hint(text) => text.clone(),
            HelpLine::Entry { label, text } => format!("{label}{text}"),
            HelpLine::Blank => String::new(),
        }
    }
}

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

/// The help overlay's width on a terminal `width` wide, border included.
pub fn width(width: u16) -> u16 {
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
pub fn lines(width: u16, keys: &[input::Binding]) -> Vec<HelpLine> {
    let width = width as usize;
    let mut lines: Vec<HelpLine> = Vec::new();
    let entry = |lines: &mut Vec<HelpLine>, label: &str, text: &str| {
        let indent = 14;
        let mut first = true;
        for part in wrap(text, width.saturating_sub(indent).max(10)) {
            let label = if first {
                format!("{:>12}  ", crate::format::truncate(label, 12))
            } else {
                " ".repeat(indent)
            };
            first = false;
            lines.push(HelpLine::Entry { label, text: part });
        }
    };
    lines.push(HelpLine::Heading("stop or abort".into()));
    for (key, text) in STOP_VS_ABORT {
        entry(&mut lines, key, text);
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Heading("keys".into()));
    for binding in keys {
        entry(&mut lines, binding.label, binding.help);
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Heading("columns (narrow terminals drop age, rate/s and persisted first)".into()));
    for column in Column::all() {
        entry(&mut lines, column.title(), column.legend());
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Heading("symbols".into()));
    for (symbol, meaning) in SYMBOLS {
        entry(&mut lines, symbol, meaning);
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Heading("warnings (⚠ column; find them with warn: or warn:blocked)".into()));
    for warning in Warning::all() {
        entry(&mut lines, warning.as_str(), warning.explain());
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Heading("kinds (1–9 spawn the first nine)".into()));
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        entry(&mut lines, &format!("{} {}", i + 1, kind.name()), kind.behaviour());
    }
    lines.push(HelpLine::Blank);
    lines.push(HelpLine::Hint("↑ ↓ PgUp PgDn scroll · Esc or ? closes this help".into()));
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
pub fn scroll_max(size: Rect, keys: &[input::Binding]) -> u16 {
    let width = width(size.width).saturating_sub(2);
    let lines = lines(width, keys).len() as u16;
    lines.saturating_sub(size.height.saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help's text with its wrapping undone.
    fn unwrapped(width: u16) -> String {
        let text: Vec<String> = lines(width, input::NORMAL)
            .iter()
            .map(|l| l.text().trim().to_string())
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
            for line in lines(width, input::NORMAL) {
                let text = line.text();
                assert!(text.chars().count() <= width as usize, "{width}: {text}");
            }
        }
    }
}
