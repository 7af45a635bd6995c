//! The per-task journal file and its accounting.
//!
//! Every tick adds one record to those pending in memory. Records reach the file only when the
//! task's own code flushes them, so an abort — which drops the task at its next `.await` — loses
//! whatever is still pending. The one exception is `flush_on_drop`: a synchronous `Drop` writes the buffer, and
//! synchronous `Drop` is the one piece of cleanup that survives an abort.
//!
//! A write that fails (disk full, file too large) is not the task's failure: the file is cut back
//! to its last whole record, what could not be written is booked `lost`, and the task goes on
//! without a journal, its row saying why.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::supervisor::entry::TaskEntry;
use crate::supervisor::run_dir::{Manifest, journal_file_name};
use crate::text::escape;

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
    /// A journal flushed every 10 ticks: what the built-in kinds keep, and what
    /// `SupervisorBuilder::default_journal(JournalConfig::default())` gives every task.
    fn default() -> Self {
        Self {
            enabled: true,
            flush_every: 10,
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

/// Where one task's journal records went, shared between the task and the supervisor.
///
/// `ticks = persisted + lost + pending` by construction: a tick is counted once (beside the
/// task's poll figures, which share its cache line), and each record leaves `pending` exactly
/// once, either to the file (`persisted`) or to `lost`.
#[derive(Debug, Default)]
pub struct Ledger {
    persisted: AtomicU64,
    lost: AtomicU64,
    /// Why the journal stopped being written in the current run, once it has.
    error: Mutex<Option<Arc<str>>>,
}

/// A consistent reading of a [`Ledger`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct LedgerReading {
    /// Ticks counted.
    pub ticks: u64,
    /// Where the records went; `None` for a task without a journal.
    pub journal: Option<JournalCounts>,
}

/// A journaled task's records: `ticks = persisted + lost + pending`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct JournalCounts {
    /// Written to the journal file.
    pub persisted: u64,
    /// Gone: dropped unflushed by an abort, or unwritable after a journal error.
    pub lost: u64,
    /// In memory, not yet written.
    pub pending: u64,
}

impl LedgerReading {
    /// The journal's counts; all zero for a task without a journal.
    pub fn counts(&self) -> JournalCounts {
        self.journal.unwrap_or_default()
    }
}

impl Ledger {
    pub(crate) fn book_lost(&self, records: u64) {
        if records > 0 {
            self.lost.fetch_add(records, Ordering::Release);
        }
    }

    /// Why the journal stopped being written, if it did.
    pub fn error(&self) -> Option<Arc<str>> {
        self.error.lock().map_or(None, |e| e.clone())
    }

    /// The first failure of this run's journal is kept.
    fn set_error(&self, error: Arc<str>) {
        if let Ok(mut kept) = self.error.lock() {
            kept.get_or_insert(error);
        }
    }

    /// A new run writes its journal afresh: the last run's failure is no longer its row's.
    pub(crate) fn clear_error(&self) {
        if let Ok(mut kept) = self.error.lock() {
            *kept = None;
        }
    }

    /// Reads `persisted` and `lost` before `ticks`: both only grow after the ticks they account
    /// for, so the difference (`pending`) never goes negative.
    pub fn read(&self, ticks: &AtomicU64) -> LedgerReading {
        let lost = self.lost.load(Ordering::Acquire);
        let persisted = self.persisted.load(Ordering::Acquire);
        let ticks = ticks.load(Ordering::Relaxed);
        LedgerReading {
            ticks,
            journal: Some(JournalCounts {
                persisted,
                lost,
                pending: ticks.saturating_sub(persisted + lost),
            }),
        }
    }
}

/// One task's journal: its records not yet written, and the file they are flushed to.
///
/// A record is the line `tick N`, so the records pending are always the ticks after the last one
/// written: the journal keeps their count and writes them out when flushed.
pub struct Journal {
    entry: Arc<TaskEntry>,
    dir: Arc<Path>,
    /// Where a journal made in a chosen directory is listed.
    manifest: Option<Manifest>,
    file: Option<File>,
    /// Records in the file, `tick 1` to `tick written`.
    written: u64,
    /// Bytes of those records: where to cut the file back to after a failed write.
    written_bytes: u64,
    /// Records counted but not yet written: `tick written + 1` onwards.
    pending: u64,
    config: JournalConfig,
    /// Set after a failed write: records are booked lost from then on.
    broken: bool,
}

impl Journal {
    /// The journal of a run of `entry`'s task. A run after a restart goes on where the last
    /// one's records end, in the same file, so the ledger holds over every run.
    pub(crate) fn new(
        entry: Arc<TaskEntry>,
        dir: Arc<Path>,
        manifest: Option<Manifest>,
        config: JournalConfig,
    ) -> Self {
        let written = entry.ledger().counts().persisted;
        Self {
            entry,
            dir,
            manifest,
            file: None,
            written,
            written_bytes: journal_bytes(written),
            pending: 0,
            config,
            broken: false,
        }
    }

    /// The journal file, `00007-alpha.journal` in the run directory.
    pub fn path(&self) -> PathBuf {
        self.dir
            .join(journal_file_name(self.entry.id, &self.entry.name))
    }

    /// Records appended but not yet written.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Whether a write has failed; the journal is not written any more.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn ledger(&self) -> &Ledger {
        self.entry
            .journal_ledger()
            .expect("a journal is made only for a journaled task")
    }

    /// Adds the record of the tick just counted.
    pub(crate) fn append(&mut self) {
        if self.broken {
            self.ledger().book_lost(1);
        } else {
            self.pending += 1;
        }
    }

    /// Whether `flush_every` records are waiting.
    pub fn flush_due(&self) -> bool {
        self.pending >= self.config.flush_every.max(1)
    }

    /// Writes every pending record.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_records(usize::MAX)
    }

    /// Writes the oldest `count` pending records (whole records only), in one `write_all`
    /// between awaits, so an abort — which can only land at an `.await` — never cuts a record.
    /// A failure breaks the journal (see the module comment) and is returned.
    pub fn flush_records(&mut self, count: usize) -> io::Result<()> {
        if self.broken {
            let reason = self.ledger().error().unwrap_or_else(|| "failed".into());
            return Err(io::Error::other(format!(
                "the journal is no longer written: {reason}"
            )));
        }
        let count = (count as u64).min(self.pending);
        if count == 0 {
            return Ok(());
        }
        let mut records = Vec::with_capacity(count as usize * 12);
        for tick in self.written + 1..=self.written + count {
            let _ = writeln!(records, "tick {tick}");
        }
        if let Err(e) = self.write(&records) {
            return Err(self.fail(e));
        }
        self.written += count;
        self.written_bytes += records.len() as u64;
        self.pending -= count;
        self.ledger().persisted.fetch_add(count, Ordering::Release);
        Ok(())
    }

    fn write(&mut self, records: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            // A new file, never an existing one nor a symbolic link: the run directory was
            // cleared of old journals when it was taken. A later run of the task appends to
            // the file its first run made, still through no link.
            let mut options = OpenOptions::new();
            if self.written == 0 {
                options.write(true).create_new(true);
                // Listed before it exists: the next run in this directory removes what this
                // one made, and nothing else.
                if let Some(manifest) = &self.manifest {
                    manifest.record(&journal_file_name(self.entry.id, &self.entry.name))?;
                }
            } else {
                options.append(true).custom_flags(libc::O_NOFOLLOW);
            }
            self.file = Some(options.open(self.path())?);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(records)
    }

    /// Cuts the file back to its last whole record, books what is pending as lost and stops
    /// writing.
    fn fail(&mut self, error: io::Error) -> io::Error {
        if let Some(file) = self.file.take() {
            let _ = file.set_len(self.written_bytes);
        }
        self.broken = true;
        let pending = std::mem::take(&mut self.pending);
        self.ledger().book_lost(pending);
        self.ledger().set_error(error.to_string().into());
        error
    }
}

impl Drop for Journal {
    /// Runs on every exit path, abort and panic included: flushes if asked to, and otherwise books
    /// what is still pending as lost.
    fn drop(&mut self) {
        if self.config.flush_on_drop && !self.broken {
            let _ = self.flush();
        }
        let pending = std::mem::take(&mut self.pending);
        self.ledger().book_lost(pending);
    }
}

/// What reading a journal file back found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Records found in the file (at most one more than expected: reading stops there).
    pub records: u64,
    /// The records were exactly `tick 1` .. `tick N` in order, and N equals the persisted count.
    pub verified: bool,
    /// What was wrong, when it was not verified.
    pub problem: Option<String>,
}

impl Verification {
    fn failed(records: u64, problem: impl Into<String>) -> Self {
        Self {
            records,
            verified: false,
            problem: Some(problem.into()),
        }
    }
}

/// The size of `tick 1\n` .. `tick N\n`.
fn journal_bytes(records: u64) -> u64 {
    let mut total = 0;
    let mut band_start = 1u64;
    let mut digits = 1;
    while band_start <= records {
        let band_end = band_start.saturating_mul(10).saturating_sub(1).min(records);
        total += (band_end - band_start + 1) * ("tick \n".len() as u64 + digits);
        band_start = band_start.saturating_mul(10);
        digits += 1;
    }
    total
}

/// Reads a journal file back and checks it against the persisted count. A missing file holds zero
/// records (a task that never flushed never created it). Reads no more than the expected records
/// plus one, and only from a regular file: a journal swapped for a symbolic link or a device
/// (`/dev/zero`) is refused, not read forever.
pub fn verify(path: &Path, persisted: u64) -> Verification {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return if persisted == 0 {
                Verification {
                    records: 0,
                    verified: true,
                    problem: None,
                }
            } else {
                Verification::failed(
                    0,
                    format!("the file is missing, {persisted} records expected"),
                )
            };
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Verification::failed(0, "the journal is a symbolic link");
        }
        Err(e) => return Verification::failed(0, format!("cannot read it: {e}")),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Verification::failed(0, "the journal is not a regular file"),
        Err(e) => return Verification::failed(0, format!("cannot read it: {e}")),
    }
    let limit = journal_bytes(persisted + 1);
    let mut records = 0u64;
    let mut problem = None;
    let mut line = Vec::new();
    let mut reader = io::BufReader::new(file.take(limit));
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Verification::failed(records, format!("cannot read it: {e}")),
        }
        records += 1;
        let expected = format!("tick {records}\n");
        if problem.is_none() && line != expected.as_bytes() {
            let found = String::from_utf8_lossy(&line);
            let found: String = found.trim_end_matches('\n').chars().take(40).collect();
            problem = Some(format!("record {records} is `{}`", escape(&found)));
        }
    }
    if problem.is_none() && records != persisted {
        problem = Some(if records > persisted {
            format!("it holds more than the {persisted} records written")
        } else {
            format!("it holds {records} of the {persisted} records written")
        });
    }
    Verification {
        records,
        verified: problem.is_none(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_books_the_records_lost_and_the_task_goes_on_without_a_journal() {
        let entry = Arc::new(TaskEntry::for_test(7, "writer"));
        let config = JournalConfig {
            flush_every: 2,
            ..JournalConfig::default()
        };
        let dir: Arc<Path> = Path::new("/nowhere").into();
        let mut journal = Journal::new(entry.clone(), dir, None, config);
        assert_eq!(journal.path(), Path::new("/nowhere/00007-writer.journal"));
        journal.file = Some(OpenOptions::new().write(true).open("/dev/full").unwrap());
        let (ledger, activity) = (entry.journal_ledger().unwrap(), &entry.activity);
        for _ in 0..3 {
            activity.tick();
            journal.append();
        }
        let error = journal.flush().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        let counts = |l: &Ledger| l.read(&activity.ticks).journal.unwrap();
        assert_eq!(
            counts(ledger),
            JournalCounts {
                persisted: 0,
                lost: 3,
                pending: 0
            }
        );
        assert!(ledger.error().unwrap().contains("No space left"));
        activity.tick();
        journal.append();
        assert_eq!(
            counts(ledger).lost,
            4,
            "later ticks are booked lost at once"
        );
        assert!(journal.flush().is_err());
        assert_eq!(entry.ledger().ticks, 4);
        drop(journal);
    }

    #[test]
    fn journal_bytes_counts_every_digit() {
        let by_hand = |n: u64| -> u64 { (1..=n).map(|i| format!("tick {i}\n").len() as u64).sum() };
        for n in [0, 1, 9, 10, 11, 99, 100, 101, 12_345] {
            assert_eq!(journal_bytes(n), by_hand(n), "{n}");
        }
    }
}
