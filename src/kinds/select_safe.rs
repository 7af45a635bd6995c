//! `select-safe`: the stream of `select-unsafe`, read with the frame read kept across the loop's
//! iterations (pinned outside it): when the timer wins, the read is not dropped but waits for the
//! next time round, where it goes on from where it was. No frame is lost.

use super::wire::{Tally, Wire, read_frame};
use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

/// Reads one frame and hands the stream back, so the next read can own it too.
async fn next_frame(mut wire: Wire) -> (Wire, std::io::Result<super::wire::Frame>) {
    let frame = read_frame(&mut wire).await;
    (wire, frame)
}

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let token = ctx.token().clone();
    let mut timer = tokio::time::interval(p.interval);
    let mut tally = Tally::new(&ctx);
    let reading = next_frame(Wire::new(p.frame_every, p.frame_split));
    tokio::pin!(reading);
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = timer.tick() => tick(&mut ctx),
            // The same read each time round, until it completes.
            (wire, frame) = &mut reading => {
                tally.count(frame);
                ctx.set_note(tally.note());
                reading.set(next_frame(wire));
            }
        }
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}
