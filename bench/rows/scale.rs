//! 100,000 tasks, each side in a process of its own so that its peak memory is its own: ticks over
//! the same window (spawning excluded on both sides), stop all and join, peak resident memory;
//! and `taskmon run` of a 100,000-task scenario, whose slowest reported stop latency is set
//! against bare tokio's cancel-and-join of the same tasks.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio_util::sync::CancellationToken;

use super::{Rounds, TASKMON, row, runtime_with};

/// Set in a child process: which side it measures (`bare` or `taskmon`) and with how many
/// workers, as `bare:2`.
pub const CHILD: &str = "TASKMON_BENCH_CHILD";

const TASKS: usize = 100_000;
const ROUNDS: usize = 3;
const INTERVAL: Duration = Duration::from_millis(100);
const WINDOW: Duration = Duration::from_secs(3);

/// What a child process reports.
struct Measured {
    ticks: u64,
    stop: Duration,
    peak_kib: u64,
}

pub fn rows() {
    let (mut ticks, mut stop, mut memory) =
        (Rounds::default(), Rounds::default(), Rounds::default());
    for round in 0..ROUNDS {
        let (ours, bare) = if round % 2 == 0 {
            let bare = in_child("bare", 2);
            (in_child("taskmon", 2), bare)
        } else {
            let ours = in_child("taskmon", 2);
            (ours, in_child("bare", 2))
        };
        ticks.push(ours.ticks as f64, bare.ticks as f64);
        stop.push(ours.stop.as_secs_f64(), bare.stop.as_secs_f64());
        memory.push(ours.peak_kib as f64, bare.peak_kib as f64);
    }
    row(
        "100k: ticks in 3s",
        format!("{:.0}", ticks.median_ours()),
        format!("{:.0}", ticks.median_bare()),
        ticks.ratios(),
        ">= 0.95 of bare",
    );
    stop.time_row("100k: stop_all + join", "<= 2x bare");
    row(
        "100k: peak RSS",
        format!("{:.1} MiB", memory.median_ours() / 1024.0),
        format!("{:.1} MiB", memory.median_bare() / 1024.0),
        memory.ratios(),
        "<= 2x bare",
    );

    // `taskmon run` gives its tasks a runtime of at least four workers; the bare side gets as many.
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    let mut slowest = Rounds::default();
    let mut run_memory = Vec::new();
    for round in 0..ROUNDS {
        let (ours, bare) = if round % 2 == 0 {
            let bare = in_child("bare", workers);
            (taskmon_run(), bare)
        } else {
            let ours = taskmon_run();
            (ours, in_child("bare", workers))
        };
        slowest.push(ours.stop.as_secs_f64(), bare.stop.as_secs_f64());
        run_memory.push(ours.peak_kib as f64 / 1024.0);
    }
    slowest.time_row("run 100k: slowest stop latency", "<= 2x bare cancel+join");
    let (_, median, _) = super::spread(run_memory);
    row(
        "run 100k: peak RSS",
        format!("{median:.1} MiB"),
        "-".into(),
        "-".into(),
        "events and report included",
    );
}

fn in_child(side: &str, workers: usize) -> Measured {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, format!("{side}:{workers}"))
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    Measured {
        ticks: fields[0],
        stop: Duration::from_nanos(fields[1]),
        peak_kib: fields[2],
    }
}

/// Runs in the child process: spawn, tick through the window, stop and join, report.
pub fn child(mode: &str) {
    let (side, workers) = mode.split_once(':').unwrap();
    let measured = runtime_with(workers.parse().unwrap()).block_on(async {
        match side {
            "bare" => bare().await,
            _ => supervised().await,
        }
    });
    println!(
        "{} {} {}",
        measured.ticks,
        measured.stop.as_nanos(),
        peak_kib(std::process::id())
    );
}

async fn bare() -> Measured {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let token = CancellationToken::new();
            let counter = Arc::new(AtomicU64::new(0));
            let (cancelled, ticks) = (token.clone(), counter.clone());
            let task = tokio::spawn(async move {
                let mut timer = tokio::time::interval(INTERVAL);
                timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        biased;
                        _ = cancelled.cancelled() => break,
                        _ = timer.tick() => { ticks.fetch_add(1, Ordering::Relaxed); }
                    }
                }
                black_box(());
            });
            (token, counter, task)
        })
        .collect();
    let total = || -> u64 {
        tasks
            .iter()
            .map(|(_, c, _)| c.load(Ordering::Relaxed))
            .sum()
    };
    let ticks = window(total).await;
    let started = Instant::now();
    for (token, _, _) in &tasks {
        token.cancel();
    }
    for (_, _, task) in tasks {
        task.await.unwrap();
    }
    Measured {
        ticks,
        stop: started.elapsed(),
        peak_kib: 0,
    }
}

async fn supervised() -> Measured {
    let sup = Supervisor::new().unwrap();
    for i in 0..TASKS {
        // The bare side's loop, written as a library user writes it.
        let def = TaskDef::new(format!("t{i}"), |mut ctx| async move {
            let cancelled = ctx.token().clone();
            let mut timer = tokio::time::interval(INTERVAL);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = cancelled.cancelled() => break,
                    _ = timer.tick() => { ctx.tick(); }
                }
            }
            black_box(());
        })
        .journal(JournalConfig::OFF);
        sup.spawn(def).unwrap();
    }
    let ticks = window(|| sup.tick_counts().iter().sum()).await;
    let started = Instant::now();
    sup.shutdown(Duration::from_secs(3)).await;
    Measured {
        ticks,
        stop: started.elapsed(),
        peak_kib: 0,
    }
}

/// Ticks over the window, after the tasks have settled.
async fn window(total: impl Fn() -> u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = total();
    tokio::time::sleep(WINDOW).await;
    total() - before
}

/// `taskmon run` of 100,000 `select` tasks stopped all at once at 3 s, its slowest stop latency
/// read from `--report`, its peak memory from /proc.
fn taskmon_run() -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("100k.toml");
    std::fs::write(
        &scenario,
        "[[task]]\nname = \"load\"\nkind = \"select\"\ncount = 100000\ninterval = \"100ms\"\njournal = false\n\
         [[at]]\nafter = \"3s\"\nstop_all = true\n",
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let mut child = Command::new(TASKMON)
        .args(["run", "--scenario"])
        .arg(&scenario)
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_kib(child.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let slowest = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["stop_latency_ms"].as_f64()
        })
        .fold(0.0, f64::max);
    Measured {
        ticks: 0,
        stop: Duration::from_secs_f64(slowest / 1000.0),
        peak_kib: peak,
    }
}

/// Peak resident memory of a process, from /proc.
pub fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}
