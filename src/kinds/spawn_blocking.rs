//! `spawn-blocking`: loops on tokio's blocking pool (`spawn_blocking`), checking
//! `is_cancelled()` between steps.
//!
//! A graceful stop works at the next check. An abort has no effect at all on a blocking task that
//! has started: it keeps ticking until a graceful stop.

use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) fn run(mut ctx: TaskContext, p: Arc<Params>) {
    while !ctx.is_cancelled() {
        tick(&mut ctx);
        std::thread::sleep(p.interval);
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}
