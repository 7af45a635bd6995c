//! Where each part of the dashboard goes on a terminal of a given size: geometry that both the
//! app's state (how many rows a page holds, which row a click hit) and the drawing read.

use ratatui::layout::{Constraint, Layout, Margin, Rect};
use strum::IntoEnumIterator;

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

/// The layout for a terminal of `size`, or `None` when it is too small. `header` is how many
/// lines the header takes (two when a scenario has something to say).
pub fn layout(size: Rect, detail_focus: bool, header: u16) -> Option<Areas> {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return None;
    }
    let bottom_height = if detail_focus {
        size.height.saturating_sub(10)
    } else {
        (size.height / 3).clamp(10, 14)
    };
    let [header, table, bottom, footer] = Layout::vertical([
        Constraint::Length(header),
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

pub use crate::board::Column;

/// The room a selected row's marker takes before the first column.
pub const MARKER: u16 = 2;
/// The shortest a name is cut to.
const NAME_MIN: u16 = 16;
/// The widest a name column grows.
const NAME_MAX: u16 = 36;
/// The state column's least width, so that it does not jump at every change.
const STATE_MIN: u16 = 11;
/// The least room a note needs to be worth a column.
const NOTE_MIN: u16 = 20;

impl Column {
    /// Its title in the table's header.
    pub fn title(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Name => "name",
            Column::Kind => "kind",
            Column::State => "state",
            Column::Ticks => "ticks",
            Column::Restarts => "rst",
            Column::Rate => "rate/s",
            Column::Age => "age",
            Column::Latency => "latency",
            Column::Cleanup => "cleanup",
            Column::Persisted => "persisted",
            Column::Lost => "lost",
            Column::Warnings => "⚠",
            Column::Polls => "polls",
            Column::Busy => "busy",
            Column::MaxPoll => "max poll",
            Column::Location => "location",
            Column::Note => "note",
        }
    }

    /// What the help overlay says it is.
    pub fn legend(self) -> &'static str {
        match self {
            Column::Id => "the task's number; ● marks it (Space)",
            Column::Name => "its name; a long one is cut in the middle with …",
            Column::Kind => "its kind, or `custom` for your own code",
            Column::State => "where it is in its life, with what is special now (see the symbols)",
            Column::Ticks => "ticks counted",
            Column::Restarts => "runs after the first: by its restart policy or by hand (r)",
            Column::Rate => "ticks in the last second; 0 once it ended",
            Column::Age => "time since it was spawned, frozen at its join",
            Column::Latency => "from the request that ended it to its join",
            Column::Cleanup => "ran, partial (cut short), skipped, or n/a (none reported)",
            Column::Persisted => "journal records written to its file",
            Column::Lost => "journal records gone: dropped unflushed, or unwritable",
            Column::Warnings => "how many warnings it has (below; `warn:` filters on them)",
            Column::Polls => "polls of its future that have ended",
            Column::Busy => "share of one worker it took over the last second",
            Column::MaxPoll => "its longest poll: a long one held a worker from other tasks",
            Column::Location => "where in the program it was spawned (file:line)",
            Column::Note => "what the task's own code says it is doing",
        }
    }

    /// Its width, for the columns of a fixed width.
    fn width(self) -> u16 {
        match self {
            Column::Id => 6,
            Column::Kind => 14,
            Column::Ticks => 7,
            Column::Restarts => 3,
            Column::Rate => 6,
            Column::Age => 6,
            Column::Latency => 8,
            Column::Cleanup => 7,
            Column::Persisted => 9,
            Column::Lost => 5,
            Column::Warnings => 3,
            Column::Polls => 7,
            Column::Busy => 5,
            Column::MaxPoll => 8,
            Column::Location => 24,
            Column::Name => NAME_MIN,
            Column::State | Column::Note => 0,
        }
    }

    /// The higher, the longer it stays when the terminal is narrow: age, rate and persisted go
    /// first; the id, the state and the name never.
    fn priority(self) -> u8 {
        match self {
            Column::Id => 100,
            Column::State => 99,
            Column::Name => 98,
            Column::Ticks => 80,
            Column::Latency => 65,
            Column::Cleanup => 60,
            Column::Lost => 55,
            Column::Warnings => 75,
            Column::Busy => 40,
            Column::MaxPoll => 35,
            Column::Polls => 25,
            Column::Location => 8,
            Column::Kind => 52,
            Column::Restarts => 50,
            Column::Persisted => 30,
            Column::Rate => 20,
            Column::Age => 10,
            // Only when there is room to spare: it takes what is left.
            Column::Note => 5,
        }
    }

    /// Whether its cells are numbers, aligned right.
    pub fn right(self) -> bool {
        matches!(
            self,
            Column::Id
                | Column::Ticks
                | Column::Restarts
                | Column::Rate
                | Column::Age
                | Column::Latency
                | Column::Persisted
                | Column::Lost
                | Column::Polls
                | Column::Busy
                | Column::MaxPoll
        )
    }

    /// Every column, in the order shown.
    pub fn all() -> impl Iterator<Item = Column> {
        Column::iter()
    }
}

/// The columns that fit a table `width` columns wide inside its border, with their widths: the
/// state gets `state` in full (its widest text on screen), the name what is left up to a limit,
/// a note the rest; when they do not all fit, the lowest priorities give way.
pub fn columns(width: u16, state: u16) -> Vec<(Column, u16)> {
    let room = width.saturating_sub(MARKER);
    let mut by_priority: Vec<Column> = Column::all().collect();
    by_priority.sort_by_key(|c| std::cmp::Reverse(c.priority()));
    let wanted = |c: Column| match c {
        Column::State => state.max(STATE_MIN),
        Column::Note => NOTE_MIN,
        c => c.width(),
    };
    let mut chosen: Vec<Column> = Vec::new();
    let mut used = 0u16;
    for column in by_priority {
        let needed = wanted(column) + u16::from(!chosen.is_empty());
        if used + needed <= room {
            used += needed;
            chosen.push(column);
        }
    }
    let mut left = room - used;
    let mut widths: Vec<(Column, u16)> = Column::all()
        .filter(|c| chosen.contains(c))
        .map(|c| (c, wanted(c)))
        .collect();
    for (column, width) in &mut widths {
        if *column == Column::Name {
            let grow = left.min(NAME_MAX - *width);
            *width += grow;
            left -= grow;
        }
    }
    for (column, width) in &mut widths {
        if *column == Column::Note {
            *width += left;
            left = 0;
        }
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(width: u16) -> Vec<&'static str> {
        columns(width, 11).into_iter().map(|(c, _)| c.title()).collect()
    }

    #[test]
    fn narrow_terminals_lose_age_rate_and_persisted_first() {
        let wide = titles(200);
        assert_eq!(wide.len(), Column::all().count(), "{wide:?}");
        let at_80 = titles(78);
        for kept in ["id", "name", "state", "⚠", "ticks", "latency", "cleanup", "lost"] {
            assert!(at_80.contains(&kept), "{kept} at 80: {at_80:?}");
        }
        for gone in ["age", "rate/s", "persisted", "polls", "location"] {
            assert!(!at_80.contains(&gone), "{gone} at 80: {at_80:?}");
        }
        let total: u16 = columns(78, 11).iter().map(|(_, w)| w + 1).sum::<u16>() - 1;
        assert!(total + MARKER <= 78);
    }

    #[test]
    fn the_state_is_never_cut() {
        let cols = columns(78, 33);
        assert!(cols.contains(&(Column::State, 33)), "{cols:?}");
    }
}
