//! Reading a recording back: [`Replay::open`] reads every segment once (the tasks, the events,
//! where each sample is), then [`Replay::seek`] puts the tasks as they were at any moment, by
//! decompressing from the key sample before it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use serde::Deserialize;

use super::file::{
    self, Attrs, FORMAT_VERSION, FRAME_START, Header, MAGIC, MAX_CHUNK, MAX_FRAME_BYTES, MAX_TASKS,
    NUMBERS, Reading, Record, Sample, TaskRecord, number, segment_path,
};
use crate::journal::{JournalCounts, LedgerReading};
use crate::supervisor::{
    Cleanup, Detail, Event, EventKind, POLL_BUCKETS, PollReading, State, TaskId, TaskSnapshot,
    Timeline,
};

/// Why a file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It does not begin as a recording does.
    #[error("{0} is not a taskmon recording")]
    NotARecording(PathBuf),
    /// Written in a format this taskmon does not read.
    #[error(
        "{path} is a taskmon recording of format version {version}; this taskmon reads version {FORMAT_VERSION}"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version it says.
        version: u32,
    },
    /// What it holds contradicts itself.
    #[error("{path} is damaged: {what}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was found.
        what: String,
    },
}

/// Where a sample is: its frame, and its bytes in the frame's decompressed records.
#[derive(Clone, Copy, Debug)]
struct SampleAt {
    at: Duration,
    frame: usize,
    start: usize,
    end: usize,
}

/// A zstd frame: its segment and its chunks' payloads (offset, length) in the file.
#[derive(Debug)]
struct Frame {
    segment: usize,
    chunks: Vec<(u64, usize)>,
}

/// An event as recorded: its task's name and kind are in the task's record.
#[derive(Clone, Debug)]
struct Recorded {
    since_start: Duration,
    id: TaskId,
    kind: EventKind,
    detail: Detail,
}

/// A gap: what the recorder dropped, noted at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Since the supervisor's start.
    pub at: Duration,
    /// Events not recorded.
    pub events: u64,
    /// Seconds whose sample was not recorded.
    pub samples: u64,
}

/// One task as the samples left it.
#[derive(Clone, Debug)]
struct Row {
    reading: Reading,
    /// Ticks and busy microseconds over the second before.
    per_second: (u64, u64),
}

/// A recording opened for playing back.
pub struct Replay {
    /// The header of the oldest segment read.
    pub header: Header,
    /// The segments read, oldest first.
    pub segments: Vec<PathBuf>,
    files: Vec<File>,
    tasks: Vec<TaskRecord>,
    /// For each task, the latest spawn among it and the tasks before it: how many tasks there
    /// were at a moment is a binary search.
    appeared: Vec<Duration>,
    children: Vec<Vec<TaskId>>,
    /// In the order the program's subscribers saw them.
    events: Vec<Recorded>,
    /// For each event, the latest moment among it and those before it: events handed over from
    /// several threads are a few microseconds out of order, and the events up to a moment are
    /// found by a binary search.
    event_clock: Vec<Duration>,
    gaps: Vec<Gap>,
    samples: Vec<SampleAt>,
    frames: Vec<Frame>,
    /// The first moment recorded, since the supervisor's start.
    pub start: Duration,
    /// The last moment recorded.
    pub end: Duration,
    /// Said when the recording ends in a record cut short, or a segment is damaged.
    pub torn: Option<String>,
    /// Events the file names tasks it never described (left out).
    pub orphan_events: u64,
    // Where the replay stands.
    at: Duration,
    rows: Vec<Option<Row>>,
    applied: Option<usize>,
    grace: Duration,
    cache: Option<(usize, Vec<u8>)>,
    /// States and timelines moved on by the events since the sample.
    moved: std::collections::HashMap<TaskId, Moved>,
}

#[derive(Clone, Debug)]
struct Moved {
    state: State,
    timeline: Timeline,
    panic: Option<Arc<str>>,
    error: Option<Arc<str>>,
}

#[derive(Deserialize)]
struct SampleHead {
    at: Duration,
    key: bool,
}

impl Replay {
    /// Opens the recording at `path` with the rotated segments before it (`path.N`).
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        let newest = open_file(path).map_err(io_error(path))?;
        let header = read_header(&newest, path)?;
        let base = strip_segment(path, header.segment);
        let mut segments = vec![(path.to_path_buf(), newest, header.clone())];
        for n in (0..header.segment).rev() {
            let older = segment_path(&base, n);
            let Ok(file) = open_file(&older) else { break };
            let Ok(h) = read_header(&file, &older) else {
                break;
            };
            if h.run != header.run || h.segment != n {
                break;
            }
            segments.push((older, file, h));
        }
        segments.reverse();
        let mut replay = Replay {
            header: segments[0].2.clone(),
            segments: segments.iter().map(|(p, _, _)| p.clone()).collect(),
            files: Vec::new(),
            tasks: Vec::new(),
            appeared: Vec::new(),
            children: Vec::new(),
            events: Vec::new(),
            event_clock: Vec::new(),
            gaps: Vec::new(),
            samples: Vec::new(),
            frames: Vec::new(),
            start: Duration::ZERO,
            end: Duration::ZERO,
            torn: None,
            orphan_events: 0,
            at: Duration::ZERO,
            rows: Vec::new(),
            applied: None,
            grace: Duration::ZERO,
            cache: None,
            moved: Default::default(),
        };
        let last = segments.len() - 1;
        for (index, (path, file, _)) in segments.into_iter().enumerate() {
            replay.scan(index, &path, &file, index == last)?;
            replay.files.push(file);
        }
        // A rotated recording begins where its oldest segment kept does.
        replay.start = if replay.header.segment == 0 {
            replay.header.recording_from
        } else {
            let first_event = replay.events.first().map(|e| e.since_start);
            replay
                .samples
                .first()
                .map(|s| s.at)
                .or(first_event)
                .unwrap_or_default()
        };
        replay.end = replay.end.max(replay.start);
        replay.at = replay.start;
        replay.grace = replay.header.grace;
        Ok(replay)
    }

    /// Reads one segment's chunks: every record but the samples is taken in; a sample's place
    /// is noted.
    fn scan(
        &mut self,
        segment: usize,
        path: &Path,
        file: &File,
        newest: bool,
    ) -> Result<(), OpenError> {
        let damaged = |what: String| OpenError::Damaged {
            path: path.to_path_buf(),
            what,
        };
        let length = file
            .metadata()
            .map_err(|source| OpenError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let mut offset = header_length(file, path)?;
        let mut decoder: Option<zstd::stream::raw::Decoder<'static>> = None;
        let mut decoded: Vec<u8> = Vec::new();
        let mut frame_bytes = 0usize;
        let mut cut = None;
        while offset < length {
            let mut head = [0u8; 8];
            if length - offset < 8 || file.read_exact_at(&mut head, offset).is_err() {
                cut = Some(offset);
                break;
            }
            let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
            if len == 0 || len > MAX_CHUNK || offset + 8 + len as u64 > length {
                cut = Some(offset);
                break;
            }
            let mut payload = vec![0u8; len];
            if file.read_exact_at(&mut payload, offset + 8).is_err()
                || crc32fast::hash(&payload) != crc
            {
                cut = Some(offset);
                break;
            }
            let flags = payload[0];
            if flags & FRAME_START != 0 {
                decoder =
                    Some(zstd::stream::raw::Decoder::new().map_err(|e| damaged(e.to_string()))?);
                self.frames.push(Frame {
                    segment,
                    chunks: Vec::new(),
                });
                decoded.clear();
                frame_bytes = 0;
            }
            let (Some(decoder), Some(frame)) = (decoder.as_mut(), self.frames.last_mut()) else {
                return Err(damaged(format!(
                    "the chunk at byte {offset} continues no frame"
                )));
            };
            frame.chunks.push((offset + 9, len - 1));
            let frame_index = self.frames.len() - 1;
            inflate(
                decoder,
                &payload[1..],
                &mut decoded,
                MAX_FRAME_BYTES - frame_bytes,
            )
            .map_err(|e| damaged(format!("the chunk at byte {offset}: {e}")))?;
            let mut at = 0;
            // Records never straddle chunks: a chunk is the compressor flushed after whole records.
            while let Some(bytes) = file::next_record(&decoded, &mut at) {
                let start = frame_bytes + (at - bytes.len());
                self.take(bytes, frame_index, start, frame_bytes + at)
                    .map_err(|what| damaged(format!("the chunk at byte {offset}: {what}")))?;
            }
            if at != decoded.len() {
                return Err(damaged(format!(
                    "the chunk at byte {offset} ends inside a record"
                )));
            }
            frame_bytes += decoded.len();
            decoded.clear();
            offset += 8 + len as u64;
        }
        if let Some(cut) = cut {
            let through = crate::text::humanize(self.end);
            self.torn = Some(if newest {
                format!(
                    "{} ends in a record cut short at byte {cut} of {length} (the program was killed, or the disk filled): read up to +{through}",
                    path.display()
                )
            } else {
                format!(
                    "{} is damaged at byte {cut} of {length}: read up to +{through} there",
                    path.display()
                )
            });
        }
        Ok(())
    }

    /// Takes one record in at open.
    fn take(&mut self, bytes: &[u8], frame: usize, start: usize, end: usize) -> Result<(), String> {
        if file::is_sample(bytes) {
            let (head, _) = postcard::take_from_bytes::<SampleHead>(&bytes[1..])
                .map_err(|e| format!("a sample: {e}"))?;
            let first_of_frame = self.samples.last().is_none_or(|s| s.frame != frame);
            if head.key != first_of_frame {
                return Err("a frame that does not begin with a key sample".into());
            }
            if self.samples.last().is_some_and(|s| s.at > head.at) {
                return Err("samples out of order".into());
            }
            self.samples.push(SampleAt {
                at: head.at,
                frame,
                start,
                end,
            });
            self.end = self.end.max(head.at);
            return Ok(());
        }
        let record: Record = postcard::from_bytes(bytes).map_err(|e| format!("a record: {e}"))?;
        match record {
            Record::Task(mut task) => {
                task.name = clean(&task.name);
                task.kind =
                    crate::supervisor::Label::from(crate::text::escape(&task.kind).into_owned());
                task.location = task.location.map(|l| {
                    crate::supervisor::SpawnSite::text(
                        crate::text::escape(&l.to_string()).into_owned(),
                    )
                });
                let known = self.tasks.len() as TaskId;
                if task.id == known + 1 {
                    if self.tasks.len() >= MAX_TASKS {
                        return Err(format!("more than {MAX_TASKS} tasks"));
                    }
                    let latest = self.appeared.last().copied().unwrap_or_default();
                    self.appeared.push(latest.max(task.spawned));
                    self.children.push(Vec::new());
                    if let Some(parent) = task.parent
                        && let Some(siblings) = self.children.get_mut(parent as usize - 1)
                        && parent < task.id
                    {
                        siblings.push(task.id);
                    }
                    self.tasks.push(task);
                } else if task.id == 0 || task.id > known {
                    return Err(format!("task #{} described after #{known}", task.id));
                }
            }
            Record::Event {
                since_start,
                id,
                kind,
                detail,
            } => {
                if id == 0 || id as usize > self.tasks.len() {
                    self.orphan_events += 1;
                } else {
                    let detail = clean_detail(detail);
                    self.end = self.end.max(since_start);
                    let latest = self.event_clock.last().copied().unwrap_or_default();
                    self.event_clock.push(latest.max(since_start));
                    self.events.push(Recorded {
                        since_start,
                        id,
                        kind,
                        detail,
                    });
                }
            }
            Record::Gap {
                at,
                events,
                samples,
            } => self.gaps.push(Gap {
                at,
                events,
                samples,
            }),
            Record::End { at } => self.end = self.end.max(at),
            Record::Sample(_) => unreachable!("samples are noted above"),
        }
        Ok(())
    }

    /// How many tasks the recording describes.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// How many events it holds.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// How many seconds were sampled.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// What the recorder dropped, in order.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// The wall-clock time of a moment given as time since the supervisor's start.
    pub fn wall_time(&self, since_start: Duration) -> DateTime<Local> {
        self.header.started + chrono::TimeDelta::from_std(since_start).unwrap_or_default()
    }

    /// Every event as the program's subscribers saw it, in order.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.iter().map(|e| self.event(e))
    }

    fn event(&self, e: &Recorded) -> Event {
        let task = &self.tasks[e.id as usize - 1];
        Event {
            at: self.wall_time(e.since_start),
            since_start: e.since_start,
            id: e.id,
            task: task.name.clone(),
            task_kind: task.kind.clone(),
            kind: e.kind,
            detail: e.detail.clone(),
        }
    }

    /// How many events happened by `at`.
    fn events_by(&self, at: Duration) -> usize {
        self.event_clock.partition_point(|&t| t <= at)
    }

    /// The events up to `at`, the newest `most` of them.
    pub fn events_until(&self, at: Duration, most: usize) -> Vec<Event> {
        let end = self.events_by(at);
        self.events[end.saturating_sub(most)..end]
            .iter()
            .map(|e| self.event(e))
            .collect()
    }

    /// The events after `from` up to `to`.
    pub fn events_between(&self, from: Duration, to: Duration) -> Vec<Event> {
        let start = self.events_by(from);
        let end = self.events_by(to);
        self.events[start..end.max(start)]
            .iter()
            .map(|e| self.event(e))
            .collect()
    }

    /// The moment of the first event after `at`, or of the last one before it.
    pub fn next_event(&self, at: Duration, forward: bool) -> Option<Duration> {
        if forward {
            self.event_clock.get(self.events_by(at)).copied()
        } else {
            let i = self.event_clock.partition_point(|&t| t < at);
            i.checked_sub(1).map(|i| self.event_clock[i])
        }
    }

    /// The gaps noted up to `at`.
    pub fn gaps_until(&self, at: Duration) -> impl Iterator<Item = &Gap> {
        self.gaps.iter().filter(move |g| g.at <= at)
    }

    /// Where the replay stands.
    pub fn at(&self) -> Duration {
        self.at
    }

    /// The grace period then.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Puts the tasks as they were at `at` (within the recording).
    pub fn seek(&mut self, at: Duration) -> Result<(), String> {
        let at = at.clamp(self.start, self.end);
        let target = self.samples.partition_point(|s| s.at <= at).checked_sub(1);
        match target {
            None => {
                self.rows.clear();
                self.applied = None;
            }
            Some(i) => self.apply_through(i)?,
        }
        self.at = at;
        self.move_by_events();
        Ok(())
    }

    /// Applies samples up to `target`: on from the one applied when it is in the same frame and
    /// before, else from the frame's key sample.
    fn apply_through(&mut self, target: usize) -> Result<(), String> {
        let frame = self.samples[target].frame;
        let from = match self.applied {
            Some(j) if j == target => return Ok(()),
            Some(j) if j < target && self.samples[j].frame == frame => j + 1,
            _ => {
                self.rows.clear();
                self.samples.partition_point(|s| s.frame < frame)
            }
        };
        self.load_frame(frame)?;
        for i in from..=target {
            let place = self.samples[i];
            let data = &self.cache.as_ref().expect("loaded").1;
            let bytes = data
                .get(place.start..place.end)
                .ok_or("a sample beyond its frame's end")?;
            let record: Record =
                postcard::from_bytes(bytes).map_err(|e| format!("a sample: {e}"))?;
            let Record::Sample(sample) = record else {
                return Err("a sample that is not one".into());
            };
            let follows = i > 0 && self.applied == Some(i - 1);
            self.apply(&sample, follows)?;
            self.applied = Some(i);
        }
        Ok(())
    }

    fn load_frame(&mut self, frame: usize) -> Result<(), String> {
        if self.cache.as_ref().is_some_and(|(f, _)| *f == frame) {
            return Ok(());
        }
        let Frame { segment, chunks } = &self.frames[frame];
        let file = &self.files[*segment];
        let mut decoder = zstd::stream::raw::Decoder::new().map_err(|e| e.to_string())?;
        let mut data = Vec::new();
        for &(offset, len) in chunks {
            let mut payload = vec![0u8; len];
            file.read_exact_at(&mut payload, offset)
                .map_err(|e| format!("cannot read the recording again: {e}"))?;
            inflate(&mut decoder, &payload, &mut data, MAX_FRAME_BYTES)
                .map_err(|e| e.to_string())?;
        }
        self.cache = Some((frame, data));
        Ok(())
    }

    /// One sample's changes; `follows` says the rows are those of the sample just before, so a
    /// key sample's differences are the last second's rates.
    fn apply(&mut self, sample: &Sample, follows: bool) -> Result<(), String> {
        let n = sample.ids.len();
        if sample.states.len() != n || sample.numbers.iter().any(|c| c.len() != n) {
            return Err("a sample whose columns differ in length".into());
        }
        let previous = if sample.key && follows {
            std::mem::take(&mut self.rows)
        } else {
            Vec::new()
        };
        if sample.key {
            self.rows.clear();
        }
        let mut places = Vec::with_capacity(n);
        let mut id: u64 = 0;
        for gap in &sample.ids {
            id = id.checked_add(*gap).ok_or("a task id past the end")?;
            if id == 0 || id as usize > self.tasks.len() {
                return Err(format!("a sample of task #{id}, never described"));
            }
            places.push(id as usize - 1);
        }
        if self.rows.len() < self.tasks.len() {
            self.rows.resize(self.tasks.len(), None);
        }
        for row in self.rows.iter_mut().flatten() {
            row.per_second = (0, 0);
        }
        for (place, &index) in places.iter().enumerate() {
            let row = self.rows[index].get_or_insert_with(|| Row {
                reading: blank_reading(),
                per_second: (0, 0),
            });
            let before = row.reading.numbers;
            row.reading.state = sample.states[place];
            for (k, number) in row.reading.numbers.iter_mut().enumerate() {
                *number = number.wrapping_add(sample.numbers[k][place] as u64);
            }
            let base = if sample.key {
                previous
                    .get(index)
                    .and_then(|r| r.as_ref())
                    .map(|r| r.reading.numbers)
            } else {
                Some(before)
            };
            row.per_second = base.map_or((0, 0), |b| {
                (
                    row.reading.numbers[number::TICKS].saturating_sub(b[number::TICKS]),
                    row.reading.numbers[number::BUSY_MICROS].saturating_sub(b[number::BUSY_MICROS]),
                )
            });
        }
        for (place, bucket, delta) in &sample.histogram {
            let index = *places
                .get(*place as usize)
                .ok_or("a histogram of no task")?;
            let slot = usize::from(*bucket);
            if slot >= POLL_BUCKETS {
                return Err("a poll bucket out of range".into());
            }
            if let Some(row) = self.rows[index].as_mut() {
                let h = &mut row.reading.histogram[slot];
                *h = h.wrapping_add(*delta as u64);
            }
        }
        for (place, attrs) in &sample.attrs {
            let index = *places.get(*place as usize).ok_or("figures of no task")?;
            if let Some(row) = self.rows[index].as_mut() {
                row.reading.attrs = clean_attrs(attrs.clone());
            }
        }
        for (place, counters) in &sample.counters {
            let index = *places.get(*place as usize).ok_or("counters of no task")?;
            if let Some(row) = self.rows[index].as_mut() {
                row.reading.counters = counters
                    .iter()
                    .map(|(name, value)| (clean(name), *value))
                    .collect();
            }
        }
        self.grace = sample.grace;
        Ok(())
    }

    /// The states the events after the sample applied move to, up to the moment shown.
    fn move_by_events(&mut self) {
        self.moved.clear();
        let sampled = self.applied.map_or(Duration::ZERO, |i| self.samples[i].at);
        let from = if self.applied.is_some() {
            self.events_by(sampled)
        } else {
            0
        };
        let to = self.events_by(self.at);
        for i in from..to.max(from) {
            let e = self.events[i].clone();
            let index = e.id as usize - 1;
            let moved = self.moved.entry(e.id).or_insert_with(|| {
                let row = self.rows.get(index).and_then(|r| r.as_ref());
                Moved {
                    state: row
                        .and_then(|r| State::from_code(r.reading.state))
                        .unwrap_or(State::Running),
                    timeline: row.map_or_else(Timeline::default, |r| r.reading.attrs.timeline),
                    panic: row.and_then(|r| r.reading.attrs.panic_message.clone()),
                    error: row.and_then(|r| r.reading.attrs.error.clone()),
                }
            });
            moved.timeline = moved.timeline.reaching(e.kind, e.since_start);
            match &e.detail {
                Detail::Joined { state, .. } => moved.state = *state,
                Detail::Panicked { message } => moved.panic = Some(message.clone()),
                Detail::Errored { message } => moved.error = Some(message.clone()),
                _ => {}
            }
            moved.state = match e.kind {
                EventKind::Restarting => State::Restarting,
                EventKind::Restarted | EventKind::Spawned => State::Running,
                EventKind::Failed => State::Failed,
                EventKind::Abandoned => State::Abandoned,
                EventKind::Dropped => State::Dropped,
                _ if moved.state.is_ended() => moved.state,
                _ => State::live(|kind| moved.timeline.at(kind).is_some()),
            };
        }
    }

    /// How many tasks had been spawned by the moment shown.
    pub fn len(&self) -> usize {
        self.appeared.partition_point(|&t| t <= self.at)
    }

    /// Whether no task had been spawned by then.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every task's state then, task `id` at index `id - 1`.
    pub fn states(&self) -> Vec<State> {
        (1..=self.len() as TaskId)
            .map(|id| self.state(id))
            .collect()
    }

    fn state(&self, id: TaskId) -> State {
        if let Some(moved) = self.moved.get(&id) {
            return moved.state;
        }
        self.rows
            .get(id as usize - 1)
            .and_then(|r| r.as_ref())
            .and_then(|r| State::from_code(r.reading.state))
            .unwrap_or(State::Running)
    }

    /// One figure of every task then.
    fn each(&self, figure: impl Fn(&Row) -> u64) -> Vec<u64> {
        (0..self.len())
            .map(|i| self.rows.get(i).and_then(|r| r.as_ref()).map_or(0, &figure))
            .collect()
    }

    /// Every task's ticks then.
    pub fn tick_counts(&self) -> Vec<u64> {
        self.each(|r| r.reading.numbers[number::TICKS])
    }

    /// Every task's busy time then, in nanoseconds.
    pub fn busy_times(&self) -> Vec<u64> {
        self.each(|r| r.reading.numbers[number::BUSY_MICROS].saturating_mul(1000))
    }

    /// Every task's ticks and busy nanoseconds over the second recorded before then.
    pub fn per_second(&self) -> (Vec<u64>, Vec<u64>) {
        (
            self.each(|r| r.per_second.0),
            self.each(|r| r.per_second.1.saturating_mul(1000)),
        )
    }

    /// The children of task `id` spawned by then.
    pub fn children(&self, id: TaskId) -> Vec<TaskId> {
        let len = self.len() as TaskId;
        self.children
            .get((id as usize).wrapping_sub(1))
            .map(|c| c.iter().copied().filter(|&c| c <= len).collect())
            .unwrap_or_default()
    }

    /// Every task as it was then.
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let ids: Vec<TaskId> = (1..=self.len() as TaskId).collect();
        self.snapshots(&ids)
    }

    /// The tasks `ids` as they were then; ids not spawned by then are left out.
    pub fn snapshots(&self, ids: &[TaskId]) -> Vec<TaskSnapshot> {
        let len = self.len() as TaskId;
        ids.iter()
            .filter(|&&id| id >= 1 && id <= len)
            .map(|&id| self.task(id))
            .collect()
    }

    fn task(&self, id: TaskId) -> TaskSnapshot {
        let record = &self.tasks[id as usize - 1];
        let blank = blank_reading();
        let reading = self
            .rows
            .get(id as usize - 1)
            .and_then(|r| r.as_ref())
            .map_or(&blank, |r| &r.reading);
        let moved = self.moved.get(&id);
        let state = self.state(id);
        let attrs = &reading.attrs;
        let mut timeline = moved.map_or(attrs.timeline, |m| m.timeline);
        if timeline.at(EventKind::Spawned).is_none() {
            timeline = timeline.reaching(EventKind::Spawned, record.spawned);
        }
        let n = &reading.numbers;
        let spawned = timeline.at(EventKind::Spawned).unwrap_or_default();
        let until = timeline
            .at(EventKind::Joined)
            .filter(|_| state.is_ended())
            .unwrap_or(self.at);
        TaskSnapshot {
            id,
            name: record.name.clone(),
            kind: record.kind.clone(),
            state,
            cleanup: if moved.is_some() {
                Cleanup::of(Some(state), &timeline)
            } else {
                attrs.cleanup
            },
            cleanup_progress: attrs.cleanup_progress,
            ledger: LedgerReading {
                ticks: n[number::TICKS],
                journal: record.journaled.then_some(JournalCounts {
                    persisted: n[number::PERSISTED],
                    lost: n[number::LOST],
                    pending: n[number::PENDING],
                }),
            },
            journaled: record.journaled,
            journal_error: attrs.journal_error.clone(),
            parent: record.parent,
            orphan: attrs.orphan,
            abort_ignored: attrs.abort_ignored,
            busy: attrs.busy,
            drop_ran: attrs.drop_ran,
            panic_message: moved.map_or(attrs.panic_message.clone(), |m| m.panic.clone()),
            error: moved.map_or(attrs.error.clone(), |m| m.error.clone()),
            restarts: n[number::RESTARTS].min(u64::from(u32::MAX)) as u32,
            note: attrs.note.clone(),
            detached: record.detached,
            timeline,
            escalation_at: attrs.escalation_at.filter(|_| !state.is_ended()),
            age: until.saturating_sub(spawned),
            polls: PollReading {
                polls: n[number::POLLS],
                busy: Duration::from_micros(n[number::BUSY_MICROS]),
                max_poll: Duration::from_micros(n[number::MAX_POLL_MICROS]),
                slow_polls: n[number::SLOW_POLLS],
                histogram: reading.histogram,
                blocking: attrs.blocking.clone().filter(|_| !state.is_ended()),
            },
            location: record.location.clone(),
            restart_storm: attrs.restart_storm,
            counters: reading.counters.clone(),
        }
    }
}

/// Text from the file as a terminal may show it: a recording is input like any other (taskmon
/// wrote names it had checked, but a file can say anything).
fn clean(text: &Arc<str>) -> Arc<str> {
    match crate::text::escape(text) {
        std::borrow::Cow::Borrowed(_) => text.clone(),
        std::borrow::Cow::Owned(escaped) => escaped.into(),
    }
}

fn clean_detail(detail: Detail) -> Detail {
    match detail {
        Detail::Panicked { message } => Detail::Panicked {
            message: clean(&message),
        },
        Detail::Errored { message } => Detail::Errored {
            message: clean(&message),
        },
        Detail::JournalError { reason } => Detail::JournalError {
            reason: clean(&reason),
        },
        Detail::Blocking { thread, lasted } => Detail::Blocking {
            thread: clean(&thread),
            lasted,
        },
        other => other,
    }
}

fn clean_attrs(mut attrs: Attrs) -> Attrs {
    let clean_all = |t: &mut Option<Arc<str>>| {
        if let Some(text) = t.as_mut() {
            *text = clean(text);
        }
    };
    clean_all(&mut attrs.journal_error);
    clean_all(&mut attrs.panic_message);
    clean_all(&mut attrs.error);
    clean_all(&mut attrs.note);
    if let Some(blocking) = attrs.blocking.as_mut() {
        blocking.thread = clean(&blocking.thread);
    }
    attrs
}

/// A task seen in no sample yet: spawned, nothing counted.
fn blank_reading() -> Reading {
    Reading {
        numbers: [0; NUMBERS],
        state: State::Running.code(),
        histogram: [0; POLL_BUCKETS],
        counters: Vec::new(),
        attrs: Attrs {
            cleanup: Cleanup::NotApplicable,
            cleanup_progress: None,
            journal_error: None,
            orphan: false,
            abort_ignored: false,
            busy: false,
            drop_ran: false,
            panic_message: None,
            error: None,
            note: None,
            timeline: Timeline::default(),
            escalation_at: None,
            restart_storm: false,
            blocking: None,
        },
    }
}

/// Opens a file to read, refusing what is not a regular file (a FIFO would hold the replay up).
fn open_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// The bytes before a segment's first chunk.
fn header_length(file: &File, path: &Path) -> Result<u64, OpenError> {
    let mut start = [0u8; 19];
    file.read_exact_at(&mut start, 0)
        .map_err(|_| OpenError::NotARecording(path.to_path_buf()))?;
    let len = u32::from_le_bytes(start[15..19].try_into().expect("4 bytes"));
    Ok(19 + u64::from(len) + 4)
}

fn read_header(file: &File, path: &Path) -> Result<Header, OpenError> {
    let not_one = || OpenError::NotARecording(path.to_path_buf());
    let mut start = [0u8; 19];
    let mut reader = file;
    reader.read_exact(&mut start).map_err(|_| not_one())?;
    if &start[..MAGIC.len()] != MAGIC {
        return Err(not_one());
    }
    let version = u32::from_le_bytes(start[11..15].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(OpenError::Version {
            path: path.to_path_buf(),
            version,
        });
    }
    let len = u32::from_le_bytes(start[15..19].try_into().expect("4 bytes")) as usize;
    let damaged = |what: &str| OpenError::Damaged {
        path: path.to_path_buf(),
        what: what.into(),
    };
    if len > MAX_CHUNK || len as u64 + 23 > file.metadata().map_or(0, |m| m.len()) {
        return Err(damaged("its header's length is past the end of the file"));
    }
    let mut body = vec![0u8; len + 4];
    file.read_exact_at(&mut body, 19)
        .map_err(|_| damaged("its header is cut short"))?;
    let crc = u32::from_le_bytes(body[len..].try_into().expect("4 bytes"));
    if crc32fast::hash(&body[..len]) != crc {
        return Err(damaged("its header does not match its checksum"));
    }
    postcard::from_bytes(&body[..len]).map_err(|e| damaged(&format!("its header: {e}")))
}

/// `FILE` for `FILE.N` when the segment says it is number N.
fn strip_segment(path: &Path, segment: u64) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    let suffix = format!(".{segment}");
    match text.strip_suffix(&suffix) {
        Some(base) if segment > 0 => PathBuf::from(base),
        _ => path.to_path_buf(),
    }
}

/// Decompresses `input` onto the end of `out`, refusing to grow it past `limit` bytes.
fn inflate(
    decoder: &mut zstd::stream::raw::Decoder<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> io::Result<()> {
    use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
    let mut input = InBuffer::around(input);
    loop {
        if out.capacity() - out.len() < 1 << 16 {
            out.reserve(1 << 17);
        }
        let pos = out.len();
        let capacity = out.capacity();
        let written = {
            let mut output = OutBuffer::around_pos(out, pos);
            decoder.run(&mut input, &mut output)?;
            output.pos()
        };
        if out.len() > limit {
            return Err(io::Error::other(
                "it decompresses to more than a recording holds",
            ));
        }
        if input.pos() == input.src.len() && written < capacity {
            return Ok(());
        }
    }
}
