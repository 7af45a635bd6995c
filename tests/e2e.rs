//! The real binary in a real pseudo-terminal: keys go in, the screen is read back with a terminal
//! emulator (vt100), and the terminal must be given back on every way out.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

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

struct Session {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn Child + Send + Sync>,
    _dir: tempfile::TempDir,
}

impl Session {
    fn start(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("e2e.toml");
        std::fs::write(&scenario, SCENARIO).unwrap();
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 120,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_taskmon"));
        cmd.arg("--scenario");
        cmd.arg(&scenario);
        cmd.env("TERM", "xterm-256color");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            NonZeroU16::new(40).unwrap(),
            NonZeroU16::new(120).unwrap(),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r, w) = (parser.clone(), raw.clone(), writer.clone());
        std::thread::spawn(move || {
            let _master = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut parser = p.lock().unwrap();
                parser.process(&buf[..n]);
                // Answer cursor-position queries as a real terminal does.
                if buf[..n].windows(4).any(|q| q == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let answer = format!("\x1b[{};{}R", row + 1, col + 1);
                    let _ = w.lock().unwrap().write_all(answer.as_bytes());
                }
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            parser,
            raw,
            writer,
            child,
            _dir: dir,
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// The screen line that mentions `task`.
    fn row(&self, task: &str) -> String {
        self.screen()
            .lines()
            .find(|l| l.contains(&format!(" {task} ")))
            .unwrap_or_default()
            .to_string()
    }

    fn wait_until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !condition(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn keys(&mut self, keys: &str) {
        let mut writer = self.writer.lock().unwrap();
        writer.write_all(keys.as_bytes()).unwrap();
        writer.flush().unwrap();
    }

    fn wait_for_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader drain what the process wrote last.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "taskmon did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_terminal_restored(&self) {
        let parser = self.parser.lock().unwrap();
        assert!(
            !parser.screen().alternate_screen(),
            "left the alternate screen"
        );
        assert!(!parser.screen().hide_cursor(), "cursor shown again");
        let raw = String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned();
        assert!(
            raw.contains("\x1b[?1049l"),
            "leave-alternate-screen was sent"
        );
        assert!(
            raw.contains("\x1b[?1000l"),
            "mouse capture was switched off"
        );
    }

    fn ticks(&self, task: &str) -> u64 {
        let row = self.row(task);
        // Columns: id, name, kind, state…, ticks: the first number after the state words.
        row.split_whitespace()
            .skip_while(|w| *w != "running")
            .nth(1)
            .and_then(|w| w.parse().ok())
            .unwrap_or(0)
    }
}

#[test]
fn s_stops_k_aborts_and_q_quits_with_the_terminal_restored() {
    let mut s = Session::start(&[]);
    s.wait_until("the tasks tick", |s| {
        s.ticks("first") >= 3 && s.ticks("second") >= 3
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
    let mut s = Session::start(&[]);
    s.wait_until("the tasks tick", |s| s.ticks("first") >= 2);
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
    let mut s = Session::start(&[("TASKMON_TEST_CRASH", "1")]);
    s.wait_until("the dashboard is up", |s| {
        s.screen().contains("tasks 1-3 of 3")
    });
    s.keys("!");
    let status = s.wait_for_exit();
    assert!(!status.success());
    s.assert_terminal_restored();
    assert!(
        s.screen().contains("crashed on purpose"),
        "the panic message is readable:\n{}",
        s.screen()
    );
}
