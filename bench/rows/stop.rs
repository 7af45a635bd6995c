//! Stopping 10,000 ticking tasks and joining them: the supervisor's shutdown (stop all, escalation
//! armed, every join recorded with its timeline) against cancel-and-join on bare tokio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskmon::Supervisor;
use taskmon::kinds::{Kind, Params};
use tokio_util::sync::CancellationToken;

use super::{Rounds, TASKS, process_cpu, runtime};

const ROUNDS: usize = 9;

pub fn rows() {
    let (mut wall, mut cpu) = (Rounds::default(), Rounds::default());
    for round in 0..ROUNDS {
        let (ours, bare) = if round % 2 == 0 {
            let bare = bare();
            (supervised(), bare)
        } else {
            let ours = supervised();
            (ours, bare())
        };
        wall.push(ours.wall.as_secs_f64(), bare.wall.as_secs_f64());
        cpu.push(ours.cpu.as_secs_f64(), bare.cpu.as_secs_f64());
    }
    wall.time_row("stop_all 10k + join", "<= 1.3x bare (median)");
    // Every thread's CPU time during the stop: what it costs the program's other work, beside
    // how long it took (on two cores, the workers' and the asking thread's work add up).
    cpu.time_row(
        "stop_all 10k: CPU, all threads",
        "- (the wall row's target)",
    );
}

/// How long a stop took, on the wall clock and in CPU time of every thread.
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl Took {
    fn since(started: Instant, cpu: Duration) -> Self {
        Self {
            wall: started.elapsed(),
            cpu: process_cpu().saturating_sub(cpu),
        }
    }
}

fn bare() -> Took {
    runtime().block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let token = CancellationToken::new();
                let cancelled = token.clone();
                let task = tokio::spawn(async move {
                    let mut timer = tokio::time::interval(Duration::from_millis(100));
                    loop {
                        tokio::select! {
                            biased;
                            _ = cancelled.cancelled() => break,
                            _ = timer.tick() => { black_box(()); }
                        }
                    }
                });
                (token, task)
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (started, cpu) = (Instant::now(), process_cpu());
        for (token, _) in &tasks {
            token.cancel();
        }
        for (_, task) in tasks {
            task.await.unwrap();
        }
        Took::since(started, cpu)
    })
}

fn supervised() -> Took {
    runtime().block_on(async {
        let sup = Supervisor::new().unwrap();
        let p = Params {
            journal: false,
            ..Params::default()
        };
        for i in 0..TASKS {
            sup.spawn(Kind::Select.task(format!("t{i}"), &p)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (started, cpu) = (Instant::now(), process_cpu());
        sup.shutdown(Duration::from_secs(3)).await;
        Took::since(started, cpu)
    })
}
