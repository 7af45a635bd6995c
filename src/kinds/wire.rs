//! An in-memory byte stream fed at a steady rate, for the `select!` lessons: frame `k` arrives
//! as its 4-byte prefix at `k × every` and its 8-byte body `split` later. Which bytes have
//! arrived is a function of tokio's clock, so on a paused clock every figure is exact.
//!
//! A frame is `F5 A3` (a marker), the body's length (2 bytes), then the body: the frame's number.
//! A reader that lost its place skips to the next marker.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::supervisor::{TaskContext, TaskCounter};

const MARKER: [u8; 2] = [0xf5, 0xa3];
const PREFIX: u64 = 4;
const BODY: u64 = 8;
const FRAME: u64 = PREFIX + BODY;

pub(super) struct Wire {
    start: Instant,
    every: Duration,
    split: Duration,
    /// Bytes read so far.
    read: u64,
    /// Wakes the reader when the next bytes arrive.
    next: Pin<Box<Sleep>>,
}

impl Wire {
    pub fn new(every: Duration, split: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            every: every.max(Duration::from_millis(1)),
            split: split.min(every),
            read: 0,
            next: Box::pin(tokio::time::sleep_until(start)),
        }
    }

    /// Frames whose prefix, and whose body, have arrived after `elapsed`.
    fn arrived(&self, elapsed: Duration) -> (u64, u64) {
        let every = self.every.as_nanos();
        let prefixes = (elapsed.as_nanos() / every) as u64 + 1;
        let bodies = elapsed
            .checked_sub(self.split)
            .map_or(0, |e| (e.as_nanos() / every) as u64 + 1);
        (prefixes, bodies)
    }

    /// Bytes that have arrived by now.
    fn available(&self, now: Instant) -> u64 {
        let (prefixes, bodies) = self.arrived(now.saturating_duration_since(self.start));
        if prefixes > bodies {
            bodies * FRAME + PREFIX
        } else {
            bodies * FRAME
        }
    }

    /// When the next bytes arrive after the `read`th.
    fn next_arrival(&self) -> Instant {
        let frame = self.read / FRAME;
        let begin = self.start + self.every * frame as u32;
        if self.read % FRAME < PREFIX {
            begin
        } else {
            begin + self.split
        }
    }

    fn byte(at: u64) -> u8 {
        let (frame, offset) = (at / FRAME, at % FRAME);
        match offset {
            0 | 1 => MARKER[offset as usize],
            2 | 3 => (BODY as u16).to_be_bytes()[offset as usize - 2],
            _ => frame.to_be_bytes()[(offset - PREFIX) as usize],
        }
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let ready = self.available(Instant::now()).saturating_sub(self.read);
            if ready > 0 {
                let n = ready.min(buf.remaining() as u64);
                for i in 0..n {
                    buf.put_slice(&[Self::byte(self.read + i)]);
                }
                self.read += n;
                return Poll::Ready(Ok(()));
            }
            let next = self.next_arrival();
            self.next.as_mut().reset(next);
            if self.next.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

/// What a read of one frame found.
pub(super) enum Frame {
    /// A whole frame, with its number.
    Whole(u64),
}

/// Reads one frame, in two awaits: the prefix, then the body. Not cancel-safe: dropped between
/// the two (a `select!` branch that lost), the prefix is gone and the next read starts in the
/// middle of a body, out of step — it skips to the next marker, and the frame is lost.
pub(super) async fn read_frame(wire: &mut Wire) -> io::Result<Frame> {
    let mut marker = [0u8; 2];
    wire.read_exact(&mut marker).await?;
    while marker != MARKER {
        marker[0] = marker[1];
        marker[1] = wire.read_u8().await?;
    }
    let length = wire.read_u16().await? as usize;
    let mut body = vec![0u8; length];
    wire.read_exact(&mut body).await?;
    let mut number = [0u8; 8];
    let n = body.len().min(8);
    number[8 - n..].copy_from_slice(&body[..n]);
    Ok(Frame::Whole(u64::from_be_bytes(number)))
}

/// Frames read and frames lost, by their numbers: the task's counters `frames_received` and
/// `frames_lost`, which the detail pane, the JSON and the metrics show.
pub(super) struct Tally {
    received: TaskCounter,
    lost: TaskCounter,
    next: u64,
}

impl Tally {
    pub fn new(ctx: &TaskContext) -> Self {
        Self {
            received: ctx.counter("frames_received"),
            lost: ctx.counter("frames_lost"),
            next: 0,
        }
    }

    pub fn count(&mut self, frame: io::Result<Frame>) {
        if let Ok(Frame::Whole(number)) = frame {
            self.lost.add(number.saturating_sub(self.next));
            self.received.add(1);
            self.next = number + 1;
        }
    }

    pub fn note(&self) -> String {
        format!(
            "frames: {} received, {} lost",
            self.received.get(),
            self.lost.get()
        )
    }
}
