//! The real `taskmon` binary: bad input is refused with a clear message, scenarios play headless,
//! and the JSON lines carry the SPEC's fields.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn taskmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskmon"))
        .args(args)
        .output()
        .expect("taskmon runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit status 2, one message naming `file` (and `line` where given), saying `expected`, no panic.
fn assert_refused(o: &Output, file: &str, line: Option<usize>, expected: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit status for {file}: {err}");
    assert!(err.contains(file), "names the file {file}: {err}");
    if let Some(line) = line {
        assert!(
            err.contains(&format!("{file}:{line}:")),
            "names line {line}: {err}"
        );
    }
    assert!(err.contains(expected), "says `{expected}`: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "no backtrace: {err}");
    assert!(stdout(o).is_empty(), "nothing was played: {}", stdout(o));
}

#[test]
fn every_kind_of_bad_scenario_is_refused_before_anything_runs() {
    let cases = [
        ("syntax.toml", 1, "expected `]`"),
        ("unknown_field.toml", 4, "unknown field `intervall`"),
        (
            "unknown_kind.toml",
            3,
            "expected one of: polling, select, slow-cleanup",
        ),
        (
            "bad_duration.toml",
            4,
            "invalid duration \"2 fortnights-ish\"",
        ),
        ("zero_duration.toml", 1, "is zero"),
        ("wrong_type.toml", 4, "invalid type: string \"ten\""),
        (
            "duplicate_name.toml",
            6,
            "duplicate task name `a` (first defined on line 2)",
        ),
        (
            "unknown_target.toml",
            7,
            "the timeline names `b`, which is no task",
        ),
        ("too_many.toml", 4, "the limit is 100000"),
        ("no_action.toml", 5, "exactly one of `stop`"),
    ];
    for (file, line, expected) in cases {
        let path = format!("tests/scenarios/bad/{file}");
        for args in [vec!["run", "--scenario", &path], vec!["--scenario", &path]] {
            assert_refused(&taskmon(&args), &path, Some(line), expected);
        }
    }
}

#[test]
fn unreadable_scenario_paths_are_refused() {
    let missing = "tests/scenarios/no-such-file.toml";
    assert_refused(
        &taskmon(&["run", "--scenario", missing]),
        missing,
        None,
        "no such file",
    );
    let dir = "tests/scenarios";
    assert_refused(
        &taskmon(&["run", "--scenario", dir]),
        dir,
        None,
        "is a directory",
    );

    let temp = tempfile::tempdir().unwrap();
    let binary = temp.path().join("binary.toml");
    std::fs::write(&binary, b"description = \"caf\xe9\"\n").unwrap();
    let binary = binary.to_str().unwrap();
    assert_refused(
        &taskmon(&["run", "--scenario", binary]),
        binary,
        Some(1),
        "not valid UTF-8",
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--grace", "banana"][..],
        &["run", "--for", "0s"],
        &["run", "--bogus"],
        &["frobnicate"],
    ] {
        let o = taskmon(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn help_version_and_kinds() {
    let help = taskmon(&["--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("run"));
    assert!(stdout(&help).contains("--scenario"));
    let version = taskmon(&["--version"]);
    assert!(stdout(&version).contains(env!("CARGO_PKG_VERSION")));

    let kinds = taskmon(&["kinds"]);
    assert!(kinds.status.success());
    let text = stdout(&kinds);
    for kind in taskmon::kinds::Kind::ALL {
        assert!(text.contains(kind.name()), "{kind}");
        assert!(text.contains(kind.lesson()), "{kind}");
    }
    for param in [
        "interval",
        "flush_every",
        "cleanup",
        "busy",
        "panic_after",
        "children",
        "journal",
        "flush_on_drop",
    ] {
        assert!(text.contains(param), "{param}");
    }
    assert!(text.contains("100ms"), "defaults are shown");
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn report<'a>(lines: &'a [Value], task: &str) -> &'a Value {
    lines
        .iter()
        .find(|v| v["type"] == "report" && v["task"] == task)
        .unwrap_or_else(|| panic!("no report for {task}"))
}

#[test]
fn compare_scenario_shows_the_headline_lesson_in_json_lines() {
    let o = taskmon(&["run", "--scenario", "assets/compare.toml", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);

    let events: Vec<_> = lines.iter().filter(|v| v["type"] == "event").collect();
    let words = [
        "spawned",
        "stop_requested",
        "stop_noticed",
        "cleanup_started",
        "cleanup_finished",
        "abort_requested",
        "escalated",
        "joined",
        "panicked",
        "orphaned",
    ];
    for e in &events {
        assert!(
            chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok(),
            "{e}"
        );
        assert!(e["id"].is_u64() && e["task"].is_string(), "{e}");
        assert!(words.contains(&e["event"].as_str().unwrap()), "{e}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["task"] == "aborted" && e["event"] == "abort_requested")
    );
    assert!(
        events
            .iter()
            .any(|e| e["task"] == "graceful" && e["event"] == "cleanup_finished")
    );

    let graceful = report(&lines, "graceful");
    assert_eq!(graceful["state"], "stopped");
    assert_eq!(graceful["cleanup"], "ran");
    assert_eq!(graceful["lost"], 0);
    assert_eq!(graceful["pending"], 0);
    assert_eq!(graceful["persisted"], graceful["ticks"]);
    assert_eq!(graceful["journal_verified"], true);
    assert!(graceful["stop_latency_ms"].as_f64().unwrap() > 0.0);

    let aborted = report(&lines, "aborted");
    assert_eq!(aborted["state"], "aborted");
    assert_eq!(aborted["cleanup"], "skipped");
    assert_eq!(aborted["journal_verified"], true);
    let (ticks, persisted, lost) = (
        aborted["ticks"].as_u64().unwrap(),
        aborted["persisted"].as_u64().unwrap(),
        aborted["lost"].as_u64().unwrap(),
    );
    assert_eq!(persisted % 8, 0, "only whole flushes of 8 reached disk");
    assert_eq!(lost, ticks - persisted, "the pending records were lost");
    assert!(lost > 0 && lost < 8, "{lost}");
    for key in ["id", "kind", "stop_latency_ms"] {
        assert!(aborted.get(key).is_some(), "{key}");
    }
}

#[test]
fn compare_scenario_prints_events_and_a_report_table() {
    let o = taskmon(&["run", "--scenario", "assets/compare.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let joined = text
        .lines()
        .find(|l| l.contains("#2 aborted") && l.contains("joined"))
        .unwrap();
    assert!(
        joined.chars().nth(2) == Some(':') && joined.chars().nth(8) == Some('.'),
        "HH:MM:SS.mmm: {joined}"
    );
    assert!(text.contains("stop latency"));
    let graceful = text.lines().rev().find(|l| l.contains("graceful")).unwrap();
    assert!(
        graceful.contains("stopped") && graceful.contains("ran") && graceful.contains("verified"),
        "{graceful}"
    );
    let aborted = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("2  aborted"))
        .unwrap();
    assert!(aborted.contains("skipped"), "{aborted}");
}

#[test]
fn for_ends_a_scenario_whose_tasks_never_end_and_panics_stay_off_stderr() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = temp.path().join("forever.toml");
    std::fs::write(
        &scenario,
        r#"
grace = "200ms"
[[task]]
name = "mule"
kind = "stubborn"
interval = "20ms"
[[task]]
name = "boom"
kind = "panicky"
interval = "10ms"
panic_after = 3
"#,
    )
    .unwrap();
    let journals = temp.path().join("journals");
    let o = taskmon(&[
        "run",
        "--scenario",
        scenario.to_str().unwrap(),
        "--for",
        "300ms",
        "--json",
        "--journal-dir",
        journals.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("panicked"),
        "task panics are not printed: {}",
        stderr(&o)
    );
    let lines = json_lines(&o);
    assert_eq!(report(&lines, "mule")["state"], "escalated");
    let boom = report(&lines, "boom");
    assert_eq!(boom["state"], "panicked");
    assert!(boom["panic"].as_str().unwrap().contains("after 3 ticks"));
    assert!(
        journals.join("00001-mule.journal").exists(),
        "--journal-dir keeps the journals"
    );
}

#[test]
fn the_shipped_scenarios_load() {
    for file in [
        "assets/default.toml",
        "assets/compare.toml",
        "assets/load.toml",
    ] {
        let scenario = taskmon::scenario::Scenario::load(Path::new(file)).unwrap();
        assert!(!scenario.tasks.is_empty(), "{file}");
    }
    let load = taskmon::scenario::Scenario::load(Path::new("assets/load.toml")).unwrap();
    assert_eq!(load.tasks.len(), 10_000);
    assert!(load.tasks.iter().all(|t| !t.params.journal));
    let default = taskmon::scenario::Scenario::default_scenario();
    let kinds: Vec<_> = default.tasks.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, taskmon::kinds::Kind::ALL);
}

#[test]
fn without_a_terminal_the_dashboard_points_to_taskmon_run() {
    let o = Command::new(env!("CARGO_BIN_EXE_taskmon"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("taskmon run"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}
