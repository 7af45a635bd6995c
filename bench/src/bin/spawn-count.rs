//! Spawns and stops 10,000 tasks under a supervisor (or bare tokio, with a token and a kept
//! handle each), once: a fixed workload for instruction counts, which stay the same whatever else
//! the machine does. The spawns are in functions of their own, to count them alone:
//!
//!     valgrind --tool=callgrind --toggle-collect='spawn_count::supervised_spawn_all' \
//!         target/release/spawn-count [ours|bare|metrics-off]
//!
//! `ticks` instead: 1,000 supervised tasks each polled 1,000 times (a tick and a yield a poll),
//! for the instructions a poll costs beside the task's own (compare builds).

use std::time::Duration;

use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TASKS: usize = 10_000;

#[inline(never)]
fn supervised_spawn_all(sup: &Supervisor, names: Vec<String>) {
    for name in names {
        let def = TaskDef::new(name, |ctx| async move {
            ctx.cancelled().await;
        })
        .journal(JournalConfig::OFF);
        sup.spawn(def).unwrap();
    }
}

type Bare = Vec<(String, CancellationToken, JoinHandle<()>)>;

#[inline(never)]
fn bare_spawn_all(names: Vec<String>, tasks: &mut Bare) {
    for name in names {
        let token = CancellationToken::new();
        let cancelled = token.clone();
        let task = tokio::spawn(async move { cancelled.cancelled().await });
        tasks.push((name, token, task));
    }
}

/// 1,000 tasks, 1,000 polls each: the poll path, counted whole.
async fn ticks() {
    let sup = Supervisor::builder().metrics(false).build().unwrap();
    let ids: Vec<_> = (0..1_000)
        .map(|i| {
            let def = TaskDef::new(format!("task-{i}"), |mut ctx| async move {
                for _ in 0..1_000 {
                    ctx.tick();
                    tokio::task::yield_now().await;
                }
            })
            .journal(JournalConfig::OFF);
            sup.spawn(def).unwrap()
        })
        .collect();
    for id in ids {
        sup.joined(id).await.unwrap();
    }
    sup.shutdown(Duration::from_secs(5)).await;
}

fn main() {
    let side = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if side == "ticks" {
        return runtime.block_on(ticks());
    }
    runtime.block_on(async {
        let names: Vec<String> = (0..TASKS).map(|i| format!("task-{i}")).collect();
        if side == "bare" {
            let mut tasks = Vec::with_capacity(TASKS);
            bare_spawn_all(names, &mut tasks);
            for (_, token, _) in &tasks {
                token.cancel();
            }
            for (_, _, task) in tasks {
                task.await.unwrap();
            }
            return;
        }
        let sup = Supervisor::builder()
            .metrics(side != "metrics-off")
            .build()
            .unwrap();
        supervised_spawn_all(&sup, names);
        sup.shutdown(Duration::from_secs(5)).await;
    });
}
