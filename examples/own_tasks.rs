//! A program of your own that supervises its tasks with taskmon and opens the dashboard over them.
//!
//!     cargo run --example own_tasks
//!
//! Press `s` on `queue-drainer` to watch it drain its queue before it stops, `k` to watch the
//! queue lost instead; `q` stops everything and prints the summary.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio::time::sleep;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sup = Supervisor::builder()
        .grace(Duration::from_secs(2))
        .own_task_runtime(2)
        .build()?;

    // Your own async code: it gets a token, a tick counter, a journal and phase reporting.
    sup.spawn_fn("queue-drainer", |mut ctx| async move {
        let token = ctx.token().clone();
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = sleep(Duration::from_millis(200)) => {
                    ctx.tick();
                    // A failed write is booked as lost and shown on the task's row.
                    let _ = ctx.flush_journal_if_due();
                }
            }
        }
        ctx.stop_noticed();
        ctx.cleanup_started();
        for step in 1..=4 {
            sleep(Duration::from_millis(250)).await;
            ctx.cleanup_progress(step as f32 / 4.0);
        }
        let _ = ctx.flush_journal();
        ctx.cleanup_finished();
    })?;

    // A task without a journal, labelled as you like.
    sup.spawn(
        TaskDef::new("heartbeat", |mut ctx| async move {
            while !ctx.is_cancelled() {
                ctx.tick();
                sleep(Duration::from_millis(500)).await;
            }
        })
        .kind("heartbeat")
        .journal(JournalConfig::OFF),
    )?;

    // The built-in kinds work here too.
    sup.spawn(Kind::Stubborn.task("legacy-poller", &Params::default()))?;

    let reports = taskmon::dashboard::run(&sup).await?;
    print!(
        "{}",
        taskmon::format::report_summary(
            &reports,
            taskmon::format::SUMMARY_ROWS,
            taskmon::format::stdout_width()
        )
    );
    Ok(())
}
