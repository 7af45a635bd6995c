//! What reporting to `metrics` costs. Before an exporter is installed: spawning 10,000 tasks with
//! the supervisor's metrics on (the default: events made and handed to a recorder that does
//! nothing) against metrics off. Then, with Prometheus' recorder installed (for good: a program
//! installs one recorder, so these rows run last), the ordinary loop's ticks with taskmon
//! reporting to it against the same supervisor not reporting.

use std::time::{Duration, Instant};

use taskmon::{JournalConfig, Supervisor, TaskDef};

use super::ticks::{Loop, Window, measure, spawn_tickers};
use super::{Rounds, TASKS, runtime};

const ROUNDS: usize = 9;
const TICK_ROUNDS: usize = 7;

/// Spawning with and without metrics, no recorder installed.
pub fn spawn_rows() {
    let mut rounds = Rounds::default();
    for round in 0..ROUNDS {
        let (on, off) = if round % 2 == 0 {
            let off = spawn(false);
            (spawn(true), off)
        } else {
            let on = spawn(true);
            (on, spawn(false))
        };
        rounds.push(on.as_secs_f64(), off.as_secs_f64());
    }
    rounds.time_row(
        "spawn 10k: metrics on, no recorder",
        "within noise of metrics off",
    );
}

/// The ticks of 10,000 tasks with the Prometheus recorder installed, reported to and not.
pub fn prometheus_rows() {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the benchmark's only recorder");
    for every in [1, 10] {
        let kind = Loop::Sleep(Duration::from_millis(every));
        let mut per_cpu = Rounds::default();
        for round in 0..TICK_ROUNDS {
            let (on, off) = if round % 2 == 0 {
                let off = ticking(kind, false);
                (ticking(kind, true), off)
            } else {
                let on = ticking(kind, true);
                (on, ticking(kind, false))
            };
            per_cpu.push(
                on.ticks as f64 / on.cpu.as_secs_f64(),
                off.ticks as f64 / off.cpu.as_secs_f64(),
            );
        }
        super::row(
            &format!("tick 10k @{every}ms: Prometheus on vs off"),
            format!("{:.0}", per_cpu.median_ours()),
            format!("{:.0}", per_cpu.median_bare()),
            per_cpu.ratios(),
            ">= 0.95 of not reporting",
        );
    }
}

fn spawn(metrics: bool) -> Duration {
    runtime().block_on(async {
        let sup = Supervisor::builder().metrics(metrics).build().unwrap();
        let names: Vec<_> = (0..TASKS).map(|i| format!("task-{i}")).collect();
        let started = Instant::now();
        for name in names {
            let def = TaskDef::new(name, |ctx| async move {
                ctx.cancelled().await;
            })
            .journal(JournalConfig::OFF);
            sup.spawn(def).unwrap();
        }
        let took = started.elapsed();
        sup.shutdown(Duration::from_secs(5)).await;
        took
    })
}

fn ticking(kind: Loop, metrics: bool) -> Window {
    runtime().block_on(async {
        let sup = Supervisor::builder().metrics(metrics).build().unwrap();
        let start = spawn_tickers(&sup, kind);
        let window = measure(&start, || sup.tick_counts().iter().sum()).await;
        sup.shutdown(Duration::from_secs(5)).await;
        window
    })
}
