//! `slow-cleanup`: its cleanup flushes the journal in steps spread over `cleanup`.
//!
//! A graceful stop shows `cleaning up` with progress. An abort, or an escalation when `cleanup` is
//! longer than the grace period, cuts it short: cleanup `partial`, the unwritten records lost.

use super::{Params, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

const STEPS: u32 = 10;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    tick_until_stopped(&mut ctx, p.interval, |_| {}).await;
    ctx.cleanup_started();
    for step in 0..STEPS {
        tokio::time::sleep(p.cleanup / STEPS).await;
        // Spread what is pending evenly over the steps left.
        let steps_left = (STEPS - step) as u64;
        let batch = ctx.pending().div_ceil(steps_left);
        let _ = ctx.flush_journal_records(batch as usize);
        ctx.cleanup_progress((step + 1) as f32 / STEPS as f32);
    }
    ctx.cleanup_finished();
}
