//! `erring`: returns an error after `error_after` ticks.
//!
//! A service's task returns `Result`: an error is how its code says the work failed, and it ends
//! the run as any return does — `errored`, with the message, its cleanup run. Whether it runs
//! again is its restart policy's call (`on-error`, `on-failure`, `always`), not the error's.

use std::ops::ControlFlow;
use std::sync::Arc;

use super::{Params, clean_up, tick_until};
use crate::supervisor::TaskContext;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) -> Result<(), String> {
    let error_after = p.error_after;
    // This run's ticks: a restarted run errs after as many again.
    let mut ticks = 0;
    let failed = tick_until(&mut ctx, p.interval, |_| {
        ticks += 1;
        if ticks >= error_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await;
    clean_up(&mut ctx);
    match failed {
        Some(()) => Err(format!(
            "upstream refused the batch after {error_after} ticks, as designed"
        )),
        None => Ok(()),
    }
}
