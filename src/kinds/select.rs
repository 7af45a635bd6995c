//! `select`: `select!` on `token.cancelled()` and the tick timer.
//!
//! The stop wakes the task at once, so a graceful stop takes well under a millisecond and cleanup
//! runs.

use super::{Params, clean_up, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    tick_until_stopped(&mut ctx, p.interval, |_| {}).await;
    clean_up(&mut ctx);
}
