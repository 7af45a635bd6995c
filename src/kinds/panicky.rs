//! `panicky`: panics after `panic_after` ticks.
//!
//! The panic is caught where the task's code is polled and kept with its message, as tokio would
//! hand it to a joiner; no other task and not the dashboard are disturbed. The task's synchronous `Drop` still ran.

use super::{Params, clean_up, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let panic_after = p.panic_after;
    // This run's ticks: a restarted run panics after as many again.
    let mut ticks = 0;
    tick_until_stopped(&mut ctx, p.interval, |_| {
        ticks += 1;
        if ticks >= panic_after {
            panic!("panicky gave up after {panic_after} ticks, as designed");
        }
    })
    .await;
    clean_up(&mut ctx);
}
