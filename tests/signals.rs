//! `Supervisor::shutdown_on_signals` with real signals, in a child process: this test binary run
//! again as the program (`TASKMON_SIGNALS_CHILD`), which prints `ready`, then each task's end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use taskmon::{Supervisor, TaskDef};

const CHILD: &str = "TASKMON_SIGNALS_CHILD";

/// The program: a task that cleans up in 300 ms when asked, and one whose cleanup never ends.
fn program() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sup = Supervisor::builder()
            .grace(Duration::from_secs(30))
            .build()
            .unwrap();
        let cleanup = |name: &str, cleanup: Duration| {
            TaskDef::new(name.to_string(), move |ctx| async move {
                ctx.token().cancelled().await;
                tokio::time::sleep(cleanup).await;
            })
        };
        sup.spawn(cleanup("quick", Duration::from_millis(300)))
            .unwrap();
        if std::env::var(CHILD).unwrap() == "stuck" {
            sup.spawn(cleanup("stuck", Duration::from_secs(3600)))
                .unwrap();
        }
        let shutdown = sup.shutdown_on_signals().unwrap();
        println!("ready");
        shutdown.await;
        for s in sup.snapshot() {
            println!("end {} {}", s.name, s.state);
        }
    });
}

fn start(mode: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // libtest prints `test child ... ` before the program's first line.
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the program ended before it was ready"
        );
    }
    (child, out)
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill takes a pid and a signal number, nothing else.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// The ends the program printed, and how it exited.
fn finish(mut child: Child, out: BufReader<std::process::ChildStdout>) -> (Vec<String>, i32) {
    let ends = out
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("end ").map(str::to_string))
        .collect();
    (ends, child.wait().unwrap().code().unwrap())
}

#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        program();
    }
}

#[test]
fn one_signal_stops_every_task_gracefully_and_the_program_exits_0() {
    let (child, out) = start("quick");
    signal(&child, libc::SIGTERM);
    let (ends, code) = finish(child, out);
    assert_eq!(ends, ["quick stopped"]);
    assert_eq!(code, 0);
}

#[test]
fn a_second_signal_aborts_what_a_graceful_stop_still_waits_for() {
    let (child, out) = start("stuck");
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(600));
    signal(&child, libc::SIGINT);
    let (ends, code) = finish(child, out);
    assert_eq!(ends, ["quick stopped", "stuck aborted"]);
    assert_eq!(code, 0);
}
