//! `parent`: spawns `children` `select` tasks whose tokens are children of its own.
//!
//! A graceful stop cascades through the child tokens; the parent awaits its children, then cleans
//! up. An abort of the parent does not reach them: they keep running, flagged `orphan`.

use super::{Kind, Params, clean_up, tick_until_stopped};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    for i in 1..=p.children {
        let child = Kind::Select.task(format!("{}.child{i}", ctx.name()), &p);
        // Refused only while shutting down, when there is nothing left to supervise.
        let _ = ctx.spawn_child(child);
    }
    tick_until_stopped(&mut ctx, p.interval, |_| {}).await;
    ctx.join_children().await;
    clean_up(&mut ctx);
}
