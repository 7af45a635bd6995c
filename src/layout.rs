//! Where each part of the dashboard goes on a terminal of a given size: geometry that both the
//! app's state (how many rows a page holds, which row a click hit) and the drawing read.

use ratatui::layout::{Constraint, Layout, Margin, Rect};

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
