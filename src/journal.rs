//! The per-task journal file and its accounting.
//!
//! Every tick appends one record to an in-memory buffer. Records reach the file only when the task's
//! own code flushes them, so an abort — which drops the task at its next `.await` — loses whatever is
//! still buffered. The one exception is `flush_on_drop`: a synchronous `Drop` writes the buffer, and
//! synchronous `Drop` is the one piece of cleanup that survives an abort.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a task keeps its journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Whether the task writes a journal at all (`journal = false` is for load tests).
    pub enabled: bool,
    /// Flush the buffer every this many ticks (at least 1).
    pub flush_every: u64,
    /// Write pending records from a synchronous `Drop`, so even an abort loses nothing.
    pub flush_on_drop: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            flush_every: 5,
            flush_on_drop: false,
        }
    }
}

impl JournalConfig {
    /// No journal: only the tick counter moves.
    pub const OFF: Self = Self {
        enabled: false,
        flush_every: 1,
        flush_on_drop: false,
    };
}

/// The lock-free counters of one task, shared between the task and the supervisor.
///
/// `ticks = persisted + lost + pending` by construction: a tick is counted once, and each record
/// leaves `pending` exactly once, either to the file (`persisted`) or to `lost` when the journal is
/// dropped unflushed.
#[derive(Debug, Default)]
pub struct Ledger {
    ticks: AtomicU64,
    persisted: AtomicU64,
    lost: AtomicU64,
}

/// A consistent reading of a [`Ledger`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerReading {
    pub ticks: u64,
    pub persisted: u64,
    pub lost: u64,
    pub pending: u64,
}

impl Ledger {
    /// The tick path: one relaxed atomic add, nothing else.
    #[inline]
    pub(crate) fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Reads `persisted` and `lost` before `ticks`: both only grow after the ticks they account
    /// for, so the difference (`pending`) never goes negative.
    pub fn read(&self, journaled: bool) -> LedgerReading {
        let lost = self.lost.load(Ordering::Acquire);
        let persisted = self.persisted.load(Ordering::Acquire);
        let ticks = self.ticks.load(Ordering::Relaxed);
        if !journaled {
            return LedgerReading {
                ticks,
                ..LedgerReading::default()
            };
        }
        LedgerReading {
            ticks,
            persisted,
            lost,
            pending: ticks.saturating_sub(persisted + lost),
        }
    }
}

/// One task's journal: a buffer of pending records and the file they are flushed to.
pub struct Journal {
    path: PathBuf,
    file: Option<File>,
    buffer: Vec<u8>,
    /// Record boundaries in `buffer`, so a partial flush writes whole records only.
    record_ends: Vec<usize>,
    config: JournalConfig,
    ledger: std::sync::Arc<Ledger>,
}

impl Journal {
    pub(crate) fn new(
        path: PathBuf,
        config: JournalConfig,
        ledger: std::sync::Arc<Ledger>,
    ) -> Self {
        Self {
            path,
            file: None,
            buffer: Vec::new(),
            record_ends: Vec::new(),
            config,
            ledger,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records appended but not yet written.
    pub fn pending(&self) -> u64 {
        self.record_ends.len() as u64
    }

    pub(crate) fn append(&mut self, tick: u64) {
        // A record is one line: `tick N`.
        let _ = writeln!(self.buffer, "tick {tick}");
        self.record_ends.push(self.buffer.len());
    }

    /// Whether `flush_every` records are waiting.
    pub fn flush_due(&self) -> bool {
        self.pending() >= self.config.flush_every.max(1)
    }

    /// Writes every pending record.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_records(self.record_ends.len())
    }

    /// Writes the oldest `count` pending records (whole records only). One `write_all` to an
    /// append-mode file, so an abort — which can only land at an `.await` — never cuts a record.
    pub fn flush_records(&mut self, count: usize) -> io::Result<()> {
        let count = count.min(self.record_ends.len());
        if count == 0 {
            return Ok(());
        }
        let bytes = self.record_ends[count - 1];
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(&self.buffer[..bytes])?;
        }
        self.buffer.drain(..bytes);
        self.record_ends.drain(..count);
        for end in &mut self.record_ends {
            *end -= bytes;
        }
        self.ledger
            .persisted
            .fetch_add(count as u64, Ordering::Release);
        Ok(())
    }
}

impl Drop for Journal {
    /// Runs on every exit path, abort and panic included: flushes if asked to, and otherwise books
    /// what is still buffered as lost.
    fn drop(&mut self) {
        if self.config.flush_on_drop && self.flush().is_ok() {
            return;
        }
        let lost = self.pending();
        if lost > 0 {
            self.ledger.lost.fetch_add(lost, Ordering::Release);
        }
    }
}

/// What reading a journal file back found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Records found in the file.
    pub records: u64,
    /// The records were exactly `tick 1` .. `tick N` in order, and N equals the persisted count.
    pub verified: bool,
}

/// Reads a journal file back and checks it against the persisted count. A missing file holds zero
/// records (a task that never flushed never created it).
pub fn verify(path: &Path, persisted: u64) -> io::Result<Verification> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Verification {
                records: 0,
                verified: persisted == 0,
            });
        }
        Err(e) => return Err(e),
    };
    let mut records = 0u64;
    let mut in_order = true;
    for line in io::BufReader::new(file).lines() {
        let line = line?;
        records += 1;
        if line
            .strip_prefix("tick ")
            .and_then(|n| n.parse::<u64>().ok())
            != Some(records)
        {
            in_order = false;
        }
    }
    Ok(Verification {
        records,
        verified: in_order && records == persisted,
    })
}
