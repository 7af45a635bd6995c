//! A real pseudo-terminal running the taskmon binary, read back with a terminal emulator (vt100).
//! Shared by the end-to-end tests and the benchmarks; each names its binary as `TASKMON`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub struct Session {
    pub parser: Arc<Mutex<vt100::Parser>>,
    pub raw: Arc<Mutex<Vec<u8>>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    pub child: Box<dyn Child + Send + Sync>,
}

impl Session {
    /// Starts `taskmon ARGS` in a 120x40 pseudo-terminal.
    pub fn start(args: &[&std::ffi::OsStr], envs: &[(&str, &str)]) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 120,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(super::TASKMON);
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
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
        }
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// The screen line that mentions `task`.
    /// The table row of `task`: the first line inside a frame that names it, left of the event
    /// log (the status line above the table and the log may name it too).
    pub fn row(&self, task: &str) -> String {
        self.screen()
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| l.split("││").next().unwrap_or_default())
            .find(|l| l.contains(&format!(" {task} ")))
            .unwrap_or_default()
            .to_string()
    }

    pub fn wait_until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !condition(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn keys(&mut self, keys: &str) {
        let mut writer = self.writer.lock().unwrap();
        writer.write_all(keys.as_bytes()).unwrap();
        writer.flush().unwrap();
    }

    pub fn wait_for_exit(&mut self) -> portable_pty::ExitStatus {
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

    pub fn assert_terminal_restored(&self) {
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
}
