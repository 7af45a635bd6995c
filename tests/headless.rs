//! `taskmon run` in-process: what is printed, and how fast it is read, never changes what
//! happens to the tasks.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;
use taskmon::headless::{self, EndReason, Output, RunOptions};
use taskmon::scenario::Scenario;
use taskmon::{EventKind, State, Supervisor};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "inline").expect("a valid scenario")
}

/// Output whose every write blocks until the test lets go.
struct Stuck(mpsc::Receiver<()>);

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.recv();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Output nobody reads any more, as `| head -1` leaves it.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

/// Output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_reads_nothing_changes_nothing_that_happens() {
    let plan = scenario(
        r#"
[[task]]
name = "mule"
kind = "stubborn"
interval = "100ms"
[[task]]
name = "crowd"
kind = "select"
count = 300
interval = "100ms"
"#,
    );
    let sup = Supervisor::builder().grace(ms(2000)).build().unwrap();
    let (release, stuck) = mpsc::channel::<()>();
    let options = RunOptions {
        output: Output::Text,
        run_for: Some(ms(1000)),
        grace: ms(2000),
    };
    let watch = async {
        let mule = sup.joined(1).await.unwrap();
        // Not one line has been written yet: the reader has read nothing.
        drop(release);
        mule
    };
    let (outcome, mule) = tokio::join!(headless::run_to(&sup, &plan, options, Stuck(stuck)), watch);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.reason, EndReason::TimeUp);
    assert_eq!(mule.state, State::Escalated);
    assert_eq!(mule.timeline.at(EventKind::StopRequested), Some(ms(1000)));
    assert_eq!(
        mule.stop_latency(),
        Some(ms(2000)),
        "escalated exactly at the grace period"
    );
    for r in outcome.reports.iter().skip(1) {
        assert_eq!(r.snapshot.state, State::Stopped, "{}", r.snapshot.name);
        assert_eq!(r.snapshot.stop_latency(), Some(Duration::ZERO));
        assert_eq!(r.journal_verified, Some(true));
    }
}

#[tokio::test]
async fn a_closed_output_ends_the_run_as_ctrl_c_does() {
    let plan = scenario(
        r#"
[[task]]
name = "steady"
kind = "polling"
interval = "20ms"
flush_every = 3
count = 3
[[at]]
after = "1h"
abort_all = true
"#,
    );
    let sup = Supervisor::builder().grace(ms(3000)).build().unwrap();
    let options = RunOptions {
        output: Output::Json,
        run_for: None,
        grace: ms(3000),
    };
    let outcome = headless::run_to(&sup, &plan, options, Closed)
        .await
        .unwrap();
    assert_eq!(outcome.reason, EndReason::OutputClosed);
    assert_eq!(outcome.reports.len(), 3);
    for r in outcome.reports.iter() {
        let s = &r.snapshot;
        assert_eq!(s.state, State::Stopped, "stopped gracefully, not aborted");
        let journal = s.ledger.journal.unwrap();
        assert_eq!(journal.lost, 0);
        assert_eq!(
            journal.persisted, s.ledger.ticks,
            "the journals are complete"
        );
        assert_eq!(r.journal_verified, Some(true));
    }
}

#[tokio::test(start_paused = true)]
async fn json_lines_carry_detail_rounded_latencies_nulls_and_the_end_reason() {
    let plan = scenario(
        r#"
[[task]]
name = "counted"
kind = "polling"
interval = "100ms"
[[task]]
name = "uncounted"
kind = "select"
interval = "100ms"
journal = false
[[at]]
after = "1050ms"
stop = "counted"
"#,
    );
    let sup = Supervisor::builder().grace(ms(3000)).build().unwrap();
    let out = Captured::default();
    let options = RunOptions {
        output: Output::Json,
        run_for: Some(ms(2000)),
        grace: ms(3000),
    };
    let outcome = headless::run_to(&sup, &plan, options, out.clone())
        .await
        .unwrap();
    assert_eq!(outcome.reason, EndReason::TimeUp);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    let end = kinds.iter().position(|k| *k == "end").expect("an end line");
    assert!(kinds[..end].iter().all(|k| *k == "event"));
    assert!(kinds[end + 1..].iter().all(|k| *k == "report"));
    assert_eq!(lines[end]["reason"], "time_up");
    for event in &lines[..end] {
        let detail = event.get("detail").expect("every event has a detail");
        assert!(detail.is_null() || detail.is_string(), "{event}");
    }
    assert!(
        lines[..end]
            .iter()
            .any(|e| e["event"] == "stop_noticed" && e["detail"].is_null())
    );
    let counted = &lines[end + 1];
    assert_eq!(counted["task"], "counted");
    assert_eq!(
        counted["stop_latency_ms"].to_string(),
        "50.0",
        "noticed at the next check, 1100 ms"
    );
    let uncounted = &lines[end + 2];
    assert_eq!(uncounted["task"], "uncounted");
    for field in ["persisted", "lost", "pending", "journal_verified"] {
        assert!(
            uncounted[field].is_null(),
            "{field} is null without a journal"
        );
    }
    assert_eq!(
        uncounted["ticks"], 20,
        "0 to 1900 ms: at 2000 ms the stop wins the select"
    );
}
