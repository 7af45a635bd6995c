//! Spawning 10,000 tasks: `Supervisor::spawn` against `tokio::spawn` with a token and a kept
//! handle each, which is what a tokio program needs to stop its tasks gracefully.

use std::time::{Duration, Instant};

use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio_util::sync::CancellationToken;

use super::{Rounds, TASKS, runtime};

const ROUNDS: usize = 9;

/// The task both sides spawn: wait for the token.
async fn idle(token: CancellationToken) {
    token.cancelled().await;
}

pub fn rows() {
    for (label, journal) in [
        ("spawn 10k, no journal", JournalConfig::OFF),
        ("spawn 10k, with journal", JournalConfig::default()),
    ] {
        let mut rounds = Rounds::default();
        for round in 0..ROUNDS {
            let (ours, bare) = if round % 2 == 0 {
                let bare = bare();
                (supervised(journal), bare)
            } else {
                let ours = supervised(journal);
                (ours, bare())
            };
            rounds.push(ours.as_secs_f64(), bare.as_secs_f64());
        }
        rounds.time_row(label, "<= 1.3x tokio::spawn (median)");
    }
}

/// Names are made before the clock starts, for both sides alike.
fn names() -> Vec<String> {
    (0..TASKS).map(|i| format!("task-{i}")).collect()
}

fn bare() -> Duration {
    runtime().block_on(async {
        let names = names();
        let mut tasks = Vec::with_capacity(TASKS);
        let started = Instant::now();
        for name in names {
            let token = CancellationToken::new();
            let task = tokio::spawn(idle(token.clone()));
            tasks.push((name, token, task));
        }
        let took = started.elapsed();
        for (_, token, _) in &tasks {
            token.cancel();
        }
        for (_, _, task) in tasks {
            task.await.unwrap();
        }
        took
    })
}

fn supervised(journal: JournalConfig) -> Duration {
    runtime().block_on(async {
        let sup = Supervisor::new().unwrap();
        let names = names();
        let started = Instant::now();
        for name in names {
            let def = TaskDef::new(name, |ctx| async move {
                idle(ctx.token().clone()).await;
            })
            .journal(journal);
            sup.spawn(def).unwrap();
        }
        let took = started.elapsed();
        sup.shutdown(Duration::from_secs(5)).await;
        took
    })
}
