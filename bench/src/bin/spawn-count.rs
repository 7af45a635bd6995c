//! Spawns and stops 10,000 tasks under a supervisor, once: a fixed workload for instruction
//! counts (`valgrind --tool=callgrind`), which stay the same whatever else the machine does.
//!
//!     valgrind --tool=callgrind target/release/spawn-count [metrics-off]

use std::time::Duration;

use taskmon::{JournalConfig, Supervisor, TaskDef};

fn main() {
    let metrics = std::env::args().nth(1).as_deref() != Some("metrics-off");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sup = Supervisor::builder().metrics(metrics).build().unwrap();
        for i in 0..10_000 {
            let def = TaskDef::new(format!("task-{i}"), |ctx| async move {
                ctx.cancelled().await;
            })
            .journal(JournalConfig::OFF);
            sup.spawn(def).unwrap();
        }
        sup.shutdown(Duration::from_secs(5)).await;
    });
}
