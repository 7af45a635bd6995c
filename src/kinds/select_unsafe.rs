//! `select-unsafe`: reads framed messages from a stream fed at a steady rate (a frame every
//! `frame_every`, its body `frame_split` after its prefix), inside `select!` against its tick
//! timer — with the frame read made afresh in every iteration.
//!
//! A `select!` branch that loses is dropped at its `.await`, exactly like an abort, with nobody
//! pressing anything. When the timer wins between the prefix and the body, the half-read frame is
//! gone and the next read starts out of step: the row counts the frames lost, growing while it
//! runs. `select-safe` reads the same stream and loses none.

use super::wire::{Tally, Wire, read_frame};
use super::{Params, clean_up, tick};
use crate::supervisor::TaskContext;
use std::sync::Arc;

pub(super) async fn run(mut ctx: TaskContext, p: Arc<Params>) {
    let token = ctx.token().clone();
    let mut wire = Wire::new(p.frame_every, p.frame_split);
    let mut timer = tokio::time::interval(p.interval);
    let mut tally = Tally::new(&ctx);
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = timer.tick() => tick(&mut ctx),
            // A new read each time round: when the timer wins, this one is dropped mid-frame.
            frame = read_frame(&mut wire) => {
                tally.count(frame);
                ctx.set_note(tally.note());
            }
        }
    }
    ctx.stop_noticed();
    clean_up(&mut ctx);
}
