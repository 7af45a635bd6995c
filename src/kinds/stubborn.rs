//! `stubborn`: ticks forever and never looks at its token.
//!
//! A graceful stop cannot reach it: it runs into the grace period and is escalated to an abort,
//! so its cleanup is skipped and its pending records are lost.

use super::{Params, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    loop {
        tick(&mut ctx);
        tokio::time::sleep(p.interval).await;
    }
}
