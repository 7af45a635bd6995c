//! What serving costs the program: its tasks' ticks with a dashboard attached, and with a
//! watcher that stopped reading, against the same program not serving, in the same run.

use std::time::Duration;

use taskmon::serve::Endpoint;
use taskmon::{JournalConfig, Supervisor, TaskDef};

use super::ticks::{Loop, Window, measure, spawn_tickers};
use super::{Rounds, TASKMON, TASKS, pty, row, runtime};

const ROUNDS: usize = 3;

/// Who is connected while the ticks are counted.
#[derive(Clone, Copy, PartialEq)]
enum Client {
    Nobody,
    /// `taskmon attach` in a pseudo-terminal: frames at 10 a second.
    Dashboard,
    /// `taskmon ctl watch` whose output nobody reads: it stops reading the socket.
    StuckWatcher,
}

pub fn rows() {
    for (client, name) in [
        (Client::Dashboard, "served, a dashboard attached: ticks"),
        (Client::StuckWatcher, "served, a watcher not reading: ticks"),
    ] {
        let mut ticks = Rounds::default();
        for round in 0..ROUNDS {
            let (ours, plain) = if round % 2 == 0 {
                let plain = program(Client::Nobody);
                (program(client), plain)
            } else {
                let ours = program(client);
                (ours, program(Client::Nobody))
            };
            ticks.push(ours.ticks as f64, plain.ticks as f64);
        }
        row(
            name,
            format!("{:.0}", ticks.median_ours()),
            format!("{:.0}", ticks.median_bare()),
            ticks.ratios(),
            ">= 0.95 of not serving",
        );
    }
}

/// 10,000 tasks ticking every 10 ms, and a task that spawns a short-lived child every
/// millisecond so that events keep coming; `client` connected to it over a Unix socket.
fn program(client: Client) -> Window {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bench.sock");
    runtime().block_on(async {
        let sup = Supervisor::new().unwrap();
        let start = spawn_tickers(&sup, Loop::Sleep(Duration::from_millis(10)));
        sup.spawn(
            TaskDef::new("churn", |ctx| async move {
                let mut n = 0u64;
                while !ctx.is_cancelled() {
                    n += 1;
                    let brief = TaskDef::new(format!("brief-{n}"), |_| async {});
                    let _ = ctx.spawn_child(brief.journal(JournalConfig::OFF));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .journal(JournalConfig::OFF),
        )
        .unwrap();
        let server =
            (client != Client::Nobody).then(|| sup.serve(Endpoint::Unix(socket.clone())).unwrap());
        let _client = match client {
            Client::Nobody => None,
            Client::Dashboard => {
                let s = pty::Session::start(&["attach".as_ref(), socket.as_os_str()], &[]);
                Some(Connected::Dashboard(s))
            }
            Client::StuckWatcher => {
                let child = std::process::Command::new(TASKMON)
                    .arg("ctl")
                    .arg(&socket)
                    .arg("watch")
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                Some(Connected::Watcher(child))
            }
        };
        let window = measure(&start, || sup.tick_counts().iter().take(TASKS).sum()).await;
        sup.shutdown(Duration::from_secs(5)).await;
        drop(server);
        window
    })
}

/// Ends the client with the round.
enum Connected {
    Dashboard(pty::Session),
    Watcher(std::process::Child),
}

impl Drop for Connected {
    fn drop(&mut self) {
        match self {
            Connected::Dashboard(s) => {
                let _ = s.child.kill();
            }
            Connected::Watcher(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
