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
        backlog: None,
        report_to: None,
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
    for r in sup.report().await.iter().skip(1) {
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
        backlog: None,
        report_to: None,
    };
    let outcome = headless::run_to(&sup, &plan, options, Closed)
        .await
        .unwrap();
    assert_eq!(outcome.reason, EndReason::OutputClosed);
    let reports = sup.report().await;
    assert_eq!(outcome.digest.tasks(), 3);
    assert_eq!(reports.len(), 3);
    for r in &reports {
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
        backlog: None,
        report_to: None,
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

/// Every event the supervisor hands out, counted beside the run.
fn count_events(sup: &Supervisor) -> Arc<std::sync::atomic::AtomicU64> {
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = count.clone();
    sup.on_delivery(move |events| {
        counter.fetch_add(
            events.events().len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        true
    });
    count
}

// The real clock: the writing thread must catch up before the end's short deadline, and a
// paused clock would jump over that deadline the moment the runtime is idle.
#[tokio::test]
async fn a_reader_that_falls_behind_loses_events_counted_in_gaps_and_at_the_end() {
    let plan = scenario(
        r#"
[[task]]
name = "crowd"
kind = "select"
count = 300
interval = "100ms"
journal = false
"#,
    );
    let sup = Supervisor::builder().grace(ms(2000)).build().unwrap();
    let delivered = count_events(&sup);
    let (release, stuck) = mpsc::channel::<()>();
    let out = Captured::default();
    let writer = Gate {
        gate: stuck,
        out: out.clone(),
    };
    let options = RunOptions {
        output: Output::Json,
        run_for: Some(ms(300)),
        grace: ms(2000),
        backlog: Some(250),
        report_to: None,
    };
    let watch = async {
        // The 300 spawns come while nothing is written: 250 of them wait, 50 are dropped.
        while delivered.load(std::sync::atomic::Ordering::Relaxed) < 300 {
            tokio::time::sleep(ms(1)).await;
        }
        drop(release);
        // Then the stop of all 300, one batch, does not fit either; what follows it does.
    };
    let (outcome, ()) = tokio::join!(headless::run_to(&sup, &plan, options, writer), watch);
    let outcome = outcome.unwrap();
    assert!(!outcome.output_unfinished, "the reader caught up in time");
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let written = lines.iter().filter(|l| l["type"] == "event").count() as u64;
    let gaps: u64 = lines
        .iter()
        .filter(|l| l["type"] == "gap")
        .map(|l| l["events_dropped"].as_u64().unwrap())
        .sum();
    let end = lines.iter().find(|l| l["type"] == "end").unwrap();
    let dropped = end["events_dropped"].as_u64().unwrap();
    assert_eq!(dropped, outcome.events_dropped);
    assert!(dropped >= 50, "at most 250 of the 300 spawns waited");
    assert_eq!(
        written + dropped,
        delivered.load(std::sync::atomic::Ordering::Relaxed),
        "every event is written or counted as dropped"
    );
    assert!(
        gaps > 0 && gaps <= dropped,
        "a gap is marked where events went missing"
    );
    assert_eq!(
        lines.iter().filter(|l| l["type"] == "report").count(),
        300,
        "the report is whole"
    );
    for r in sup.report().await.iter() {
        assert_eq!(r.snapshot.state, State::Stopped, "{}", r.snapshot.name);
    }
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_never_reads_does_not_hold_the_end_of_the_run() {
    let plan = scenario(
        r#"
[[task]]
name = "crowd"
kind = "select"
count = 50
interval = "100ms"
"#,
    );
    let sup = Supervisor::builder().grace(ms(2000)).build().unwrap();
    let (release, stuck) = mpsc::channel::<()>();
    let options = RunOptions {
        output: Output::Text,
        run_for: Some(ms(1000)),
        grace: ms(2000),
        backlog: None,
        report_to: None,
    };
    let run = headless::run_to(&sup, &plan, options, Stuck(stuck));
    let outcome = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run ends without its reader")
        .unwrap();
    assert!(outcome.output_unfinished);
    assert_eq!(outcome.reason, EndReason::TimeUp);
    for r in sup.report().await.iter() {
        assert_eq!(r.snapshot.state, State::Stopped, "{}", r.snapshot.name);
        assert_eq!(r.journal_verified, Some(true));
    }
    drop(release);
}

/// Output whose writes wait until the gate opens (its sender dropped), then are kept.
struct Gate {
    gate: mpsc::Receiver<()>,
    out: Captured,
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.gate.recv();
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A run of 25,000 `select` tasks for 1.5 s: many of the chunks the report is made in (1,000
/// tasks each). What it printed, and how it came out.
async fn run_many_chunks(
    output: Output,
    report_to: Option<std::fs::File>,
) -> (String, headless::RunOutcome) {
    let plan = scenario(
        r#"
[[task]]
name = "crowd"
kind = "select"
count = 25000
interval = "1s"
journal = false
"#,
    );
    let sup = Supervisor::builder().grace(ms(2000)).build().unwrap();
    let out = Captured::default();
    let options = RunOptions {
        output,
        run_for: Some(ms(1500)),
        grace: ms(2000),
        backlog: None,
        report_to,
    };
    let outcome = headless::run_to(&sup, &plan, options, out.clone())
        .await
        .unwrap();
    let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (printed, outcome)
}

#[tokio::test(start_paused = true)]
async fn a_report_of_many_chunks_is_whole_and_in_order_on_stdout_and_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.jsonl");
    let file = std::fs::File::create(&path).unwrap();
    let (printed, outcome) = run_many_chunks(Output::Json, Some(file)).await;
    assert!(!outcome.output_unfinished);
    assert!(outcome.report_error.is_none());
    assert_eq!(outcome.digest.tasks(), 25_000);
    assert_eq!(outcome.digest.journal_failures(), None);
    let ids_of = |text: &str| -> Vec<u64> {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["type"] == "report")
            .inspect(|l| assert_eq!(l["state"], "stopped"))
            .map(|l| l["id"].as_u64().unwrap())
            .collect()
    };
    let every: Vec<u64> = (1..=25_000).collect();
    assert_eq!(
        ids_of(&printed),
        every,
        "stdout: every task once, in id order"
    );
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        ids_of(&file),
        every,
        "the file: every task once, in id order"
    );
    let last: Value = serde_json::from_str(file.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "end", "the file ends with the end line");
    assert_eq!(last["reason"], "time_up");
}

#[tokio::test(start_paused = true)]
async fn the_text_summary_of_many_chunks_counts_every_task() {
    let (printed, _) = run_many_chunks(Output::Text, None).await;
    assert!(
        printed.contains("totals: 25000 tasks: 25000 stopped"),
        "{}",
        &printed[printed.len().saturating_sub(400)..]
    );
    assert!(printed.contains("… 24980 more tasks not shown"));
}

/// A scenario's spawns go out a thousand at a time, while the tasks already run on the workers
/// and spawn children there: no child's `spawned` may come before its parent's, nor any
/// task's own event before its `spawned` (real workers: the order must not depend on timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_s_events_overtake_its_spawned_line_children_spawned_at_once_included() {
    let plan = scenario(
        r#"
[[task]]
name = "p"
kind = "parent"
count = 2000
journal = false
"#,
    );
    let sup = Supervisor::builder().grace(ms(3000)).build().unwrap();
    let out = Captured::default();
    let options = RunOptions {
        output: Output::Json,
        run_for: Some(ms(300)),
        grace: ms(3000),
        backlog: None,
        report_to: None,
    };
    headless::run_to(&sup, &plan, options, out.clone())
        .await
        .unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let mut spawned = std::collections::HashSet::new();
    let (mut children, mut events) = (0, 0);
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        if e["type"] != "event" {
            continue;
        }
        events += 1;
        let id = e["id"].as_u64().unwrap();
        if e["event"] != "spawned" {
            assert!(spawned.contains(&id), "before its spawned line: {e}");
            continue;
        }
        if let Some((_, parent)) = e["detail"].as_str().unwrap().split_once("child of #") {
            let parent: u64 = parent.trim_end_matches(')').parse().unwrap();
            assert!(
                spawned.contains(&parent),
                "before its parent's spawned line: {e}"
            );
            children += 1;
        }
        spawned.insert(id);
    }
    assert!(
        children >= 2000,
        "every parent spawned children ({children})"
    );
    assert!(events > spawned.len(), "and the stops were told too");
}
