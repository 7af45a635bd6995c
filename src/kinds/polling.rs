//! `polling`: `while !token.is_cancelled() { tick; sleep(interval).await }`, then cleanup.
//!
//! A graceful stop is noticed at the next check, so it takes up to one interval; cleanup runs and
//! nothing is lost. An abort lands at the `sleep` at once, but cleanup never runs and the records
//! still pending are lost.

use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    while !ctx.is_cancelled() {
        tick(&mut ctx);
        tokio::time::sleep(p.interval).await;
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}
