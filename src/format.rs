//! How taskmon writes times, latencies and events for people; shared by the dashboard and
//! `taskmon run`.

use std::time::Duration;

use chrono::{DateTime, Local};

use crate::supervisor::{Event, humanize};

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
