//! The real binary in a real pseudo-terminal: keys go in, the screen is read back with a terminal
//! emulator (vt100), and the terminal must be given back on every way out.

#[path = "support/pty.rs"]
mod pty;

use pty::Session;

const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon");

const SCENARIO: &str = r#"
grace = "1s"
[[task]]
name = "first"
kind = "polling"
interval = "100ms"
flush_every = 4
[[task]]
name = "second"
kind = "polling"
interval = "100ms"
flush_every = 4
[[task]]
name = "boom"
kind = "panicky"
interval = "50ms"
panic_after = 3
"#;

/// Starts taskmon on the e2e scenario; the directory lives as long as the session.
fn start(envs: &[(&str, &str)]) -> (Session, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("e2e.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let session = Session::start(&["--scenario".as_ref(), scenario.as_os_str()], envs);
    (session, dir)
}

/// The ticks shown on the row of `task`: the first number after its state.
fn ticks(s: &Session, task: &str) -> u64 {
    s.row(task)
        .split_whitespace()
        .skip_while(|w| *w != "running")
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

#[test]
fn s_stops_k_aborts_and_q_quits_with_the_terminal_restored() {
    let (mut s, _dir) = start(&[]);
    s.wait_until("the tasks tick", |s| {
        ticks(s, "first") >= 3 && ticks(s, "second") >= 3
    });
    s.wait_until("the panicky task panicked", |s| {
        s.row("boom").contains("panicked")
    });
    assert!(
        s.parser.lock().unwrap().screen().alternate_screen(),
        "a task's panic left the dashboard on screen"
    );
    assert!(
        !s.screen().contains("panicked at"),
        "nothing printed over the dashboard"
    );

    s.keys("s");
    s.wait_until("first is stopped", |s| s.row("first").contains("stopped"));
    s.keys("\x1b[B");
    s.keys("k");
    s.wait_until("second is aborted", |s| s.row("second").contains("aborted"));
    assert!(s.row("first").contains(" ran "), "{}", s.row("first"));
    assert!(s.row("second").contains("skipped"), "{}", s.row("second"));

    s.keys("q");
    let status = s.wait_for_exit();
    assert!(status.success(), "{status:?}");
    s.assert_terminal_restored();
    let summary = s.screen();
    assert!(summary.contains("every task has been joined"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.contains("first") && l.contains("stopped")),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l.contains("second") && l.contains("aborted")),
        "{summary}"
    );
}

#[test]
fn sigterm_quits_gracefully_and_restores_the_terminal() {
    let (mut s, _dir) = start(&[]);
    s.wait_until("the tasks tick", |s| ticks(s, "first") >= 2);
    let pid = s.child.process_id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = s.wait_for_exit();
    assert!(status.success(), "{status:?}");
    s.assert_terminal_restored();
    assert!(s.screen().contains("every task has been joined"));
}

#[test]
fn a_crash_of_the_dashboard_itself_restores_the_terminal_first() {
    let (mut s, _dir) = start(&[("TASKMON_TEST_CRASH", "1")]);
    s.wait_until("the dashboard is up", |s| {
        s.screen().contains("tasks 1-3 of 3")
    });
    s.keys("!");
    let status = s.wait_for_exit();
    assert!(!status.success());
    s.assert_terminal_restored();
    let output = String::from_utf8_lossy(&s.raw.lock().unwrap()).into_owned();
    let message = output
        .find("crashed on purpose")
        .expect("the panic message was printed");
    let left_alternate_screen = output
        .find("\x1b[?1049l")
        .expect("left the alternate screen");
    assert!(
        left_alternate_screen < message,
        "the terminal was given back before the message, so it stays readable"
    );
}

#[test]
fn quitting_three_times_leaves_at_once_with_the_terminal_restored() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("stuck.toml");
    std::fs::write(
        &scenario,
        "grace = \"1h\"\n[[task]]\nname = \"hog\"\nkind = \"blocking\"\nbusy = \"1h\"\n\
         [[task]]\nname = \"mule\"\nkind = \"stubborn\"\n",
    )
    .unwrap();
    let mut s = Session::start(&["--scenario".as_ref(), scenario.as_os_str()], &[]);
    s.wait_until("the dashboard is up", |s| {
        s.screen().contains("tasks 1-2 of 2")
    });
    s.keys("q");
    s.wait_until("it is quitting", |s| {
        s.screen().contains("Stopping every task")
    });
    s.keys("q");
    s.wait_until("the second q aborted", |s| {
        s.screen().contains("abort requested for 2 task(s)")
    });
    s.keys("q");
    let status = s.wait_for_exit();
    assert_eq!(status.exit_code(), 128 + 2, "left at once, as after Ctrl-C");
    s.assert_terminal_restored();
}

#[test]
fn filter_sort_and_fold_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("family.toml");
    std::fs::write(
        &scenario,
        "[[task]]\nname = \"zulu\"\nkind = \"polling\"\n\
         [[task]]\nname = \"alpha\"\nkind = \"select\"\n\
         [[task]]\nname = \"family\"\nkind = \"parent\"\nchildren = 2\n",
    )
    .unwrap();
    let mut s = Session::start(&["--scenario".as_ref(), scenario.as_os_str()], &[]);
    s.wait_until("the children are up", |s| {
        s.screen().contains("tasks 1-5 of 5")
    });

    s.keys("/alpha");
    s.wait_until("the filter shows one row", |s| {
        s.screen().contains("showing 1 of 5")
    });
    s.keys("\r");
    assert!(s.row("zulu").is_empty(), "{}", s.screen());
    assert!(!s.row("alpha").is_empty());
    s.keys("\x1b");
    s.wait_until("the filter is cleared", |s| {
        s.screen().contains("tasks 1-5 of 5")
    });

    // Sorted by name, then turned around: zulu comes first.
    let first_row = |s: &Session| {
        let screen = s.screen();
        let mut rows = screen
            .lines()
            .skip_while(|l| !(l.starts_with('│') && l.contains(" kind ") && l.contains(" state ")));
        rows.nth(1).unwrap_or_default().to_string()
    };
    s.keys(">");
    s.wait_until("sorted by name", |s| first_row(s).contains("alpha"));
    s.keys("I");
    s.wait_until("turned around", |s| first_row(s).contains("zulu"));

    // The tree, with the family folded.
    s.keys("<t");
    s.wait_until("the tree view", |s| s.screen().contains("· tree"));
    assert!(s.row("family.child2").contains('└'), "{}", s.screen());
    s.keys("\x1b[F\x1b[A\x1b[A");
    s.keys("\x1b[D");
    s.wait_until("the family is folded", |s| s.row("family").contains("(+2)"));
    assert!(s.row("family.child1").is_empty(), "{}", s.screen());
    s.keys("\x1b[C");
    s.wait_until("and unfolded", |s| !s.row("family.child1").is_empty());

    s.keys("q");
    assert!(s.wait_for_exit().success());
    s.assert_terminal_restored();
}

/// `taskmon run --serve` of the e2e scenario at `socket`, in a process of its own.
fn serve(dir: &std::path::Path, socket: &std::path::Path) -> std::process::Child {
    let scenario = dir.join("served.toml");
    // A task nobody touches keeps the run going.
    let lasting = "[[task]]\nname = \"third\"\nkind = \"polling\"\n";
    std::fs::write(&scenario, format!("{SCENARIO}{lasting}")).unwrap();
    let child = std::process::Command::new(TASKMON)
        .args(["run", "--for", "60s", "--serve"])
        .arg(socket)
        .arg("--scenario")
        .arg(&scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the program never served"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

#[test]
fn attach_stops_and_aborts_in_another_program_and_q_leaves_it_running() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("served.sock");
    let mut program = serve(dir.path(), &socket);
    let mut s = Session::start(&["attach".as_ref(), socket.as_os_str()], &[]);
    s.wait_until("the program's tasks tick", |s| {
        ticks(s, "first") >= 2 && s.screen().contains("unix:")
    });
    s.keys("s");
    s.wait_until("first is stopped, in the other program", |s| {
        s.row("first").contains("stopped")
    });
    s.keys("\x1b[B");
    s.keys("k");
    s.wait_until("second is aborted", |s| s.row("second").contains("aborted"));
    assert!(s.row("first").contains(" ran "), "{}", s.row("first"));

    s.keys("q");
    let status = s.wait_for_exit();
    assert!(status.success(), "{status:?}");
    s.assert_terminal_restored();
    assert!(
        program.try_wait().unwrap().is_none(),
        "q detached: the program runs on"
    );
    let list = std::process::Command::new(TASKMON)
        .arg("ctl")
        .arg(&socket)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let state = |name: &str| {
        rows.iter()
            .find(|r| r["task"] == name)
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("first").as_deref(), Some("stopped"));
    assert_eq!(state("second").as_deref(), Some("aborted"));
    let _ = program.kill();
    let _ = program.wait();
}

#[test]
fn an_attached_dashboard_reconnects_when_the_program_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("served.sock");
    let mut program = serve(dir.path(), &socket);
    let mut s = Session::start(&["attach".as_ref(), socket.as_os_str()], &[]);
    s.wait_until("attached", |s| ticks(s, "first") >= 1);

    let _ = program.kill();
    let _ = program.wait();
    s.wait_until("the loss is shown", |s| {
        s.screen().contains("disconnected — reconnecting")
    });
    let _ = std::fs::remove_file(&socket);
    let mut again = serve(dir.path(), &socket);
    s.wait_until("connected again, to the new program", |s| {
        !s.screen().contains("disconnected") && ticks(s, "first") >= 1
    });
    s.keys("q");
    assert!(s.wait_for_exit().success());
    s.assert_terminal_restored();
    let _ = again.kill();
    let _ = again.wait();
}
