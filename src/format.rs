//! How taskmon writes times, latencies and events for people; shared by the dashboard and
//! `taskmon run`.

use std::time::Duration;

use chrono::{DateTime, Local};

use crate::supervisor::{Event, TaskReport, humanize};

/// `HH:MM:SS.mmm`
pub fn clock(at: &DateTime<Local>) -> String {
    at.format("%H:%M:%S%.3f").to_string()
}

/// A latency, or `-` when there is none.
pub fn latency(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), humanize)
}

/// One event as a log line: time, task, event and detail.
pub fn event_line(e: &Event) -> String {
    let task = format!("#{} {}", e.id, e.task);
    let mut line = format!("{}  {:<22} {:<16}", clock(&e.at), task, e.kind.as_str());
    if let Some(detail) = &e.detail {
        line.push(' ');
        line.push_str(detail);
    }
    line.trim_end().to_string()
}

/// The final per-task table of `taskmon run` and of the dashboard's exit summary.
pub fn report_table(reports: &[TaskReport]) -> String {
    let name_width = reports
        .iter()
        .map(|r| r.snapshot.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 28);
    let mut out = format!(
        "{:>5}  {:<name_width$}  {:<14}  {:<11}  {:>7}  {:>12}  {:<7}  {:>9}  {:>6}  journal\n",
        "id", "task", "kind", "state", "ticks", "stop latency", "cleanup", "persisted", "lost"
    );
    for r in reports {
        let s = &r.snapshot;
        let state = if s.orphan {
            format!("{} (orphan)", s.state)
        } else {
            s.state.to_string()
        };
        let journal = match r.journal_verified {
            Some(true) => "verified",
            Some(false) => "MISMATCH",
            None => "off",
        };
        out.push_str(&format!(
            "{:>5}  {:<name_width$}  {:<14}  {:<11}  {:>7}  {:>12}  {:<7}  {:>9}  {:>6}  {journal}\n",
            s.id,
            truncate(&s.name, name_width),
            &*s.kind,
            state,
            s.ledger.ticks,
            latency(s.stop_latency()),
            s.cleanup.as_str(),
            s.ledger.persisted,
            s.ledger.lost,
        ));
        if let Some(message) = &s.panic_message {
            out.push_str(&format!("{:>5}  panic: {message}\n", ""));
        }
    }
    out
}

/// Cuts `s` to `width` characters, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let cut: String = s.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
