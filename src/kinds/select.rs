//! `select`: `select!` on `token.cancelled()` and the tick timer.
//!
//! The stop wakes the task at once, so a graceful stop takes well under a millisecond and cleanup
//! runs.

use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

/// [`super::tick_until_stopped`]'s loop written out in one `async fn`: this is the kind a
/// scenario spawns by the million, and with the loop a layer down its future held the loop's
/// arguments beside its own, 40 bytes more, which took tokio's task from 384 bytes to 512
/// (it rounds up to a multiple of 128): 128 MB more at a million tasks.
pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let mut timer = tokio::time::interval(p.interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = ctx.token().cancelled() => break,
            _ = std::future::poll_fn(|cx| timer.poll_tick(cx)) => tick(&mut ctx),
        }
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<Fut>(_: fn(TaskContext, Arc<Params>) -> Fut) -> usize {
        size_of::<Fut>()
    }

    #[test]
    fn its_future_leaves_tokio_s_task_at_384_bytes() {
        // With what the supervisor adds (80 bytes with tracing), 280 at most: tokio's task is
        // then 384 bytes, and 512 past it.
        assert!(future_size(run) <= 200, "{} bytes", future_size(run));
    }
}
