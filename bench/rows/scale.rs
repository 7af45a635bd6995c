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

/// Set in a child process: which side it measures (`bare` or `taskmon`), with how many
/// workers, how many tasks ticking every how many milliseconds, as `bare:2:100000:100`.
pub const CHILD: &str = "TASKMON_BENCH_CHILD";

/// One set of rows: how many tasks, how often they tick, how many rounds.
#[derive(Clone, Copy)]
struct Scale {
    tasks: usize,
    interval_ms: u64,
    rounds: usize,
    label: &'static str,
}

impl Scale {
    /// Ticks are counted over this long: at least 3 s, and a tick period and more.
    fn window(&self) -> Duration {
        Duration::from_millis(self.interval_ms + 1000).max(Duration::from_secs(3))
    }
}

const HUNDRED_K: Scale = Scale {
    tasks: 100_000,
    interval_ms: 100,
    rounds: 3,
    label: "100k",
};

/// `assets/million.toml`'s tasks: a million ticking once every 10 s.
const MILLION: Scale = Scale {
    tasks: 1_000_000,
    interval_ms: 10_000,
    rounds: 2,
    label: "1M",
};

/// What a child process reports.
struct Measured {
    ticks: u64,
    spawn: Duration,
    stop: Duration,
    peak_kib: u64,
}

pub fn rows() {
    rows_at(HUNDRED_K);
}

/// The same rows over a million tasks (minutes and gigabytes: only when asked, `-- 1m`).
pub fn million_rows() {
    rows_at(MILLION);
}

fn rows_at(scale: Scale) {
    let Scale { rounds, label, .. } = scale;
    let in_child = |side: &str, workers: usize| in_child(side, workers, scale);
    let (mut ticks, mut spawn, mut stop, mut memory) = (
        Rounds::default(),
        Rounds::default(),
        Rounds::default(),
        Rounds::default(),
    );
    for round in 0..rounds {
        let (ours, bare) = if round % 2 == 0 {
            let bare = in_child("bare", 2);
            (in_child("taskmon", 2), bare)
        } else {
            let ours = in_child("taskmon", 2);
            (ours, in_child("bare", 2))
        };
        ticks.push(ours.ticks as f64, bare.ticks as f64);
        spawn.push(ours.spawn.as_secs_f64(), bare.spawn.as_secs_f64());
        stop.push(ours.stop.as_secs_f64(), bare.stop.as_secs_f64());
        memory.push(ours.peak_kib as f64, bare.peak_kib as f64);
    }
    let million = scale.tasks >= MILLION.tasks;
    row(
        &format!("{label}: ticks in {}s", scale.window().as_secs()),
        format!("{:.0}", ticks.median_ours()),
        format!("{:.0}", ticks.median_bare()),
        ticks.ratios(),
        ">= 0.95 of bare",
    );
    spawn.time_row(
        &format!("{label}: spawn all"),
        if million { "<= 2x bare" } else { "-" },
    );
    stop.time_row(
        &format!("{label}: stop_all + join"),
        if million {
            "<= 1.5x bare"
        } else {
            "<= 1.2x bare"
        },
    );
    row(
        &format!("{label}: peak RSS"),
        format!("{:.1} MiB", memory.median_ours() / 1024.0),
        format!("{:.1} MiB", memory.median_bare() / 1024.0),
        memory.ratios(),
        if million {
            "<= 2x bare"
        } else {
            "<= 1.5x bare"
        },
    );

    // `taskmon run` gives its tasks a runtime of at least four workers; the bare side gets as many.
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    let (mut slowest, mut run_spawn, mut run_memory) =
        (Rounds::default(), Rounds::default(), Rounds::default());
    for round in 0..rounds {
        let (ours, bare) = if round % 2 == 0 {
            let bare = in_child("bare", workers);
            (taskmon_run(scale), bare)
        } else {
            let ours = taskmon_run(scale);
            (ours, in_child("bare", workers))
        };
        slowest.push(ours.stop.as_secs_f64(), bare.stop.as_secs_f64());
        run_spawn.push(ours.spawn.as_secs_f64(), bare.spawn.as_secs_f64());
        run_memory.push(ours.peak_kib as f64, bare.peak_kib as f64);
    }
    run_spawn.time_row(
        &format!("run {label}: spawn all"),
        if million { "<= 2x bare" } else { "-" },
    );
    slowest.time_row(
        &format!("run {label}: slowest stop latency"),
        "<= 1.5x bare cancel+join",
    );
    row(
        &format!("run {label}: peak RSS"),
        format!("{:.1} MiB", run_memory.median_ours() / 1024.0),
        format!("{:.1} MiB", run_memory.median_bare() / 1024.0),
        run_memory.ratios(),
        "<= 2x bare (events and report included)",
    );
}

fn in_child(side: &str, workers: usize, scale: Scale) -> Measured {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(
            CHILD,
            format!("{side}:{workers}:{}:{}", scale.tasks, scale.interval_ms),
        )
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
        spawn: Duration::from_nanos(fields[1]),
        stop: Duration::from_nanos(fields[2]),
        peak_kib: fields[3],
    }
}

/// Runs in the child process: spawn, tick through the window, stop and join, report.
pub fn child(mode: &str) {
    let fields: Vec<&str> = mode.split(':').collect();
    let [side, workers, tasks, interval_ms] = fields[..] else {
        panic!("{CHILD}={mode}: expected side:workers:tasks:interval_ms");
    };
    let tasks: usize = tasks.parse().unwrap();
    let interval_ms: u64 = interval_ms.parse().unwrap();
    let interval = Duration::from_millis(interval_ms);
    let window = Scale {
        tasks,
        interval_ms,
        rounds: 1,
        label: "",
    }
    .window();
    let measured = runtime_with(workers.parse().unwrap()).block_on(async {
        match side {
            "bare" => bare(tasks, interval, window).await,
            _ => supervised(tasks, interval, window).await,
        }
    });
    println!(
        "{} {} {} {}",
        measured.ticks,
        measured.spawn.as_nanos(),
        measured.stop.as_nanos(),
        peak_kib(std::process::id())
    );
}

async fn bare(count: usize, interval: Duration, window: Duration) -> Measured {
    let spawning = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let token = CancellationToken::new();
            let counter = Arc::new(AtomicU64::new(0));
            let (cancelled, ticks) = (token.clone(), counter.clone());
            let task = tokio::spawn(async move {
                let mut timer = tokio::time::interval(interval);
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
    let spawn = spawning.elapsed();
    let total = || -> u64 {
        tasks
            .iter()
            .map(|(_, c, _)| c.load(Ordering::Relaxed))
            .sum()
    };
    let ticks = ticks_over(window, total).await;
    let started = Instant::now();
    for (token, _, _) in &tasks {
        token.cancel();
    }
    for (_, _, task) in tasks {
        task.await.unwrap();
    }
    Measured {
        ticks,
        spawn,
        stop: started.elapsed(),
        peak_kib: 0,
    }
}

async fn supervised(count: usize, interval: Duration, window: Duration) -> Measured {
    let sup = Supervisor::new().unwrap();
    // Names made first, as the bare side has none to make.
    let names: Vec<String> = (0..count).map(|i| format!("t{i}")).collect();
    let spawning = Instant::now();
    for name in names {
        // The bare side's loop, written out as a library user writes it: shared through a
        // function taking the tick as a closure, it made this side's futures larger (peak
        // 148 -> 156 MiB at 100,000 tasks), which no user's code pays.
        let def = TaskDef::new(name, move |mut ctx| async move {
            let cancelled = ctx.token().clone();
            let mut timer = tokio::time::interval(interval);
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
    let spawn = spawning.elapsed();
    let ticks = ticks_over(window, || sup.tick_counts().iter().sum()).await;
    let started = Instant::now();
    sup.shutdown(Duration::from_secs(3)).await;
    Measured {
        ticks,
        spawn,
        stop: started.elapsed(),
        peak_kib: 0,
    }
}

/// Ticks over the window, after the tasks have settled.
async fn ticks_over(window: Duration, total: impl Fn() -> u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = total();
    tokio::time::sleep(window).await;
    total() - before
}

/// `taskmon run --json` of the scale's `select` tasks stopped all at once at 3 s after they are
/// all spawned (a million take seconds to spawn): how long spawning took (from the first
/// `spawned` event's stamp to the last), the slowest stop latency read from `--report`, its
/// peak memory from /proc.
fn taskmon_run(scale: Scale) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("many.toml");
    let stop_at = 3 + scale.tasks / 100_000;
    std::fs::write(
        &scenario,
        format!(
            "[[task]]\nname = \"load\"\nkind = \"select\"\ncount = {}\ninterval = \"{}ms\"\n\
             journal = false\n[[at]]\nafter = \"{stop_at}s\"\nstop_all = true\n",
            scale.tasks, scale.interval_ms
        ),
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let mut child = Command::new(TASKMON)
        .args(["run", "--json", "--scenario"])
        .arg(&scenario)
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let peak = Arc::new(AtomicU64::new(0));
    let watching = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while peak_kib(pid) > 0 {
                peak.fetch_max(peak_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // The stamps of the first and the last `spawned` event (milliseconds of wall time). Only
    // the lines up to the last are read as lines, and only those two parsed; the rest (the
    // stop's events, the report) is drained in large reads: the bench parsing five lines a
    // task as they came took a core's share of the two this machine has while the tasks
    // stopped, and parsing every `spawned` line took CPU from their spawn: the bench's cost,
    // not taskmon's.
    let at = |line: &str| {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap()
    };
    let (mut first, mut last) = (None, String::new());
    let mut stdout = std::io::BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    let (mut line, mut spawned) = (String::new(), 0);
    while spawned < scale.tasks {
        line.clear();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        if !line.contains(r#""event":"spawned""#) {
            continue;
        }
        if first.is_none() {
            first = Some(at(&line));
        }
        std::mem::swap(&mut last, &mut line);
        spawned += 1;
    }
    std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
    child.wait().unwrap();
    watching.join().unwrap();
    let spawn = (at(&last) - first.unwrap()).to_std().unwrap();
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
        spawn,
        stop: Duration::from_secs_f64(slowest / 1000.0),
        peak_kib: peak.load(Ordering::Relaxed),
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
