//! Ticking: 10,000 tasks under the supervisor against the same loop on bare tokio.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Rounds, TASKS, process_cpu, row, runtime};

/// The loops both sides run.
#[derive(Clone, Copy)]
pub enum Loop {
    /// The benchmark's own loop: one `interval`, `biased` towards the token.
    BiasedInterval(Duration),
    /// The loop people write: `select!` on the token and a fresh `sleep` each tick.
    Sleep(Duration),
}

pub async fn run_loop(
    kind: Loop,
    token: CancellationToken,
    start: Arc<Notify>,
    mut tick: impl FnMut(),
) {
    start.notified().await;
    match kind {
        Loop::BiasedInterval(every) => {
            let mut timer = tokio::time::interval(every);
            loop {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => break,
                    _ = timer.tick() => tick(),
                }
            }
        }
        Loop::Sleep(every) => loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(every) => tick(),
            }
        },
    }
}

/// What one side did in the measured window.
pub struct Window {
    pub ticks: u64,
    pub cpu: Duration,
}

const WINDOW: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
/// The accounting's cost is a few percent, inside this machine's noise over three rounds.
const ROUNDS_ON_OFF: usize = 7;

pub fn rows() {
    let biased = rounds(Loop::BiasedInterval(Duration::from_millis(1)));
    let mut ticks = Rounds::default();
    for (ours, bare) in &biased {
        ticks.push(ours.ticks as f64, bare.ticks as f64);
    }
    row(
        "tick 10k @1ms interval: ticks",
        format!("{:.0}", ticks.median_ours()),
        format!("{:.0}", ticks.median_bare()),
        ticks.ratios(),
        ">= 0.95 of bare",
    );
    for every in [1, 10] {
        let kind = Loop::Sleep(Duration::from_millis(every));
        let per_cpu = per_cpu(&rounds(kind));
        row(
            &format!("tick 10k @{every}ms sleep: ticks/CPU-s"),
            format!("{:.0}", per_cpu.median_ours()),
            format!("{:.0}", per_cpu.median_bare()),
            per_cpu.ratios(),
            ">= 0.9 of bare",
        );
    }
    // The poll accounting (on by default) against the same supervisor without it: what timing
    // every poll costs the loop people write.
    for every in [1, 10] {
        let kind = Loop::Sleep(Duration::from_millis(every));
        let per_cpu = per_cpu(&alternated(
            ROUNDS_ON_OFF,
            || supervised_with(kind, true),
            || supervised_with(kind, false),
        ));
        row(
            &format!("tick 10k @{every}ms sleep: polls on vs off, ticks/CPU-s"),
            format!("{:.0}", per_cpu.median_ours()),
            format!("{:.0}", per_cpu.median_bare()),
            per_cpu.ratios(),
            ">= 0.95 of accounting off",
        );
    }
}

/// Ticks per CPU-second of both sides, round by round.
fn per_cpu(measured: &[(Window, Window)]) -> Rounds {
    let mut per_cpu = Rounds::default();
    for (ours, bare) in measured {
        per_cpu.push(
            ours.ticks as f64 / ours.cpu.as_secs_f64(),
            bare.ticks as f64 / bare.cpu.as_secs_f64(),
        );
    }
    per_cpu
}

/// Both sides, alternated, `ROUNDS` times: (taskmon, bare) per round.
fn rounds(kind: Loop) -> Vec<(Window, Window)> {
    alternated(ROUNDS, || supervised(kind), || bare(kind))
}

/// `ours` and `theirs`, `rounds` times, each going first every other round: (ours, theirs).
fn alternated(
    rounds: usize,
    ours: impl Fn() -> Window,
    theirs: impl Fn() -> Window,
) -> Vec<(Window, Window)> {
    (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let theirs = theirs();
                (ours(), theirs)
            } else {
                let ours = ours();
                (ours, theirs())
            }
        })
        .collect()
}

/// Lets the tasks settle, then measures ticks and CPU over the window.
pub async fn measure(start: &Notify, total: impl Fn() -> u64) -> Window {
    tokio::time::sleep(Duration::from_millis(200)).await;
    start.notify_waiters();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ticks, cpu) = (total(), process_cpu());
    tokio::time::sleep(WINDOW).await;
    Window {
        ticks: total() - ticks,
        cpu: process_cpu() - cpu,
    }
}

fn bare(kind: Loop) -> Window {
    runtime().block_on(async {
        let start = Arc::new(Notify::new());
        // One token and one counter per task, as the supervisor gives each task its own.
        let counters: Vec<_> = (0..TASKS).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let tasks: Vec<_> = counters
            .iter()
            .map(|counter| {
                let (counter, token) = (counter.clone(), CancellationToken::new());
                let task = tokio::spawn(run_loop(kind, token.clone(), start.clone(), move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                }));
                (token, task)
            })
            .collect();
        let window = measure(&start, || {
            counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
        })
        .await;
        for (token, _) in &tasks {
            token.cancel();
        }
        for (_, task) in tasks {
            task.await.unwrap();
        }
        window
    })
}

fn supervised(kind: Loop) -> Window {
    supervised_with(kind, true)
}

/// The supervised side, with or without the poll accounting.
fn supervised_with(kind: Loop, poll_stats: bool) -> Window {
    runtime().block_on(async {
        let sup = Supervisor::builder()
            .poll_stats(poll_stats)
            .build()
            .unwrap();
        let start = spawn_tickers(&sup, kind);
        let window = measure(&start, || sup.tick_counts().iter().sum()).await;
        sup.shutdown(Duration::from_secs(5)).await;
        window
    })
}

/// `TASKS` supervised tasks running `kind` without journals, started by the notify returned.
pub fn spawn_tickers(sup: &Supervisor, kind: Loop) -> Arc<Notify> {
    let start = Arc::new(Notify::new());
    for i in 0..TASKS {
        let start = start.clone();
        let def = TaskDef::new(format!("t{i}"), move |mut ctx| async move {
            let token = ctx.token().clone();
            run_loop(kind, token, start, || {
                ctx.tick();
            })
            .await;
        })
        .journal(JournalConfig::OFF);
        sup.spawn(def).unwrap();
    }
    start
}

/// Two rows, the ordinary loop at 1 ms and at 10 ms: ticks per CPU-second of `run(kind, true)`
/// against `run(kind, false)`, alternated over `rounds`.
pub fn on_vs_off_rows(name: &str, target: &str, rounds: usize, run: impl Fn(Loop, bool) -> Window) {
    for every in [1, 10] {
        let kind = Loop::Sleep(Duration::from_millis(every));
        let mut per_cpu = Rounds::default();
        for round in 0..rounds {
            let (on, off) = if round % 2 == 0 {
                let off = run(kind, false);
                (run(kind, true), off)
            } else {
                let on = run(kind, true);
                (on, run(kind, false))
            };
            per_cpu.push(
                on.ticks as f64 / on.cpu.as_secs_f64(),
                off.ticks as f64 / off.cpu.as_secs_f64(),
            );
        }
        row(
            &format!("tick 10k @{every}ms: {name}"),
            format!("{:.0}", per_cpu.median_ours()),
            format!("{:.0}", per_cpu.median_bare()),
            per_cpu.ratios(),
            target,
        );
    }
}
