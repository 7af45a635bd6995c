//! `flaky`: ticks, and at each tick panics with probability `panic_chance`.
//!
//! Under a restart policy it shows the backoff growing: each panic is followed by a longer wait
//! before the next run, until the policy's limit gives up and the task is `failed`. Its journal
//! goes on across the runs, so the ledger holds over all of them.

use super::{Params, clean_up, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    // Seeded by the task and its run: the same scenario fails the same way every time.
    let mut chance = fastrand::Rng::with_seed(ctx.id() ^ (u64::from(ctx.restarts()) << 32));
    let panic_chance = p.panic_chance;
    tick_until_stopped(&mut ctx, p.interval, |_| {
        if chance.f64() < panic_chance {
            panic!(
                "flaky lost its {:.0}% chance at this tick",
                panic_chance * 100.0
            );
        }
    })
    .await;
    clean_up(&mut ctx);
}
