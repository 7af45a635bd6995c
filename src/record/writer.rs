//! The recorder's thread: takes events and samples off the bounded queue, turns samples into
//! deltas, compresses, writes and rotates. Nothing here runs on the program's workers.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use super::file::{
    self, FRAME_START, Header, NUMBERS, Reading, Record, Sample, TaskRecord, segment_path,
};
use super::{RecordSummary, Shared};
use crate::supervisor::{Delivery, Event, Supervisor, TaskId, TaskSnapshot};

/// What the program hands the recorder.
pub(super) enum Message {
    Events(Delivery),
    Sample {
        at: Duration,
        grace: Duration,
        tasks: Vec<TaskSnapshot>,
        /// The recording's last: its histograms are written whole.
        last: bool,
    },
    /// Everything before it written to the file, then said so.
    Flush(SyncSender<()>),
    /// The last message: the file is ended and the summary sent back.
    End {
        at: Duration,
        done: SyncSender<RecordSummary>,
    },
}

/// zstd's level: 9 took a quarter less on disk than the default 3 for 10,000 ticking tasks (19
/// another fifth less, but at a cost the recorder's thread should not take from the program).
const LEVEL: i32 = 9;
/// A new key sample (and zstd frame) once the frame since the last one has grown to this many
/// times the key's own size: a seek decompresses at most that much more than a key.
const KEY_FACTOR: u64 = 8;
/// ... or this long after the last one, or at least this many bytes apart.
const KEY_EVERY: Duration = Duration::from_secs(60);
const KEY_MIN_BYTES: u64 = 64 << 10;
/// Records are handed to the compressor at least this often (and at every sample).
const RECORDS_MAX: usize = 1 << 20;
// The poll histograms move in every sample of a busy task and cost more on disk than every other
// figure together: they are written in key samples (a minute apart at most) and the last one.

pub(super) struct Writer {
    sup: std::sync::Weak<crate::supervisor::Inner>,
    path: PathBuf,
    /// `--record-max`: segments of a fifth of it, the newest kept.
    max: Option<u64>,
    header: Header,
    file: File,
    segment_bytes: u64,
    closed: VecDeque<(PathBuf, u64)>,
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    /// The next chunk begins a frame.
    starts_frame: bool,
    records: Vec<u8>,
    frame_bytes: u64,
    key_bytes: u64,
    key_at: Duration,
    /// Every task seen, by id - 1.
    tasks: Vec<TaskRecord>,
    /// Tasks 1..=described have their record in this segment.
    described: usize,
    /// Every task's figures as last written, by id - 1.
    last: Vec<Option<Reading>>,
    gaps_written: (u64, u64),
    shared: Arc<Shared>,
    summary: RecordSummary,
    failed: bool,
}

impl Writer {
    pub fn create(
        sup: &Supervisor,
        path: &Path,
        max: Option<u64>,
        header: Header,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        let mut file = create_file(path)?;
        let start = file::segment_start(&header);
        file.write_all(&start)?;
        let summary = RecordSummary {
            path: path.to_path_buf(),
            bytes: start.len() as u64,
            segments: 1,
            ..Default::default()
        };
        shared.bytes.store(summary.bytes, Ordering::Relaxed);
        Ok(Self {
            sup: sup.downgrade(),
            path: path.to_path_buf(),
            max,
            header,
            file,
            segment_bytes: start.len() as u64,
            closed: VecDeque::new(),
            encoder: None,
            starts_frame: false,
            records: Vec::new(),
            frame_bytes: 0,
            key_bytes: 0,
            key_at: Duration::ZERO,
            tasks: Vec::new(),
            described: 0,
            last: Vec::new(),
            gaps_written: (0, 0),
            shared,
            summary,
            failed: false,
        })
    }

    /// Takes messages until the end; then says how it went.
    pub fn run(mut self, messages: Receiver<Message>) {
        while let Ok(message) = messages.recv() {
            let result = match message {
                Message::Events(delivery) => self.events(delivery.events()),
                Message::Sample {
                    at,
                    grace,
                    tasks,
                    last,
                } => {
                    self.shared.samples_queued.fetch_sub(1, Ordering::Relaxed);
                    self.sample(at, grace, tasks, last)
                }
                Message::Flush(done) => {
                    let result = self.flush_chunk();
                    let _ = done.send(());
                    result
                }
                Message::End { at, done } => {
                    let result = self.end(at);
                    self.fail_on(result);
                    self.summary.events_dropped =
                        self.shared.events_dropped.load(Ordering::Relaxed);
                    self.summary.samples_dropped =
                        self.shared.samples_dropped.load(Ordering::Relaxed);
                    let _ = done.send(self.summary.clone());
                    return;
                }
            };
            self.fail_on(result);
        }
    }

    /// A write that failed (the disk full) ends the recording: what comes after is counted as
    /// dropped, the file keeps what was whole.
    fn fail_on(&mut self, result: io::Result<()>) {
        if let Err(e) = result
            && !self.failed
        {
            self.failed = true;
            self.summary.error = Some(e.to_string());
            *self.shared.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    }

    fn events(&mut self, events: &[Event]) -> io::Result<()> {
        if self.failed {
            self.shared
                .events_dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            return Ok(());
        }
        for e in events {
            self.describe(e.id, Some(e));
            file::put(
                &mut self.records,
                &Record::Event {
                    since_start: e.since_start,
                    id: e.id,
                    kind: e.kind,
                    detail: e.detail.clone(),
                },
            );
            self.summary.events += 1;
        }
        if self.records.len() >= RECORDS_MAX {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Writes the records of tasks up to `id` not yet written in this segment: learnt from
    /// the supervisor (or the event itself, once the supervisor is gone).
    fn describe(&mut self, id: TaskId, event: Option<&Event>) {
        let id = id as usize;
        if id > self.tasks.len() {
            self.learn(id, event);
        }
        while self.described < id.min(self.tasks.len()) {
            let record = self.tasks[self.described].clone();
            file::put(&mut self.records, &Record::Task(record));
            self.described += 1;
        }
    }

    /// Learns every task spawned since the last look from the supervisor (a spawn storm costs
    /// one look per hand-over, not per task, a few hundred tasks per read of the registry so
    /// that a spawn never waits long for its lock), or `id` from its event once the supervisor
    /// is gone.
    fn learn(&mut self, id: usize, event: Option<&Event>) {
        const AT_ONCE: usize = 256;
        if let Some(sup) = Supervisor::upgrade(&self.sup) {
            let newest = sup.len().max(id);
            while self.tasks.len() < newest {
                let next = self.tasks.len() as TaskId + 1;
                let ids: Vec<TaskId> =
                    (next..=newest.min(self.tasks.len() + AT_ONCE) as TaskId).collect();
                let learnt = sup.snapshots(&ids);
                if learnt.is_empty() {
                    break;
                }
                for s in &learnt {
                    if s.id as usize == self.tasks.len() + 1 {
                        self.tasks.push(TaskRecord::of(s));
                    }
                }
            }
        }
        if let Some(e) = event
            && e.id as usize == self.tasks.len() + 1
        {
            let parent = match &e.detail {
                crate::supervisor::Detail::Spawned { parent, .. } => *parent,
                _ => None,
            };
            self.tasks.push(TaskRecord {
                id: e.id,
                name: e.task.clone(),
                kind: e.task_kind.clone(),
                parent,
                spawned: e.since_start,
                journaled: false,
                detached: false,
                location: None,
            });
        }
    }

    fn sample(
        &mut self,
        at: Duration,
        grace: Duration,
        tasks: Vec<TaskSnapshot>,
        last: bool,
    ) -> io::Result<()> {
        if self.failed {
            self.shared.samples_dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let key = self.encoder.is_none()
            || self.frame_bytes >= (KEY_FACTOR * self.key_bytes).max(KEY_MIN_BYTES)
            || at.saturating_sub(self.key_at) >= KEY_EVERY
            || self
                .max
                .is_some_and(|_| self.segment_bytes >= self.segment_limit());
        if key {
            self.flush_chunk()?;
            self.finish_frame()?;
            if self.max.is_some() && self.segment_bytes >= self.segment_limit() {
                self.rotate()?;
            }
            self.encoder = Some(zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?);
            self.starts_frame = true;
            self.frame_bytes = 0;
            self.key_at = at;
        }
        if let Some(last) = tasks.last() {
            self.describe(last.id, None);
        }
        let mut sample = Sample {
            at,
            key,
            grace,
            tasks: tasks.len() as u64,
            ..Default::default()
        };
        let mut previous_id = 0;
        let with_histograms = key || last;
        for s in tasks {
            let index = s.id as usize - 1;
            let reading = Reading::of(s);
            if self.last.len() <= index {
                self.last.resize(index + 1, None);
            }
            let last = if key { None } else { self.last[index].as_ref() };
            if last.is_some_and(|l| l.same_but_histogram(&reading, with_histograms)) {
                continue;
            }
            let place = sample.ids.len() as u32;
            sample.ids.push(index as u64 + 1 - previous_id);
            previous_id = index as u64 + 1;
            sample.states.push(reading.state);
            let zero = [0; NUMBERS];
            let before = last.map_or(&zero, |l| &l.numbers);
            for (column, (now, then)) in sample
                .numbers
                .iter_mut()
                .zip(reading.numbers.iter().zip(before))
            {
                column.push(now.wrapping_sub(*then) as i64);
            }
            let no_polls = [0; crate::supervisor::POLL_BUCKETS];
            let histogram_before = last.map_or(&no_polls, |l| &l.histogram);
            let mut histogram = reading.histogram;
            if with_histograms {
                for (bucket, (now, then)) in histogram.iter().zip(histogram_before).enumerate() {
                    if now != then {
                        sample.histogram.push((
                            place,
                            bucket as u8,
                            now.wrapping_sub(*then) as i64,
                        ));
                    }
                }
            } else {
                // Kept as last written, so the next histogram sample writes the difference.
                histogram = *histogram_before;
            }
            if last.is_none_or(|l| l.attrs != reading.attrs) {
                sample.attrs.push((place, reading.attrs.clone()));
            }
            if last.map_or(!reading.counters.is_empty(), |l| {
                l.counters != reading.counters
            }) {
                sample.counters.push((place, reading.counters.clone()));
            }
            self.last[index] = Some(Reading {
                histogram,
                ..reading
            });
        }
        file::put(&mut self.records, &Record::Sample(Box::new(sample)));
        self.summary.samples += 1;
        self.note_gaps(at);
        let before = self.summary.bytes;
        self.flush_chunk()?;
        if key {
            self.key_bytes = self.summary.bytes - before;
        }
        Ok(())
    }

    /// What was dropped since the last gap written, as a gap.
    fn note_gaps(&mut self, at: Duration) {
        let events = self.shared.events_dropped.load(Ordering::Relaxed);
        let samples = self.shared.samples_dropped.load(Ordering::Relaxed);
        let (written_events, written_samples) = self.gaps_written;
        if events > written_events || samples > written_samples {
            file::put(
                &mut self.records,
                &Record::Gap {
                    at,
                    events: events - written_events,
                    samples: samples - written_samples,
                },
            );
            self.gaps_written = (events, samples);
        }
    }

    fn end(&mut self, at: Duration) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.note_gaps(at);
        if self.encoder.is_none() {
            // Nothing sampled yet: a frame of its own for the events and the end.
            self.encoder = Some(zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?);
            self.starts_frame = true;
        }
        file::put(&mut self.records, &Record::End { at });
        self.flush_chunk()?;
        self.finish_frame()?;
        self.file.sync_data()
    }

    fn segment_limit(&self) -> u64 {
        self.max.map_or(u64::MAX, |max| (max / 5).max(1))
    }

    /// Hands the records to the compressor and writes what it makes as a chunk.
    fn flush_chunk(&mut self) -> io::Result<()> {
        let Some(encoder) = self.encoder.as_mut() else {
            // Before the first sample: events wait for the first frame.
            return Ok(());
        };
        if self.records.is_empty() && !self.starts_frame {
            return Ok(());
        }
        encoder.write_all(&self.records)?;
        self.records.clear();
        encoder.flush()?;
        let compressed = std::mem::take(encoder.get_mut());
        let flags = if std::mem::take(&mut self.starts_frame) {
            FRAME_START
        } else {
            0
        };
        self.write_chunk(flags, &compressed)
    }

    /// Ends the zstd frame under way.
    fn finish_frame(&mut self) -> io::Result<()> {
        if let Some(encoder) = self.encoder.take() {
            let rest = encoder.finish()?;
            if !rest.is_empty() {
                self.write_chunk(0, &rest)?;
            }
        }
        Ok(())
    }

    fn write_chunk(&mut self, flags: u8, compressed: &[u8]) -> io::Result<()> {
        let chunk = file::chunk(flags, compressed);
        self.file.write_all(&chunk)?;
        let n = chunk.len() as u64;
        self.segment_bytes += n;
        self.frame_bytes += n;
        self.summary.bytes += n;
        self.shared
            .bytes
            .store(self.summary.bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The segment written so far becomes `FILE.N`; the oldest go until the newest fit the
    /// size; a new segment starts, describing every task again.
    fn rotate(&mut self) -> io::Result<()> {
        let Some(max) = self.max else { return Ok(()) };
        self.file.sync_data()?;
        let closed = segment_path(&self.path, self.header.segment);
        std::fs::rename(&self.path, &closed)?;
        self.closed.push_back((closed, self.segment_bytes));
        let limit = self.segment_limit();
        while self.closed.iter().map(|(_, n)| n).sum::<u64>() + 2 * limit > max {
            let Some((oldest, n)) = self.closed.pop_front() else {
                break;
            };
            std::fs::remove_file(&oldest)?;
            self.summary.bytes_removed += n;
        }
        self.header.segment += 1;
        self.file = create_file(&self.path)?;
        let start = file::segment_start(&self.header);
        self.file.write_all(&start)?;
        self.segment_bytes = start.len() as u64;
        self.summary.bytes += start.len() as u64;
        self.summary.segments += 1;
        self.described = 0;
        Ok(())
    }
}

/// A new file only where a regular file may be: a FIFO or a device at the path is refused,
/// and the recording is readable by its owner alone (task names, notes and errors are in it).
fn create_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok(file)
}
