//! What reporting to `metrics` costs. Before an exporter is installed: spawning 10,000 tasks with
//! the supervisor's metrics on (the default: events made and handed to a recorder that does
//! nothing) against metrics off. Then, with Prometheus' recorder installed (for good: a program
//! installs one recorder, so these rows run last), the ordinary loop's ticks with taskmon
//! reporting to it against the same supervisor not reporting.

use std::time::{Duration, Instant};

use taskmon::{JournalConfig, Supervisor, TaskDef};

use super::ticks::{Loop, Window, measure, on_vs_off_rows, spawn_tickers};
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
    on_vs_off_rows(
        "Prometheus on vs off",
        ">= 0.95 of not reporting",
        TICK_ROUNDS,
        ticking,
    );
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
