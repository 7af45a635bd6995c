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
        ("too_many.toml", 4, "the limit is 10000000"),
        ("no_action.toml", 5, "exactly one of `stop`"),
        (
            "too_long.toml",
            5,
            "the duration \"18446744073709551615s\" is longer than the limit of 24h",
        ),
        ("long_grace.toml", 1, "longer than the limit of 24h"),
        (
            "control_name.toml",
            2,
            "the name holds the control character \\u{1b} at character 5",
        ),
        (
            "bidi_name.toml",
            2,
            "the bidirectional-text character \\u{202e}",
        ),
        ("long_name.toml", 2, "the name is 65 characters long"),
        (
            "child_collision.toml",
            7,
            "duplicate task name `p.child1` (first defined on line 2, as a child of `p`)",
        ),
        ("deep_keys.toml", 2, "keys are nested too deeply"),
        ("raw_control.toml", 4, "invalid comment character"),
        (
            "bad_restart.toml",
            4,
            "unknown restart `sometimes`, expected one of: never, on-panic, on-error, on-failure, always",
        ),
        (
            "bad_chance.toml",
            4,
            "the chance 1.5 is not between 0 and 1",
        ),
        (
            "bad_limit.toml",
            5,
            "unknown field `whithin`, expected `count` or `within`",
        ),
    ];
    for (file, line, expected) in cases {
        let path = format!("tests/scenarios/bad/{file}");
        for args in [vec!["run", "--scenario", &path], vec!["--scenario", &path]] {
            let o = taskmon(&args);
            assert_refused(&o, &path, Some(line), expected);
            assert_no_control_bytes(&stderr(&o));
        }
    }
}

/// Nothing a terminal would act on: no control characters but line breaks, no bidi controls.
fn assert_no_control_bytes(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && taskmon::text::is_unsafe(c))
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in: {text}");
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
        "assets/lessons.toml",
    ] {
        let scenario = taskmon::scenario::Scenario::load(Path::new(file)).unwrap();
        assert!(!scenario.tasks.is_empty(), "{file}");
    }
    let load = taskmon::scenario::Scenario::load(Path::new("assets/load.toml")).unwrap();
    assert_eq!(load.task_count(), 10_000);
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

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

/// Waits for `child` and fails the test if it has not exited within a minute: a hang is a defect
/// as much as a wrong answer.
fn wait_bounded(child: std::process::Child) -> Output {
    let pid = child.id();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match result.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("taskmon did not exit within a minute");
        }
    }
}

/// `taskmon ARGS` after the shell commands in `limits` (`ulimit -n 6`, say), with `TMPDIR` set.
fn taskmon_limited(limits: &str, args: &[&str], tmpdir: &Path) -> Output {
    let script = format!("{limits}; exec \"$0\" \"$@\"");
    let child = Command::new("sh")
        .args(["-c", &script, TASKMON])
        .args(args)
        .env("TMPDIR", tmpdir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child)
}

fn write_scenario(dir: &Path, text: &str) -> String {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn special_files_and_huge_files_are_refused_without_being_read() {
    let temp = tempfile::tempdir().unwrap();
    let fifo = temp.path().join("scenario.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = temp.path().join("huge.toml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(50 * 1024 * 1024)
        .unwrap();
    for (path, expected) in [
        (fifo.to_str().unwrap(), "is not a regular file"),
        ("/dev/zero", "is not a regular file"),
        (
            huge.to_str().unwrap(),
            "is 52428800 bytes; a scenario is at most 1048576",
        ),
    ] {
        let o = taskmon_limited("true", &["run", "--scenario", path], temp.path());
        assert_refused(&o, path, None, expected);
    }
}

#[test]
fn clap_errors_echo_arguments_escaped() {
    let o = taskmon(&["run", "--grace", "\x1b]0;pwned\x07"]);
    assert_eq!(o.status.code(), Some(2));
    assert_no_control_bytes(&stderr(&o));
    assert!(stderr(&o).contains("--grace"), "{}", stderr(&o));
}

#[test]
fn unusable_journal_directories_are_refused_before_anything_runs() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for dir in [
        file.to_str().unwrap(),
        "/dev/full",
        "/proc/taskmon-cannot-be-here",
    ] {
        let o = taskmon(&["run", "--journal-dir", dir, "--for", "1s"]);
        assert_eq!(o.status.code(), Some(1), "{dir}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("cannot use {dir} as the journal directory")));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty(), "nothing was played");
    }
}

#[test]
fn a_journal_directory_in_use_is_refused_and_a_rerun_starts_it_afresh() {
    use std::io::BufRead;
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"steady\"\nkind = \"select\"\ninterval = \"10ms\"\n",
    );
    let journals = temp.path().join("journals");
    let journals = journals.to_str().unwrap();
    let args = [
        "run",
        "--scenario",
        &scenario,
        "--journal-dir",
        journals,
        "--json",
    ];
    let mut first = Command::new(TASKMON)
        .args(args)
        .args(["--for", "2s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(first.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("spawned"),
        "the first run is under way: {line}"
    );
    let second = taskmon(&[&args[..], &["--for", "1s"]].concat());
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains(&format!("the journal directory {journals} is in use")),
        "{}",
        stderr(&second)
    );
    assert!(first.wait().unwrap().success());

    for _ in 0..2 {
        let rerun = taskmon(&[&args[..], &["--for", "300ms"]].concat());
        assert!(rerun.status.success(), "{}", stderr(&rerun));
        assert_eq!(
            report(&json_lines(&rerun), "steady")["journal_verified"],
            true
        );
        assert!(stderr(&rerun).contains(&format!("journals kept in {journals}")));
    }
}

#[test]
fn a_journal_that_cannot_be_written_is_cut_back_and_reported_not_a_panic() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"writer\"\nkind = \"select\"\ninterval = \"5ms\"\nflush_every = 7\n",
    );
    let journals = temp.path().join("journals");
    let o = taskmon_limited(
        "ulimit -f 1",
        &[
            "run",
            "--scenario",
            &scenario,
            "--journal-dir",
            journals.to_str().unwrap(),
            "--for",
            "2s",
            "--json",
        ],
        temp.path(),
    );
    assert_eq!(o.status.code(), Some(1), "a failed journal fails the run");
    assert!(
        stderr(&o).contains("1 journal(s) failed (#1 writer)"),
        "{}",
        stderr(&o)
    );
    let lines = json_lines(&o);
    let writer = report(&lines, "writer");
    assert_eq!(writer["state"], "stopped", "the task went on: {writer}");
    assert!(
        writer["journal_error"]
            .as_str()
            .unwrap()
            .contains("File too large")
    );
    let (ticks, persisted, lost) = (
        writer["ticks"].as_u64().unwrap(),
        writer["persisted"].as_u64().unwrap(),
        writer["lost"].as_u64().unwrap(),
    );
    assert!(lost > 0 && persisted > 0);
    assert_eq!(ticks, persisted + lost);
    assert_eq!(
        writer["journal_verified"], true,
        "the file holds whole records only"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "journal_error" && l["task"] == "writer")
    );
    let file = std::fs::read(journals.join("00001-writer.journal")).unwrap();
    assert!(file.len() <= 1024 && file.ends_with(b"\n"));
}

#[test]
fn open_file_limits_are_raised_and_otherwise_named() {
    let temp = tempfile::tempdir().unwrap();
    let o = taskmon_limited("ulimit -n 6", &["run", "--for", "1s"], temp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("too few files can be opened: the limit is 6"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));

    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"many\"\nkind = \"select\"\ncount = 1000\n",
    );
    let o = taskmon_limited(
        "ulimit -n 300",
        &["run", "--scenario", &scenario],
        temp.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("it keeps 1000 journal files open"), "{err}");
    assert!(err.contains("the open-file limit of 300"), "{err}");
    assert!(err.contains("`journal = false`"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing was spawned");

    // A soft limit below the hard one is raised.
    let o = taskmon_limited(
        "ulimit -Hn 4096; ulimit -Sn 300",
        &["run", "--scenario", &scenario, "--for", "200ms", "--json"],
        temp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let reports = json_lines(&o)
        .into_iter()
        .filter(|l| l["type"] == "report" && l["journal_verified"] == true)
        .count();
    assert_eq!(reports, 1000);
}

fn tmp_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Starts `taskmon run` on `scenario` with stdout piped and `TMPDIR` in `tmp`; returns once it
/// has printed `ready` (a line containing it).
fn start_run(scenario: &str, tmp: &Path, extra: &[&str], ready: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(TASKMON)
        .args(["run", "--scenario", scenario])
        .args(extra)
        .env("TMPDIR", tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("TASKMON_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "it printed `{ready}`"
        );
    }
    // Keep reading, so the run never waits on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    child
}

fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

const HARD_TO_STOP: &str = r#"
[[task]]
name = "mule"
kind = "stubborn"
interval = "20ms"
[[task]]
name = "hog"
kind = "blocking"
busy = "1h"
[[task]]
name = "pool"
kind = "spawn-blocking"
interval = "1h"
flush_every = 1
"#;

/// Waits until `pool` of [`HARD_TO_STOP`] has written its first record: its code has started on
/// the blocking pool, where nothing can stop it for an hour (before that, a stop would reach it
/// first and it would end gracefully).
fn wait_for_pool_to_start(tmp: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let written = walk(tmp).into_iter().any(|file| {
            file.to_string_lossy().ends_with("pool.journal")
                && std::fs::metadata(&file).is_ok_and(|m| m.len() > 0)
        });
        if written {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "pool never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn sigterm_and_sighup_shut_a_run_down_gracefully_and_remove_its_directory() {
    for name in ["TERM", "HUP", "INT"] {
        let tmp = tempfile::tempdir().unwrap();
        let scenario_dir = tempfile::tempdir().unwrap();
        let scenario = write_scenario(
            scenario_dir.path(),
            "[[task]]\nname = \"calm\"\nkind = \"polling\"\ninterval = \"20ms\"\n",
        );
        let report_file = scenario_dir.path().join("report.jsonl");
        let child = start_run(
            &scenario,
            tmp.path(),
            &["--report", report_file.to_str().unwrap()],
            "spawned",
        );
        signal(&child, name);
        let o = wait_bounded(child);
        assert!(o.status.success(), "SIG{name}: {}", stderr(&o));
        let rows = std::fs::read_to_string(&report_file).unwrap();
        let calm: Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
        assert_eq!(calm["state"], "stopped", "SIG{name}");
        assert_eq!(calm["journal_verified"], true);
        assert!(
            tmp_is_empty(tmp.path()),
            "SIG{name} left the journal directory"
        );
    }
}

#[test]
fn a_second_signal_aborts_what_is_left_and_a_third_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario_dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(scenario_dir.path(), HARD_TO_STOP);
    let report_file = scenario_dir.path().join("report.jsonl");
    let child = start_run(
        &scenario,
        tmp.path(),
        &["--grace", "1h", "--report", report_file.to_str().unwrap()],
        "spawned",
    );
    wait_for_pool_to_start(tmp.path());
    signal(&child, "INT");
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(&child, "INT");
    let o = wait_bounded(child);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = std::fs::read_to_string(&report_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let state = |task: &str| rows.iter().find(|r| r["task"] == task).unwrap()["state"].clone();
    assert_eq!(state("mule"), "aborted", "not left to its hour of grace");
    assert_eq!(state("hog"), "abandoned");
    assert_eq!(state("pool"), "abandoned");
    assert!(tmp_is_empty(tmp.path()));

    // Served over TCP with a generated token: its file is a secret, and goes with the socket.
    let child = start_run(
        &scenario,
        tmp.path(),
        &["--grace", "1h", "--serve", "tcp:127.0.0.1:0"],
        "spawned",
    );
    // SAFETY: geteuid has no preconditions.
    let runtime_dir = tmp
        .path()
        .join(format!("taskmon-{}", unsafe { libc::geteuid() }));
    let token_file = runtime_dir.join(format!("{}.token", child.id()));
    assert!(token_file.exists());
    for _ in 0..3 {
        signal(&child, "TERM");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = wait_bounded(child);
    assert_eq!(o.status.code(), Some(128 + 15), "{}", stderr(&o));
    assert!(
        !token_file.exists(),
        "the third signal left the token behind"
    );
    std::fs::remove_dir(&runtime_dir).expect("nothing else left in taskmon's directory");
    assert!(
        tmp_is_empty(tmp.path()),
        "the third signal still removed the directory"
    );
}

#[test]
fn blocking_code_cannot_keep_a_run_from_ending() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(temp.path(), HARD_TO_STOP);
    let started = std::time::Instant::now();
    let o = taskmon_limited(
        "true",
        &[
            "run",
            "--scenario",
            &scenario,
            "--for",
            "1s",
            "--grace",
            "1s",
            "--json",
        ],
        temp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(report(&lines, "mule")["state"], "escalated");
    assert_eq!(report(&lines, "hog")["state"], "abandoned");
    assert_eq!(report(&lines, "pool")["state"], "abandoned");
    let end = lines.iter().find(|l| l["type"] == "end").unwrap();
    assert_eq!(end["reason"], "time_up");
    // --for 1s, grace 1s, one second for the abort to land: the ending is bounded.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_closed_stdout_ends_the_run_gracefully_and_quietly() {
    use std::io::BufRead;
    let temp = tempfile::tempdir().unwrap();
    let journals = temp.path().join("journals");
    let report_file = temp.path().join("report.jsonl");
    let mut child = Command::new(TASKMON)
        .args(["run", "--journal-dir", journals.to_str().unwrap()])
        .args(["--report", report_file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone, as after `| head -1`.
    let o = wait_bounded(child);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        format!("taskmon: journals kept in {}", journals.display())
    );
    let mut rows: Vec<Value> = std::fs::read_to_string(&report_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = rows.pop().unwrap();
    assert_eq!(
        end["reason"], "output_closed",
        "the report file ends with why"
    );
    // The children (two of `parent`, one of `detached`) exist only if their parents ran before
    // the shutdown began.
    assert!((13..=16).contains(&rows.len()), "{}", rows.len());
    for row in &rows {
        let state = row["state"].as_str().unwrap();
        assert!(
            ["stopped", "escalated", "abandoned", "dropped"].contains(&state),
            "shut down as Ctrl-C does: {row}"
        );
        assert_eq!(row["journal_verified"], true, "{row}");
    }
}

#[test]
fn keep_journals_says_where_they_are() {
    let o = taskmon(&["run", "--for", "200ms", "--keep-journals"]);
    assert!(o.status.success());
    let err = stderr(&o);
    let dir = err
        .trim()
        .strip_prefix("taskmon: journals kept in ")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(Path::new(dir).join("00001-polling.journal").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tasks_without_a_journal_show_no_journal_figures() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"light\"\nkind = \"select\"\ninterval = \"10ms\"\njournal = false\n",
    );
    let o = taskmon(&["run", "--scenario", &scenario, "--for", "200ms"]);
    assert!(o.status.success());
    let row = stdout(&o)
        .lines()
        .find(|l| l.trim_start().starts_with("1  light"))
        .unwrap()
        .to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[cells.len() - 3..], ["-", "-", "off"], "{row}");
}

#[test]
fn a_reader_that_stops_reading_neither_holds_the_run_nor_loses_the_report() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"crowd\"\nkind = \"select\"\ncount = 3000\ninterval = \"50ms\"\njournal = false\n",
    );
    let report_file = temp.path().join("report.jsonl");
    // The pipe's reader is alive (a paused pager) and reads nothing: 3,000 spawns fill it.
    let (reader, writer) = std::io::pipe().unwrap();
    let child = Command::new(TASKMON)
        .args(["run", "--scenario", &scenario, "--for", "1s"])
        .args(["--report", report_file.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_bounded(child);
    drop(reader);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the reader of stdout stopped reading"),
        "says so: {}",
        stderr(&o)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&report_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reports = lines.iter().filter(|l| l["type"] == "report");
    assert_eq!(reports.clone().count(), 3000);
    assert!(reports.clone().all(|r| r["state"] == "stopped"));
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["reason"], "time_up");
    assert!(end["events_dropped"].is_u64());
}

#[test]
fn run_json_reports_each_tasks_polls_warnings_and_location() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"hog\"\nkind = \"blocking\"\nbusy = \"30ms\"\ninterval = \"100ms\"\n\
         [[task]]\nname = \"quick\"\nkind = \"select\"\ninterval = \"10ms\"\n",
    );
    let o = taskmon(&["run", "--json", "--for", "1s", "--scenario", &scenario]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let report = |task: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "report" && l["task"] == task)
            .unwrap()
            .clone()
    };
    let hog = report("hog");
    assert!(hog["polls"].as_u64().unwrap() > 0, "{hog}");
    assert!(hog["slow_polls"].as_u64().unwrap() > 0, "{hog}");
    // 30 ms less the poll clock's calibration error (a thousandth at most; see tests/polls.rs).
    assert!(hog["max_poll_ms"].as_f64().unwrap() >= 29.97, "{hog}");
    assert!(hog["busy_ms"].as_f64().unwrap() >= 29.97, "{hog}");
    assert_eq!(hog["warnings"], serde_json::json!(["blocked"]));
    assert_eq!(hog["location"], format!("{scenario}:2"));
    let quick = report("quick");
    assert!(quick["polls"].as_u64().unwrap() > 50, "{quick}");
    assert_eq!(quick["slow_polls"], 0);
    assert!(
        quick["max_poll_ms"].as_f64().unwrap() < 10.0,
        "well under the threshold: {quick}"
    );
    assert_eq!(quick["warnings"], serde_json::json!([]));
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "long_poll" && l["task"] == "hog"),
        "long polls are events"
    );
}

#[test]
fn log_and_metrics_options_refuse_what_is_wrong_before_anything_runs() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["run", "--log", "taskmon=[", "--for", "1s"],
            "bad --log filter `taskmon=[`",
        ),
        (
            &["run", "--metrics", "0.0.0.0:9184", "--for", "1s"],
            "--metrics 0.0.0.0:9184 listens where other machines can reach it; add --allow-remote",
        ),
        (
            &["run", "--metrics", "127.0.0.1:0", "--for", "1s"],
            "give a port",
        ),
        (
            &["run", "--allow-remote", "--for", "1s"],
            "neither is given",
        ),
    ];
    for (args, expected) in cases {
        let o = taskmon(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(
            stdout(&o).is_empty(),
            "{args:?}: nothing ran: {}",
            stdout(&o)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let o = taskmon(&[
        "run",
        "--log",
        "info",
        "--log-file",
        dir.path().to_str().unwrap(),
        "--for",
        "1s",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the log to"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_logs_lifecycle_events_to_stderr_and_keeps_stdout_for_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "grace = \"100ms\"\n[[task]]\nname = \"hog\"\nkind = \"stubborn\"\ninterval = \"20ms\"\n[[at]]\nafter = \"100ms\"\nstop = \"hog\"\n",
    )
    .unwrap();
    let o = taskmon(&[
        "run",
        "--json",
        "--log",
        "taskmon=info",
        "--for",
        "1s",
        "--scenario",
        scenario.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for line in stdout(&o).lines() {
        serde_json::from_str::<Value>(line).expect("stdout holds only JSON");
    }
    let log = stderr(&o);
    let has = |level: &str, event: &str| {
        log.lines().any(|l| {
            l.contains(level) && l.contains(&format!("event=\"{event}\"")) && l.contains("hog")
        })
    };
    assert!(has("INFO", "stop_requested"), "{log}");
    assert!(has("WARN", "escalated"), "{log}");
    // `info`: the debug events (spawned, joined) are filtered out.
    assert!(!log.contains("event=\"spawned\""), "{log}");
}

#[test]
fn run_json_reports_the_frames_readers_count_as_their_own_counters() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"safe\"\nkind = \"select-safe\"\ninterval = \"50ms\"\n\
         [[task]]\nname = \"unsafe\"\nkind = \"select-unsafe\"\ninterval = \"50ms\"\n",
    );
    let o = taskmon(&["run", "--json", "--for", "1s", "--scenario", &scenario]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    for task in ["safe", "unsafe"] {
        let report = report(&lines, task);
        let counters = &report["counters"];
        let received = counters["frames_received"].as_u64().unwrap();
        let lost = counters["frames_lost"].as_u64().unwrap();
        assert!(received > 0, "{report}");
        // The note says the same figures in words.
        assert_eq!(
            report["note"],
            format!("frames: {received} received, {lost} lost"),
            "{report}"
        );
        if task == "safe" {
            assert_eq!(lost, 0, "{report}");
        }
    }
}

#[test]
fn a_scenario_this_machine_cannot_hold_is_refused_up_front_with_the_numbers() {
    let temp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"m\"\nkind = \"select\"\ncount = 1000000\njournal = false\n",
    );
    // 1 GiB of address space: room for taskmon itself, not for a million tasks.
    let o = taskmon_limited(
        "ulimit -v 1048576",
        &["run", "--scenario", &scenario],
        temp.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("its 1000000 tasks need about"), "{err}");
    assert!(
        err.contains("the address-space limit (ulimit -v) leaves 1.0 GiB"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing ran: {}", stdout(&o));
    assert!(!err.contains("panicked"));

    // The same limit holds a thousand of them.
    let scenario = write_scenario(
        temp.path(),
        "[[task]]\nname = \"m\"\nkind = \"select\"\ncount = 1000\njournal = false\n",
    );
    let o = taskmon_limited(
        "ulimit -v 1048576",
        &["run", "--scenario", &scenario, "--for", "200ms"],
        temp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("totals: 1000 tasks"), "{}", stdout(&o));
}
