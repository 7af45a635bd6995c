//! `detached`: ticks, and starts a task of its own with a plain `tokio::spawn` — never joined,
//! out of reach of every stop. Stopped, it cleans up and ends; the detached task runs on. When
//! the program ends (`q`, the end of `taskmon run`) the runtime drops it at its next `.await`:
//! an abort that nobody asked for, its cleanup never run, its pending records lost — while its
//! supervised siblings stopped cleanly.

use super::{Kind, Params, clean_up, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let detached = Kind::Select.task(format!("{}.detached", ctx.name()), &p);
    // Refused only while shutting down, when there is nothing left to start.
    let _ = ctx.spawn_detached(detached);
    tick_until_stopped(&mut ctx, p.interval, |_| {}).await;
    clean_up(&mut ctx);
}
