//! How each task uses its worker: every poll of a supervised task is timed by its wrapper, and a
//! watchdog thread reads what each worker thread is polling now, so a task that holds its worker
//! is seen while it does, not after.
//!
//! Cost is what decides the shape. A poll reads the CPU's time-stamp counter twice (through
//! `quanta`: about 12 ns a read here, where `std::time::Instant` takes about 45 ns), writes four
//! plain stores to its worker's slot and a few to its own record — no lock, no read-modify-write:
//! a task is polled by one thread at a time, so its figures have one writer. The watchdog wakes a
//! few times per threshold and reads one slot per worker thread, never the tasks.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use once_cell::race::OnceBox;

use super::TaskId;

/// Poll-duration buckets: under 1 µs, then `[2^(k-1), 2^k)` µs for k = 1..=20, then 2^20 µs
/// (about 1.05 s) and over.
pub const POLL_BUCKETS: usize = 22;

/// The default slow-poll threshold: a poll this long holds a worker that other tasks need.
pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(10);

/// The poll clock: the CPU's counter where it is steady, calibrated once per process, off the
/// workers ([`calibrate_clock`]): its calibration spins for at least half a millisecond and, on
/// a busy or virtual machine, for up to 200 ms (a profile of a supervised program's start
/// showed 5-80 ms), which as the first poll's work held a worker that long.
static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// Set in a reading of the poll clock taken before it was calibrated: nanoseconds on the
/// system's monotonic clock since [`FALLBACK_EPOCH`] (the counter would need a century of
/// uptime to reach this bit).
const FALLBACK: u64 = 1 << 63;

static FALLBACK_EPOCH: OnceLock<std::time::Instant> = OnceLock::new();

/// Calibrates the poll clock on a thread of its own, once per process; until it is ready,
/// polls are timed on the system's clock.
pub(crate) fn calibrate_clock() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // Without a thread, polls keep the system's clock.
        let _ = std::thread::Builder::new()
            .name("taskmon-clock".into())
            .spawn(|| CLOCK.get_or_init(quanta::Clock::new));
    });
}

/// Nanoseconds on the system's monotonic clock since the fallback's epoch.
fn fallback_nanos() -> u64 {
    let epoch = FALLBACK_EPOCH.get_or_init(std::time::Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX) & !FALLBACK
}

/// A reading of the poll clock, in its own units.
#[inline]
pub(crate) fn now_raw() -> u64 {
    match CLOCK.get() {
        Some(clock) => clock.raw(),
        None => FALLBACK | fallback_nanos(),
    }
}

/// Nanoseconds from `start` to `end`, two readings of [`now_raw`], the later taken just now.
#[inline]
fn nanos_between(start: u64, end: u64) -> u64 {
    match (start & FALLBACK != 0, end & FALLBACK != 0) {
        (false, false) if end > start => CLOCK.get().map_or(0, |c| c.delta_as_nanos(start, end)),
        (true, true) => end.saturating_sub(start),
        // Calibrated in between: `end` is now, on the system's clock too.
        (true, false) => fallback_nanos().saturating_sub(start & !FALLBACK),
        // Backwards, or a counter reading before a system one (the clock is never uncalibrated).
        _ => 0,
    }
}

/// The bucket of a poll that took `nanos`.
#[inline]
pub fn bucket(nanos: u64) -> usize {
    let micros = nanos / 1_000;
    if micros == 0 {
        0
    } else {
        (64 - micros.leading_zeros() as usize).min(POLL_BUCKETS - 1)
    }
}

/// The shortest poll in bucket `index`, for labels: `<1µs`, `1µs`, `2µs`, … `≥1.05s`.
pub fn bucket_floor(index: usize) -> Duration {
    match index {
        0 => Duration::ZERO,
        k => Duration::from_micros(1 << (k.min(POLL_BUCKETS - 1) - 1)),
    }
}

/// Where in the program a task was spawned, shown as `file:line`: the call of the function that
/// spawned it or made its definition, found through `#[track_caller]` at no cost per task.
#[derive(Clone)]
pub struct SpawnSite(Site);

/// A site in one pointer: to a `Location` of the program's or, with its lowest bit set, to the
/// text held by an `Arc<String>` (as received from another program, or said by a scenario).
/// 8 bytes of every task's record, where an enum of the two takes 16.
struct Site(NonNull<()>);

/// The bit that marks a text; both pointees are aligned, so it is free in either pointer.
const TEXT: usize = 1;
const _: () =
    assert!(align_of::<std::panic::Location<'static>>() > TEXT && align_of::<String>() > TEXT);

// SAFETY: it shares a `&'static Location` or an `Arc<String>`, both `Send` and `Sync`.
unsafe impl Send for Site {}
unsafe impl Sync for Site {}

/// What a site points to.
enum Place<'a> {
    Code(&'static std::panic::Location<'static>),
    Text(&'a str),
}

impl Site {
    fn code(at: &'static std::panic::Location<'static>) -> Self {
        Site(NonNull::from(at).cast())
    }

    fn text(text: String) -> Self {
        let held = Arc::into_raw(Arc::new(text)).cast_mut();
        Site(NonNull::new(held.map_addr(|addr| addr | TEXT).cast()).expect("an `Arc` is not null"))
    }

    /// The `Arc`'s pointer, when the site is a text.
    fn text_ptr(&self) -> Option<*const String> {
        let ptr = self.0.as_ptr();
        (ptr.addr() & TEXT != 0).then(|| ptr.map_addr(|addr| addr & !TEXT).cast_const().cast())
    }

    fn place(&self) -> Place<'_> {
        match self.text_ptr() {
            // SAFETY: made by `Site::text`, from an `Arc` this site holds a count of.
            Some(text) => Place::Text(unsafe { &*text }),
            // SAFETY: made by `Site::code`, from a `&'static Location`.
            None => Place::Code(unsafe { self.0.cast().as_ref() }),
        }
    }
}

impl Clone for Site {
    fn clone(&self) -> Self {
        if let Some(text) = self.text_ptr() {
            // SAFETY: the `Arc` is alive, held by this site; the copy holds a count of its own.
            unsafe { Arc::increment_strong_count(text) };
        }
        Site(self.0)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(text) = self.text_ptr() {
            // SAFETY: gives back the count this site held.
            drop(unsafe { Arc::from_raw(text) });
        }
    }
}

impl SpawnSite {
    /// The caller of the function that calls this, through `#[track_caller]` functions.
    #[track_caller]
    pub fn caller() -> Self {
        SpawnSite(Site::code(std::panic::Location::caller()))
    }

    /// A place given in words: `assets/default.toml:12`.
    pub fn text(place: impl Into<String>) -> Self {
        SpawnSite(Site::text(place.into()))
    }
}

impl std::fmt::Display for SpawnSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.place() {
            Place::Code(at) => write!(f, "{}:{}", at.file(), at.line()),
            Place::Text(text) => f.write_str(text),
        }
    }
}

impl std::fmt::Debug for SpawnSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SpawnSite").field(&self.to_string()).finish()
    }
}

impl PartialEq for SpawnSite {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

#[cfg(feature = "serve")]
impl serde::Serialize for SpawnSite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serve")]
impl<'de> serde::Deserialize<'de> for SpawnSite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SpawnSite::text(String::deserialize(deserializer)?))
    }
}

/// How a supervisor counts polls: shared by its tasks through the hub.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PollSettings {
    pub enabled: bool,
    pub slow_nanos: u64,
    /// Which supervisor a worker's slot names, for the watchdog. 32 bits, so that the settings
    /// take 16 bytes of every task's future, not 24.
    pub supervisor: u32,
}

impl PollSettings {
    pub fn new(enabled: bool, slow: Duration) -> Self {
        static SUPERVISORS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        Self {
            enabled,
            slow_nanos: u64::try_from(slow.as_nanos()).unwrap_or(u64::MAX).max(1),
            supervisor: SUPERVISORS.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn slow(&self) -> Duration {
        Duration::from_nanos(self.slow_nanos)
    }
}

/// What a task's code does while it runs: its ticks and its poll figures. Written only by the
/// thread running the task (one at a time), read by anyone.
///
/// Laid out so that a short poll of a task that ticks writes one or two neighbouring cache
/// lines: the figures every poll touches come first, with the ticks, then the buckets from the
/// shortest up. (Spread over four lines, away from the ticks, the figures cost the ordinary loop
/// a tenth of its ticks per CPU-second in cache misses.) Not aligned to a cache line: that made
/// every task's record an aligned allocation (`posix_memalign`), which cost each spawn more than
/// the alignment saved its polls (spawn 10k 4.9x bare with it, 3.9x without; the tick rows
/// unchanged).
#[derive(Default)]
#[repr(C)]
pub(crate) struct Activity {
    /// Counted by the task's code (`TaskContext::tick`); the ledger accounts for them.
    pub ticks: AtomicU64,
    busy_nanos: AtomicU64,
    /// The longest poll, as the bits of an `f32` of its nanoseconds (positive floats order as
    /// their bits do): exact up to 16 ms, within a ten-millionth beyond, in half the room.
    max_poll: AtomicU32,
    /// Saturates: four billion polls of 100 µs or more are months of blocking.
    slow: AtomicU32,
    /// Polls per bucket, the low 32 bits: half the room of 64-bit counts in every task's
    /// record. A bucket that wraps (four billion polls: days of a busy task) carries into
    /// `rare`, made then. Their sum is the count of polls (no count of its own to write at
    /// every poll and to keep in every record).
    histogram: [AtomicU32; POLL_BUCKETS],
    /// Made the first time the watchdog finds the task blocking its worker or a bucket wraps:
    /// most tasks never see either.
    rare: OnceBox<RareActivity>,
}

/// What few tasks' activity needs.
#[derive(Default)]
struct RareActivity {
    /// When the poll it blocks in began, on the poll clock.
    blocking_since: AtomicU64,
    /// The worker slot's number plus one while the watchdog has found the task blocking.
    blocking_on: AtomicU32,
    /// The buckets' high parts.
    carried: [AtomicU64; POLL_BUCKETS],
}

/// Adds one to a figure that only this thread writes.
#[inline]
fn bump(figure: &AtomicU64, by: u64) {
    figure.store(
        figure.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl Activity {
    /// The tick path: one relaxed atomic add, nothing else.
    #[inline]
    pub fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Time spent in polls, the poll it blocks in now included (so a task that holds its
    /// worker shows busy while it does, not only once the poll ends).
    pub fn busy_nanos(&self, task: TaskId) -> u64 {
        let ended = self.busy_nanos.load(Ordering::Relaxed);
        ended + self.blocking(task).map_or(0, |(lasted, _)| lasted)
    }

    /// How long the poll the watchdog found blocking has lasted, and on which worker; `None`
    /// when there is none, or that poll is no longer the worker's (a flag the poll's end
    /// missed is not believed).
    fn blocking(&self, task: TaskId) -> Option<(u64, Arc<str>)> {
        let rare = self.rare.get()?;
        let slot = rare.blocking_on.load(Ordering::Acquire).checked_sub(1)?;
        let since = rare.blocking_since.load(Ordering::Relaxed);
        let thread = still_polling(slot, task, since)?;
        Some((nanos_between(since, now_raw()), thread))
    }

    /// Counts a poll of `nanos`; whether it was slow.
    #[inline]
    fn record(&self, nanos: u64, slow_nanos: u64) -> bool {
        bump(&self.busy_nanos, nanos);
        self.count_in_bucket(bucket(nanos));
        // Through `i64`, which converts in one instruction (`u64` takes a branch and a few):
        // no poll lasts 292 years.
        let bits = (nanos as i64 as f32).to_bits();
        if bits > self.max_poll.load(Ordering::Relaxed) {
            self.max_poll.store(bits, Ordering::Relaxed);
        }
        let slow = nanos >= slow_nanos;
        if slow {
            let count = self.slow.load(Ordering::Relaxed);
            self.slow.store(count.saturating_add(1), Ordering::Relaxed);
        }
        slow
    }

    /// Adds a poll to bucket `i`; a bucket at `u32::MAX` carries into the high part first, so a
    /// reader may see the count one too high for a moment, never too low.
    #[inline]
    fn count_in_bucket(&self, i: usize) {
        let low = &self.histogram[i];
        match low.load(Ordering::Relaxed).checked_add(1) {
            Some(n) => low.store(n, Ordering::Relaxed),
            None => self.carry(i),
        }
    }

    #[cold]
    fn carry(&self, i: usize) {
        let rare = self.rare.get_or_init(Box::default);
        rare.carried[i].fetch_add(1 << 32, Ordering::Relaxed);
        self.histogram[i].store(0, Ordering::Relaxed);
    }

    /// Polls in each bucket, shortest first: the carried high parts looked up once, not once a
    /// bucket.
    fn buckets(&self) -> impl Iterator<Item = u64> + '_ {
        let rare = self.rare.get();
        self.histogram.iter().enumerate().map(move |(i, low)| {
            let high = rare.map_or(0, |rare| rare.carried[i].load(Ordering::Relaxed));
            high + u64::from(low.load(Ordering::Relaxed))
        })
    }

    /// Polls in bucket `i`.
    #[cfg(test)]
    fn in_bucket(&self, i: usize) -> u64 {
        self.buckets().nth(i).unwrap_or(0)
    }

    /// Adds its polls, the time in them and its buckets to sums over many tasks: what metrics
    /// read of every task once a second, without a reading's copy of the buckets.
    #[cfg(feature = "metrics")]
    pub fn add_to(&self, polls: &mut u64, busy_nanos: &mut u64, histogram: &mut [u64]) {
        *busy_nanos += self.busy_nanos.load(Ordering::Relaxed);
        for (sum, n) in histogram.iter_mut().zip(self.buckets()) {
            *sum += n;
            *polls += n;
        }
    }

    /// The figures now, with the poll it blocks in, if any.
    pub fn read(&self, task: TaskId) -> PollReading {
        let blocking = self.blocking(task).map(|(lasted, thread)| Blocking {
            for_: Duration::from_nanos(lasted),
            thread,
        });
        let histogram: [u64; POLL_BUCKETS] = {
            let mut buckets = self.buckets();
            std::array::from_fn(|_| buckets.next().unwrap_or(0))
        };
        PollReading {
            polls: histogram.iter().sum(),
            busy: Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed)),
            max_poll: Duration::from_nanos(
                f32::from_bits(self.max_poll.load(Ordering::Relaxed)) as u64
            ),
            slow_polls: u64::from(self.slow.load(Ordering::Relaxed)),
            histogram,
            blocking,
        }
    }
}

/// A task's poll figures at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct PollReading {
    /// Polls that have ended.
    pub polls: u64,
    /// Time spent inside those polls.
    pub busy: Duration,
    /// The longest of them.
    pub max_poll: Duration,
    /// Those at or over the slow-poll threshold.
    pub slow_polls: u64,
    /// Polls per duration bucket (see [`bucket_floor`]).
    pub histogram: [u64; POLL_BUCKETS],
    /// The poll it is inside now, when that has gone past the threshold.
    pub blocking: Option<Blocking>,
}

/// A poll that has held its worker past the slow-poll threshold and still does.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Blocking {
    /// How long the poll has lasted so far.
    #[cfg_attr(feature = "serve", serde(rename = "for"))]
    pub for_: Duration,
    /// The worker thread it holds.
    pub thread: Arc<str>,
}

/// What one worker thread is polling: written at every poll's start and end by that thread,
/// read by the watchdog as a sequence lock (the sequence is odd while a poll is under way).
struct WorkerSlot {
    sequence: AtomicU64,
    supervisor: AtomicU64,
    task: AtomicU64,
    started: AtomicU64,
    /// Its place in [`WORKERS`], which names it.
    index: u32,
}

/// Every thread that has polled a supervised task, by its slot's number; slots of threads that
/// ended are reused.
struct Workers {
    slots: Vec<Weak<WorkerSlot>>,
    labels: Vec<Arc<str>>,
}

static WORKERS: Mutex<Workers> = Mutex::new(Workers {
    slots: Vec::new(),
    labels: Vec::new(),
});

fn workers() -> std::sync::MutexGuard<'static, Workers> {
    WORKERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The label of worker `index`, if it is still inside the poll of `task` that began at `since`.
fn still_polling(index: u32, task: TaskId, since: u64) -> Option<Arc<str>> {
    let workers = workers();
    let slot = workers.slots.get(index as usize)?.upgrade()?;
    let (_, _, polled, started) = slot.read()?;
    (polled == task && started == since).then(|| workers.labels[index as usize].clone())
}

impl WorkerSlot {
    fn register() -> Arc<WorkerSlot> {
        let current = std::thread::current();
        // SAFETY: gettid takes nothing and touches no memory.
        let tid = unsafe { libc::gettid() };
        let label: Arc<str> =
            format!("{} (thread {tid})", current.name().unwrap_or("unnamed")).into();
        let mut workers = workers();
        let index = workers
            .slots
            .iter()
            .position(|slot| slot.strong_count() == 0)
            .unwrap_or(workers.slots.len());
        let slot = Arc::new(WorkerSlot {
            sequence: AtomicU64::new(0),
            supervisor: AtomicU64::new(0),
            task: AtomicU64::new(0),
            started: AtomicU64::new(0),
            index: index as u32,
        });
        if index == workers.slots.len() {
            workers.slots.push(Arc::downgrade(&slot));
            workers.labels.push(label);
        } else {
            workers.slots[index] = Arc::downgrade(&slot);
            workers.labels[index] = label;
        }
        slot
    }

    #[inline]
    fn enter(&self, supervisor: u64, task: TaskId, started: u64) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        // The last poll's end is ordered before this poll's figures (see `Watchdog::read`).
        fence(Ordering::Release);
        self.supervisor.store(supervisor, Ordering::Relaxed);
        self.task.store(task, Ordering::Relaxed);
        self.started.store(started, Ordering::Relaxed);
        self.sequence.store(sequence | 1, Ordering::Release);
    }

    #[inline]
    fn leave(&self) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Release);
    }

    /// The poll under way: (sequence, supervisor, task, started), if one is, read whole.
    fn read(&self) -> Option<(u64, u64, TaskId, u64)> {
        let before = self.sequence.load(Ordering::Acquire);
        if before & 1 == 0 {
            return None;
        }
        let supervisor = self.supervisor.load(Ordering::Relaxed);
        let task = self.task.load(Ordering::Relaxed);
        let started = self.started.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.sequence.load(Ordering::Relaxed) == before)
            .then_some((before, supervisor, task, started))
    }
}

thread_local! {
    static SLOT: Arc<WorkerSlot> = WorkerSlot::register();
}

/// Times one poll of the task `entry` and counts it; `poll` is the task's own poll.
#[inline]
pub(crate) fn timed<T>(
    stats: &Activity,
    settings: &PollSettings,
    task: TaskId,
    poll: impl FnOnce() -> T,
) -> (T, Option<Duration>) {
    let Ok(slot) = SLOT.try_with(Arc::as_ptr) else {
        // The thread is being torn down: count nothing.
        return (poll(), None);
    };
    // SAFETY: the slot is this thread's own, kept alive by its thread-local until the thread
    // ends, which cannot happen during this call on it. (A clone of the `Arc` would cost two
    // atomic operations a poll.)
    let slot = unsafe { &*slot };
    let start = now_raw();
    slot.enter(settings.supervisor.into(), task, start);
    let out = poll();
    slot.leave();
    let nanos = nanos_between(start, now_raw());
    let slow = stats.record(nanos, settings.slow_nanos);
    if let Some(rare) = stats.rare.get()
        && rare.blocking_on.load(Ordering::Relaxed) != 0
    {
        // A flag set just after this load is not believed by readers: the slot has moved on.
        rare.blocking_on.store(0, Ordering::Relaxed);
    }
    (out, slow.then(|| Duration::from_nanos(nanos)))
}

/// Reads the workers' slots for polls of one supervisor that have gone past its threshold.
pub(crate) struct Watchdog {
    settings: PollSettings,
    /// The sequence of the poll last reported per slot, so that each is reported once.
    reported: Vec<u64>,
}

impl Watchdog {
    pub fn new(settings: PollSettings) -> Self {
        Self {
            settings,
            reported: Vec::new(),
        }
    }

    /// How often the watchdog looks: a few times per threshold, not busier than every 5 ms nor
    /// lazier than every 100 ms.
    pub fn period(&self) -> Duration {
        (self.settings.slow() / 2).clamp(Duration::from_millis(5), Duration::from_millis(100))
    }

    /// The polls that crossed the threshold since the last look, each once: marks them blocking
    /// in the stats `stats_of` finds for their task, and returns the task, the worker thread and
    /// how long the poll has lasted.
    pub fn look<E>(
        &mut self,
        mut stats_of: impl FnMut(TaskId) -> Option<E>,
        stats: impl Fn(&E) -> &Activity,
    ) -> Vec<(E, Arc<str>, Duration)> {
        let slots: Vec<(Arc<WorkerSlot>, Arc<str>)> = {
            let workers = workers();
            workers
                .slots
                .iter()
                .zip(&workers.labels)
                .filter_map(|(slot, label)| Some((slot.upgrade()?, label.clone())))
                .collect()
        };
        let now = now_raw();
        let mut found = Vec::new();
        for (slot, label) in slots {
            let Some((sequence, supervisor, task, started)) = slot.read() else {
                continue;
            };
            let index = slot.index as usize;
            if self.reported.len() <= index {
                self.reported.resize(index + 1, 0);
            }
            let lasted = nanos_between(started, now);
            if supervisor != u64::from(self.settings.supervisor)
                || lasted < self.settings.slow_nanos
                || self.reported[index] == sequence
            {
                continue;
            }
            self.reported[index] = sequence;
            let Some(owner) = stats_of(task) else {
                continue;
            };
            let rare = stats(&owner).rare.get_or_init(Box::default);
            rare.blocking_since.store(started, Ordering::Relaxed);
            rare.blocking_on.store(slot.index + 1, Ordering::Release);
            found.push((owner, label, Duration::from_nanos(lasted)));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_begun_before_the_clock_was_calibrated_is_timed_on_the_system_s_clock() {
        let begun = FALLBACK | fallback_nanos();
        // A sleep lasts at least as long as asked: the bounds below hold on any machine.
        std::thread::sleep(Duration::from_millis(2));
        let on_system_clock = nanos_between(begun, FALLBACK | fallback_nanos());
        assert!(on_system_clock >= 2_000_000, "{on_system_clock}");
        CLOCK.get_or_init(quanta::Clock::new);
        let calibrated = now_raw();
        assert_eq!(
            calibrated & FALLBACK,
            0,
            "read on the counter once calibrated"
        );
        let across = nanos_between(begun, calibrated);
        assert!(across >= on_system_clock, "{across} < {on_system_clock}");
        assert_eq!(nanos_between(calibrated, begun), 0, "never backwards");
        std::thread::sleep(Duration::from_millis(2));
        assert!(nanos_between(calibrated, now_raw()) >= 1_000_000);
    }

    #[test]
    fn a_spawn_site_is_one_pointer_and_keeps_its_text_while_a_copy_lives() {
        assert_eq!(std::mem::size_of::<Option<SpawnSite>>(), 8);
        let text = SpawnSite::text("assets/default.toml:12");
        let copy = text.clone();
        drop(text);
        assert_eq!(copy.to_string(), "assets/default.toml:12");
        let (code, line) = (SpawnSite::caller(), line!());
        assert_eq!(code.clone().to_string(), format!("{}:{line}", file!()));
        assert_ne!(code, copy);
        assert_eq!(
            format!("{copy:?}"),
            r#"SpawnSite("assets/default.toml:12")"#
        );
    }

    #[test]
    fn a_bucket_that_wraps_its_32_bits_carries_and_keeps_counting() {
        let activity = Activity::default();
        activity.histogram[3].store(u32::MAX - 1, Ordering::Relaxed);
        for _ in 0..3 {
            activity.count_in_bucket(3);
        }
        assert_eq!(activity.in_bucket(3), u64::from(u32::MAX) + 2);
        assert_eq!(activity.read(1).histogram[3], u64::from(u32::MAX) + 2);
        assert_eq!(activity.in_bucket(2), 0, "the other buckets are untouched");
    }

    #[test]
    fn buckets_are_powers_of_two_microseconds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1_000), 1);
        assert_eq!(bucket(1_999), 1);
        assert_eq!(bucket(2_000), 2);
        assert_eq!(bucket(30_000_000), 15, "30 ms is in [16.384, 32.768) ms");
        assert_eq!(bucket((1 << 20) * 1_000), POLL_BUCKETS - 1);
        assert_eq!(bucket(u64::MAX), POLL_BUCKETS - 1);
        for k in 1..POLL_BUCKETS {
            let floor = bucket_floor(k).as_nanos() as u64;
            assert_eq!(bucket(floor), k, "the floor of bucket {k} is in it");
            assert_eq!(bucket(floor - 1), k - 1);
        }
    }

    #[test]
    fn a_poll_is_counted_once_in_every_figure() {
        let stats = Activity::default();
        assert!(!stats.record(500, 10_000_000));
        assert!(stats.record(12_000_000, 10_000_000));
        let reading = stats.read(1);
        assert_eq!(reading.polls, 2);
        assert_eq!(reading.slow_polls, 1);
        assert_eq!(reading.busy, Duration::from_nanos(12_000_500));
        assert_eq!(reading.max_poll, Duration::from_millis(12));
        assert_eq!(reading.histogram[0], 1);
        assert_eq!(reading.histogram[bucket(12_000_000)], 1);
        assert_eq!(reading.histogram.iter().sum::<u64>(), 2);
    }
}
