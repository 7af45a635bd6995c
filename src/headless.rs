//! `taskmon run`: plays a scenario without a terminal, printing events as they happen and a report
//! per task at the end.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::format;
use crate::scenario::Scenario;
use crate::supervisor::{Event, EventKind, Supervisor, TaskReport};

/// Events printed between two chances for the supervisor's bookkeeping to run.
const PRINT_BATCH: usize = 256;

/// How long a run goes on after the timeline's last action when `--for` is not given.
pub const DEFAULT_TAIL: Duration = Duration::from_secs(10);

/// Text for people, or JSON lines for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// Plays `scenario` on `sup` until the timeline is done and every task has ended, or until
/// `run_for` (default: 10 s after the last action) has passed, or Ctrl-C; then shuts down as
/// quitting the dashboard does and prints the report.
pub async fn run(
    sup: &Supervisor,
    scenario: &Scenario,
    output: Output,
    run_for: Option<Duration>,
    grace: Duration,
) -> io::Result<()> {
    let mut out = Printer::new(output);
    let mut events = sup.events();
    let start = Instant::now();
    let deadline = start + run_for.unwrap_or(scenario.last_action() + DEFAULT_TAIL);
    let mut roster = scenario.spawn_tasks(sup);
    let timeline = scenario.play_timeline(sup, &mut roster, start);
    tokio::pin!(timeline);
    let mut timeline_done = scenario.timeline.is_empty();
    let mut joined = 0usize;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);

    let reason = loop {
        tokio::select! {
            biased;
            Some(event) = events.recv() => {
                // Print a batch of what is waiting, flush once, and let the supervisor's own
                // work (recording joins) run before the next batch: printing ten thousand events
                // in one go would delay, and so inflate, every stop latency.
                let mut next = Some(event);
                let mut batch = 0;
                while let Some(event) = next {
                    joined += usize::from(event.kind == EventKind::Joined);
                    out.event(&event)?;
                    batch += 1;
                    next = if batch < PRINT_BATCH { events.try_recv() } else { None };
                }
                out.flush()?;
                tokio::task::yield_now().await;
            }
            _ = &mut timeline, if !timeline_done => timeline_done = true,
            _ = tokio::time::sleep_until(deadline) => break "time is up",
            _ = &mut interrupted => break "interrupted",
        }
        if timeline_done && joined >= sup.len() && events.is_empty() {
            break "every task has ended";
        }
    };

    let live = sup.len() - joined;
    if live > 0 {
        out.note(&format!(
            "{reason}: stopping {live} task(s) gracefully, grace {}",
            crate::supervisor::humanize(grace)
        ))?;
    }
    let shutdown = sup.shutdown(grace);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            Some(event) = events.recv() => {
                out.event(&event)?;
                out.flush()?;
            }
            _ = &mut shutdown => break,
        }
    }
    while let Some(event) = events.try_recv() {
        out.event(&event)?;
    }
    out.report(&sup.report().await)?;
    out.flush()
}

struct Printer {
    output: Output,
    stdout: io::BufWriter<io::Stdout>,
}

impl Printer {
    fn new(output: Output) -> Self {
        Self {
            output,
            stdout: io::BufWriter::new(io::stdout()),
        }
    }

    fn event(&mut self, e: &Event) -> io::Result<()> {
        match self.output {
            Output::Text => writeln!(self.stdout, "{}", format::event_line(e))?,
            Output::Json => {
                let mut line = json!({
                    "type": "event",
                    "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
                    "id": e.id,
                    "task": &*e.task,
                    "event": e.kind.as_str(),
                });
                if let Some(detail) = &e.detail {
                    line["detail"] = json!(detail);
                }
                writeln!(self.stdout, "{line}")?;
            }
        }
        Ok(())
    }

    fn note(&mut self, text: &str) -> io::Result<()> {
        if self.output == Output::Text {
            writeln!(self.stdout, "-- {text}")?;
        }
        Ok(())
    }

    fn report(&mut self, reports: &[TaskReport]) -> io::Result<()> {
        match self.output {
            Output::Text => write!(self.stdout, "\n{}", format::report_table(reports)),
            Output::Json => {
                for r in reports {
                    writeln!(self.stdout, "{}", report_json(r))?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}

/// The SPEC's `report` JSON line for one task.
pub fn report_json(r: &TaskReport) -> serde_json::Value {
    let s = &r.snapshot;
    json!({
        "type": "report",
        "id": s.id,
        "task": &*s.name,
        "kind": &*s.kind,
        "state": s.state.as_str(),
        "ticks": s.ledger.ticks,
        "persisted": s.ledger.persisted,
        "lost": s.ledger.lost,
        "pending": s.ledger.pending,
        "cleanup": s.cleanup.as_str(),
        "stop_latency_ms": s.stop_latency().map(|d| d.as_secs_f64() * 1000.0),
        "journal_verified": r.journal_verified,
        "orphan": s.orphan,
        "panic": s.panic_message.as_deref(),
    })
}
