//! `taskmon run --record` and `taskmon replay` as a user runs them: the replay's events are the
//! run's own, its table at the end is the run's report, bad input is refused with a message, and
//! the dashboard plays, pauses and goes to a time in a real pseudo-terminal.

#[path = "support/pty.rs"]
mod pty;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

fn taskmon(args: &[&str]) -> Output {
    Command::new(TASKMON)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const SCENARIO: &str = r#"
grace = "1s"
[[task]]
name = "first"
kind = "polling"
interval = "70ms"
flush_every = 3
[[task]]
name = "boom"
kind = "panicky"
interval = "50ms"
panic_after = 5
restart = "on-panic"
[[task]]
name = "cut"
kind = "select"
interval = "30ms"
[[at]]
after = "1200ms"
abort = "cut"
"#;

/// Records the scenario with `taskmon run --json --record`; returns its JSON lines.
fn record(dir: &Path) -> (String, Vec<Value>) {
    let scenario = dir.join("replay.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let file = dir.join("run.tmrec");
    let file = file.to_str().unwrap().to_string();
    let run = taskmon(&[
        "run",
        "--json",
        "--for",
        "2500ms",
        "--scenario",
        scenario.to_str().unwrap(),
        "--record",
        &file,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("replay it with: taskmon replay"));
    (file, json_lines(&run))
}

#[test]
fn the_replay_gives_back_the_runs_events_and_its_table_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (file, run) = record(dir.path());
    let events = taskmon(&["replay", &file, "--events", "--json"]);
    assert!(events.status.success(), "{}", text(&events.stderr));
    let run_events: Vec<&Value> = run.iter().filter(|l| l["type"] == "event").collect();
    let replayed = json_lines(&events);
    assert!(run_events.len() > 10);
    assert_eq!(replayed.iter().collect::<Vec<_>>(), run_events);

    let table = taskmon(&["replay", &file, "--at", "end", "--json"]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let rows = json_lines(&table);
    let reports: Vec<&Value> = run.iter().filter(|l| l["type"] == "report").collect();
    assert_eq!(rows.len(), reports.len());
    for (row, report) in rows.iter().zip(reports) {
        for field in [
            "id",
            "task",
            "kind",
            "state",
            "ticks",
            "persisted",
            "lost",
            "pending",
            "cleanup",
            "stop_latency_ms",
            "restarts",
            "polls",
            "slow_polls",
            "panic",
            "counters",
        ] {
            assert_eq!(row[field], report[field], "{field} of {}", report["task"]);
        }
    }

    // The table at a moment, for people: the time, the rows, the count.
    let at = taskmon(&["replay", &file, "--at", "+1s"]);
    let shown = text(&at.stdout);
    assert!(at.status.success(), "{}", text(&at.stderr));
    assert!(
        shown.contains("(+1s)") && shown.contains("3 task(s)"),
        "{shown}"
    );
    assert!(shown.contains("running"), "{shown}");
    let before_abort = taskmon(&["replay", &file, "--at", "+1.1s", "--json"]);
    let cut = &json_lines(&before_abort)[2];
    assert_eq!(cut["state"], "running");
    let after_abort = taskmon(&["replay", &file, "--at", "+1.3s", "--json"]);
    assert_eq!(json_lines(&after_abort)[2]["state"], "aborted");

    // A time of day on the recording's clock, and the text events.
    let first_at = run_events[0]["at"].as_str().unwrap();
    let time_of_day = &first_at[11..23];
    let moment = taskmon(&["replay", &file, "--at", time_of_day]);
    assert!(moment.status.success(), "{}", text(&moment.stderr));
    let lines = taskmon(&["replay", &file, "--events"]);
    let lines = text(&lines.stdout);
    assert!(
        lines.contains("#3 cut") && lines.contains("abort_requested"),
        "{lines}"
    );
}

#[test]
fn bad_recordings_times_and_flags_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = record(dir.path());
    let refused = |args: &[&str], code: i32, expected: &str| {
        let o = taskmon(args);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(o.stdout.is_empty(), "{args:?} printed {}", text(&o.stdout));
    };
    let missing = dir.path().join("missing.tmrec");
    refused(
        &["replay", missing.to_str().unwrap(), "--events"],
        2,
        "cannot read",
    );
    let scenario = dir.path().join("replay.toml");
    refused(
        &["replay", scenario.to_str().unwrap(), "--events"],
        2,
        "is not a taskmon recording",
    );
    refused(&["replay", &file, "--at", "yesterday"], 2, "is not a time");
    refused(
        &["replay", &file, "--at", "+1h"],
        2,
        "is outside the recording",
    );
    refused(&["replay", &file, "--at", "\u{1b}[2J"], 2, "\\u{1b}[2J");
    refused(
        &["replay", &file, "--json"],
        2,
        "--json is for --at or --events",
    );
    refused(&["replay", &file], 1, "needs a terminal");
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    refused(
        &["replay", fifo.to_str().unwrap(), "--events"],
        2,
        "not a regular file",
    );

    // Recording: refused before anything runs.
    let run = |record: &Path, extra: &[&str]| {
        let mut args = vec!["run", "--for", "1s", "--record", record.to_str().unwrap()];
        args.extend(extra);
        taskmon(&args)
    };
    let o = run(&fifo, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot record to"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    let o = run(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("cannot record to"));
    let o = run(&dir.path().join("small.tmrec"), &["--record-max", "1k"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("at least 65536 bytes"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&dir.path().join("small.tmrec"), &["--record-max", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("is not a size"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn the_replay_dashboard_plays_pauses_and_goes_to_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (file, run) = record(dir.path());
    let mut s = pty::Session::start(&["replay".as_ref(), file.as_ref()], &[]);
    s.wait_until("the replay opens paused at the start", |s| {
        s.screen().contains("⏸") && s.screen().contains("a recording of taskmon")
    });
    s.keys(" ");
    s.wait_until("it plays and the tasks appear", |s| {
        s.screen().contains("▶") && s.row("first").contains("running")
    });
    s.keys(" ");
    s.wait_until("it pauses", |s| s.screen().contains("⏸"));

    // Going to a time shows the table as `replay --at` prints it.
    s.keys("g");
    s.wait_until("the footer takes a time", |s| s.screen().contains("go to"));
    s.keys("+2s\r");
    s.wait_until("it is at +2s", |s| s.screen().contains("+2s"));
    let at = taskmon(&["replay", &file, "--at", "+2s", "--json"]);
    let rows = json_lines(&at);
    for row in &rows {
        let task = row["task"].as_str().unwrap();
        let ticks = row["ticks"].to_string();
        let state = row["state"].as_str().unwrap();
        s.wait_until(&format!("{task} shows {state} {ticks}"), |s| {
            let line = s.row(task);
            line.contains(state) && line.split_whitespace().any(|w| w == ticks)
        });
    }
    assert_eq!(rows[2]["state"], "aborted");

    // What would act on tasks answers that a replay cannot.
    s.keys("s");
    s.wait_until("s is answered", |s| {
        s.screen().contains("a replay cannot act")
    });
    s.keys("?");
    s.wait_until("the help lists the replay's keys", |s| {
        s.screen().contains("play or pause the recording")
    });
    s.keys("\x1b");
    s.wait_until("the help closes", |s| {
        !s.screen().contains("play or pause the recording")
    });
    s.keys("}");
    s.wait_until("it is at the end", |s| s.screen().contains("at the end"));
    let last = run
        .iter()
        .find(|l| l["type"] == "report" && l["task"] == "first")
        .unwrap();
    s.wait_until("the end shows how the run ended", |s| {
        s.row("first").contains(last["state"].as_str().unwrap())
    });
    s.keys("q");
    let status = s.wait_for_exit();
    assert!(status.success(), "{status:?}");
    s.assert_terminal_restored();
}
