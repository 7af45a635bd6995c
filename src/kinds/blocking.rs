//! `blocking`: does `busy` of synchronous work (a `std::thread::sleep`) between awaits.
//!
//! Nothing can interrupt code that does not yield: a graceful stop is noticed and an abort takes
//! effect only at the next `.await`, so both wait out the busy stretch — abort is not instant
//! either. The worker thread is blocked meanwhile, which is why taskmon runs its own bookkeeping
//! and the dashboard elsewhere.
//!
//! It yields once right before each busy stretch. Without that, a task woken by the same timer
//! tick can sit in the blocked worker's LIFO slot, which no other worker steals from, and wait
//! out the whole stretch: every other lesson on the runtime would be off by up to `busy`.

use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let token = ctx.token().clone();
    loop {
        // Let the tasks woken with this one run first (see the module comment).
        tokio::task::yield_now().await;
        ctx.set_busy(true);
        std::thread::sleep(p.busy);
        ctx.set_busy(false);
        tick(&mut ctx);
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(p.interval) => {}
        }
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}
