//! The flight recorder on tokio's paused clock: what a replay shows at every second is what the
//! supervisor showed then; the events are the program's own; a file cut anywhere reads up to
//! the cut; a rotated recording keeps at most its size; hostile files are refused.

use std::path::Path;
use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::record::{OpenError, RecordOptions, Replay};
use taskmon::{Event, RestartPolicy, Supervisor, TaskSnapshot};
use tokio::time::{Instant, sleep_until};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn at(sup: &Supervisor, at: Duration) {
    sleep_until(Instant::now() + at.saturating_sub(sup.uptime())).await;
}

/// The figures a replay must give back exactly.
fn figures(s: &TaskSnapshot) -> String {
    format!(
        "#{} {} {} ticks {:?} restarts {} polls {} cleanup {}",
        s.id, s.name, s.state, s.ledger, s.restarts, s.polls.polls, s.cleanup
    )
}

/// Tasks whose ticks never fall on a whole second before 10 s (the sampler's moments): a
/// select and a polling task with journals, a panicky one restarted by its policy, a parent.
fn spawn_lessons(sup: &Supervisor) {
    let every = |n| Params {
        interval: ms(n),
        flush_every: 3,
        ..Params::default()
    };
    sup.spawn(Kind::Select.task("select", &every(110))).unwrap();
    sup.spawn(Kind::Polling.task("polling", &every(170)))
        .unwrap();
    let restarted = Params {
        panic_after: 7,
        restart: RestartPolicy::on_panic().delay(ms(230)),
        ..every(130)
    };
    sup.spawn(Kind::Panicky.task("boom", &restarted)).unwrap();
    let parent = Params {
        children: 2,
        ..every(190)
    };
    sup.spawn(Kind::Parent.task("parent", &parent)).unwrap();
}

/// Records the lessons for 8 s with a stop at 2.5 s and an abort at 4.5 s; returns what the
/// supervisor showed just after each second, and every event it handed out.
async fn record_lessons(path: &Path) -> (Vec<(Duration, Vec<TaskSnapshot>)>, Vec<Event>) {
    taskmon::silence_task_panics(true);
    let sup = Supervisor::builder()
        .grace(ms(1000))
        .restart_jitter(0.0)
        .record(path)
        .build()
        .unwrap();
    let mut events = sup.events();
    spawn_lessons(&sup);
    let mut seconds = Vec::new();
    for second in 1..=8u64 {
        if second == 3 {
            at(&sup, ms(2500)).await;
            sup.stop(1).unwrap();
        }
        if second == 5 {
            at(&sup, ms(4500)).await;
            sup.abort(2).unwrap();
        }
        let moment = Duration::from_secs(second) + ms(1);
        at(&sup, moment).await;
        // The paused clock runs ahead of the recorder's thread, which would drop samples.
        assert!(sup.flush_recording());
        seconds.push((moment, sup.snapshot()));
    }
    at(&sup, ms(8500)).await;
    sup.shutdown(ms(1000)).await;
    let summary = sup.stop_recording().expect("recording");
    assert_eq!(summary.error, None);
    assert_eq!((summary.events_dropped, summary.samples_dropped), (0, 0));
    seconds.push((sup.uptime(), sup.snapshot()));
    let mut seen = Vec::new();
    while let Some(e) = events.try_recv() {
        seen.push(e);
    }
    (seconds, seen)
}

#[tokio::test(start_paused = true)]
async fn the_replay_shows_at_every_second_what_the_supervisor_showed_and_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lessons.tmrec");
    let (seconds, events) = record_lessons(&path).await;
    let mut replay = Replay::open(&path).unwrap();
    assert_eq!(replay.torn, None);
    assert_eq!(replay.start, Duration::ZERO);
    for (moment, live) in &seconds {
        replay.seek(*moment).unwrap();
        let replayed: Vec<String> = replay.snapshot().iter().map(figures).collect();
        let live: Vec<String> = live.iter().map(figures).collect();
        assert_eq!(replayed, live, "at {moment:?}");
    }
    assert_eq!(replay.events().collect::<Vec<_>>(), events);
    // Between samples, events move the states on: the stop at 2.5 s shows at 2.5 s.
    replay.seek(ms(2400)).unwrap();
    assert_eq!(replay.states()[0], taskmon::State::Running);
    replay.seek(ms(2600)).unwrap();
    assert!(replay.states()[0].is_ended(), "{:?}", replay.states()[0]);
    // Back in time is the same as forward.
    replay.seek(seconds[1].0).unwrap();
    let again: Vec<String> = replay.snapshot().iter().map(figures).collect();
    assert_eq!(again, seconds[1].1.iter().map(figures).collect::<Vec<_>>());
}

/// Where each chunk of a segment ends, from its header on.
fn chunk_ends(bytes: &[u8]) -> Vec<usize> {
    let header = u32::from_le_bytes(bytes[15..19].try_into().unwrap()) as usize;
    let mut at = 19 + header + 4;
    let mut ends = vec![at];
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
        ends.push(at);
    }
    assert_eq!(at, bytes.len(), "the chunks fill the file");
    ends
}

#[tokio::test(start_paused = true)]
async fn a_recording_cut_at_any_byte_of_its_last_records_reads_up_to_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.tmrec");
    record_lessons(&path).await;
    let whole = std::fs::read(&path).unwrap();
    let full = Replay::open(&path).unwrap();
    let all_events: Vec<Event> = full.events().collect();
    let ends = chunk_ends(&whole);
    // The last four chunks: the last seconds, the shutdown's events, the last sample, the end.
    let from = ends[ends.len().saturating_sub(5)];
    let cut_path = dir.path().join("cut.tmrec");
    let mut last_events = 0;
    for cut in from..whole.len() {
        std::fs::write(&cut_path, &whole[..cut]).unwrap();
        let replay = Replay::open(&cut_path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(
            replay.torn.is_some(),
            !ends.contains(&cut),
            "cut at {cut}: {:?}",
            replay.torn
        );
        if let Some(torn) = &replay.torn {
            assert!(torn.contains("cut short"), "{torn}");
        }
        let events: Vec<Event> = replay.events().collect();
        assert_eq!(events, all_events[..events.len()], "cut at {cut}: a prefix");
        assert!(
            events.len() >= last_events,
            "cut at {cut}: more bytes, fewer events"
        );
        last_events = events.len();
        // Every moment it kept can be shown.
        let mut replay = replay;
        replay.seek(replay.end).unwrap();
    }
    assert_eq!(full.torn, None);
}

#[tokio::test(start_paused = true)]
async fn a_rotated_recording_keeps_at_most_its_size_and_replays_its_newest_part() {
    taskmon::silence_task_panics(true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.tmrec");
    let max = 64 << 10;
    let sup = Supervisor::builder()
        .record_with(
            &path,
            RecordOptions {
                max_bytes: Some(max),
                ..Default::default()
            },
        )
        .build()
        .unwrap();
    let quick = Params {
        interval: ms(40),
        journal: false,
        ..Params::default()
    };
    for i in 0..300 {
        sup.spawn(Kind::Select.task(format!("load-{i}"), &quick))
            .unwrap();
    }
    // How many bytes a second takes depends on real poll timings: run until the oldest segment
    // has been removed (the bytes on disk drop), then a little longer.
    let (mut largest, mut before, mut removed_at) = (0, 0, None);
    for second in 1..=1200 {
        at(&sup, Duration::from_secs(second) + ms(1)).await;
        assert!(sup.flush_recording());
        let now = on_disk(&path);
        largest = largest.max(now);
        if now < before && removed_at.is_none() {
            removed_at = Some(second);
        }
        before = now;
        if removed_at.is_some_and(|at| second >= at + 10) {
            break;
        }
    }
    assert!(removed_at.is_some(), "no segment was removed in 1200 s");
    let last = sup.snapshot();
    let summary = sup.stop_recording().unwrap();
    eprintln!("{summary:?}");
    assert!(summary.segments >= 3, "{summary:?}");
    assert!(summary.bytes_removed > 0, "{summary:?}");
    largest = largest.max(on_disk(&path));
    assert!(largest <= max, "{largest} bytes on disk, more than {max}");
    let mut replay = Replay::open(&path).unwrap();
    assert!(replay.segments.len() >= 2, "{:?}", replay.segments);
    // The oldest seconds are gone: the replay starts where the oldest segment kept does, and
    // reads every segment left on disk.
    assert!(replay.start > Duration::ZERO, "{:?}", replay.start);
    let on_disk_segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("rotated.tmrec")
        })
        .count();
    assert_eq!(replay.segments.len(), on_disk_segments);
    assert_eq!(replay.task_count(), 300);
    replay.seek(replay.end).unwrap();
    let replayed: Vec<String> = replay.snapshot().iter().map(figures).collect();
    assert_eq!(replayed, last.iter().map(figures).collect::<Vec<_>>());
    sup.shutdown(ms(100)).await;
}

/// The bytes of a recording and its rotated segments.
fn on_disk(path: &Path) -> u64 {
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn refused(path: &Path) -> String {
    match Replay::open(path) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(start_paused = true)]
async fn hostile_files_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tmrec");
    record_lessons(&good).await;
    let bytes = std::fs::read(&good).unwrap();
    let file = dir.path().join("bad.tmrec");
    let write = |b: &[u8]| std::fs::write(&file, b).unwrap();

    write(b"[[task]]\nname = \"a toml file\"\n");
    assert!(refused(&file).contains("is not a taskmon recording"));
    write(b"");
    assert!(refused(&file).contains("is not a taskmon recording"));
    let mut version = bytes.clone();
    version[11..15].copy_from_slice(&7u32.to_le_bytes());
    write(&version);
    assert!(refused(&file).contains("format version 7; this taskmon reads version 1"));
    let mut header = bytes.clone();
    header[15..19].copy_from_slice(&u32::MAX.to_le_bytes());
    write(&header);
    assert!(refused(&file).contains("header's length is past the end"));
    let mut flipped = bytes.clone();
    flipped[20] ^= 0xff;
    write(&flipped);
    assert!(refused(&file).contains("checksum"));
    assert!(matches!(
        Replay::open(dir.path()),
        Err(OpenError::Io { .. })
    ));

    // A chunk that says it is 4 GB long: read up to it, never allocated.
    let ends = chunk_ends(&bytes);
    let mut lying = bytes[..ends[3]].to_vec();
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    lying.extend_from_slice(&[0; 64]);
    write(&lying);
    let replay = Replay::open(&file).unwrap();
    assert!(replay.torn.as_deref().unwrap().contains("cut short"));

    // Damage anywhere: refused or read up to it, never a panic; every moment kept can be shown.
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..damaged.len());
            damaged[i] = rng.u8(..);
        }
        write(&damaged);
        if let Ok(mut replay) = Replay::open(&file) {
            for second in 0..10 {
                let _ = replay.seek(Duration::from_secs(second));
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_chunk_whose_checksum_holds_but_whose_records_lie_is_refused() {
    use taskmon::record::file::{self, Record, Sample, TaskRecord};
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tmrec");
    record_lessons(&good).await;
    let bytes = std::fs::read(&good).unwrap();
    let header_end = chunk_ends(&bytes)[0];
    let file_path = dir.path().join("lying.tmrec");
    let with_records = |records: &[Record]| {
        let mut raw = Vec::new();
        for r in records {
            file::put(&mut raw, r);
        }
        let mut out = bytes[..header_end].to_vec();
        out.extend(file::chunk(
            file::FRAME_START,
            &zstd::bulk::compress(&raw, 3).unwrap(),
        ));
        std::fs::write(&file_path, out).unwrap();
    };
    let task = |id| {
        Record::Task(TaskRecord {
            id,
            name: "a".into(),
            kind: "select".into(),
            parent: None,
            spawned: Duration::ZERO,
            journaled: false,
            detached: false,
            location: None,
        })
    };
    // Text from a file reaches a terminal escaped, whatever the file says.
    let mut evil = task(1);
    if let Record::Task(t) = &mut evil {
        t.name = "\u{1b}]0;owned\u{7}x".into();
    }
    let event = Record::Event {
        since_start: Duration::ZERO,
        id: 1,
        kind: taskmon::EventKind::Panicked,
        detail: taskmon::Detail::Panicked {
            message: "\u{1b}[2J".into(),
        },
    };
    with_records(&[evil, event]);
    let replay = Replay::open(&file_path).unwrap();
    let shown: Vec<Event> = replay.events().collect();
    assert!(!shown[0].task.contains('\u{1b}'), "{:?}", shown[0].task);
    let taskmon::Detail::Panicked { message } = &shown[0].detail else {
        panic!("{:?}", shown[0].detail)
    };
    assert!(!message.contains('\u{1b}'), "{message:?}");
    with_records(&[task(5)]);
    assert!(refused(&file_path).contains("task #5 described after #0"));
    let huge = Sample {
        key: true,
        ids: vec![u64::MAX / 2],
        states: vec![1],
        numbers: Default::default(),
        ..Default::default()
    };
    with_records(&[task(1), Record::Sample(Box::new(huge))]);
    // The sample is found wrong when it is read, with a message, not an allocation of its ids.
    let mut replay = Replay::open(&file_path).unwrap();
    let error = replay.seek(Duration::ZERO).unwrap_err();
    assert!(
        error.contains("columns differ") || error.contains("never described"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn what_the_recorder_cannot_keep_up_with_is_counted_and_marked_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("behind.tmrec");
    let sup = Supervisor::builder()
        .record_with(
            &path,
            RecordOptions {
                queue: 1,
                ..Default::default()
            },
        )
        .build()
        .unwrap();
    let mut events = sup.events();
    let quiet = Params {
        interval: ms(500),
        journal: false,
        ..Params::default()
    };
    // Each spawn is one hand-over: far more than a queue of one keeps up with.
    for i in 0..20_000 {
        sup.spawn(Kind::Select.task(format!("w-{i}"), &quiet))
            .unwrap();
    }
    at(&sup, ms(1500)).await;
    sup.shutdown(ms(500)).await;
    let summary = sup.stop_recording().unwrap();
    let mut seen = 0u64;
    while events.try_recv().is_some() {
        seen += 1;
    }
    assert!(summary.events_dropped > 0, "{summary:?}");
    let replay = Replay::open(&path).unwrap();
    // Every event is either in the file or counted, and the file says where they went missing.
    assert_eq!(replay.event_count() as u64 + summary.events_dropped, seen);
    assert_eq!(summary.events, replay.event_count() as u64);
    let gaps: u64 = replay.gaps().iter().map(|g| g.events).sum();
    assert_eq!(gaps, summary.events_dropped);
    assert_eq!(
        replay.task_count(),
        20_000,
        "every task is described all the same"
    );
}
