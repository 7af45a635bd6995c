//! One supervised task's shared record: written by the task and the supervisor, read lock-free by
//! snapshots.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use once_cell::race::OnceBox;
use tokio_util::sync::CancellationToken;

use super::TaskId;
use super::counters::Counters;
use super::event::{EventKind, STAMPED};
use super::hub::Hub;
use super::label::Label;
use super::polls::{Activity, SpawnSite};
use super::restart::{RestartHistory, RestartPolicy};
use super::state::State;
use super::state_table::Slot;
use super::task::{Relaunch, RunHandle};
use crate::journal::{JournalConfig, Ledger, LedgerReading};

pub(crate) const FLAG_ORPHAN: u8 = 1;
pub(crate) const FLAG_ABORT_IGNORED: u8 = 2;
pub(crate) const FLAG_DROP_RAN: u8 = 4;
pub(crate) const FLAG_BUSY: u8 = 8;
/// Started with a plain spawn by its parent: never joined, out of reach of stop-all and
/// shutdown, dropped with its runtime.
pub(crate) const FLAG_DETACHED: u8 = 16;
/// Defined critical: its end for good shuts the supervisor down.
pub(crate) const FLAG_CRITICAL: u8 = 32;
/// Someone has waited for its end: the end wakes the hub's waiters. Most tasks are never waited
/// for one by one, and their ends touch no waiter list.
const FLAG_WAITED: u8 = 64;
/// Runs on tokio's blocking pool, where no abort reaches it once started. Set at spawn only.
const FLAG_ON_BLOCKING_POOL: u8 = 128;

/// The most tasks one supervisor holds: ids fit 32 bits in its records. (Four billion records
/// take more than a terabyte of memory.)
pub(crate) const MAX_TASKS: u64 = u32::MAX as u64;

/// Laid out in the order written, the fields a stop, a tick and an end touch first, so that they
/// share the record's first cache lines: stopping ten thousand tasks then misses the cache a few
/// times per task, not once per field. Every byte here is a byte of every task (a million tasks:
/// a megabyte each): what few tasks have is made when first needed, behind one pointer.
#[repr(C)]
pub(crate) struct TaskEntry {
    /// `State::code()` of the end state, 0 while the task runs; [`CLAIMED`] is added while a
    /// claimant records a change, and readers go on seeing the state before it until then.
    end: AtomicU8,
    flags: AtomicU8,
    /// Cleanup progress in thousandths; `u16::MAX` = none reported.
    cleanup_progress: AtomicU16,
    /// Which run of the task is current (the first is 0). Part of [`Run`], read and changed
    /// only under its lock; kept here, where it fills what would be padding.
    run_number: AtomicU32,
    /// When a requested stop escalates, as nanoseconds since the epoch plus one; 0 = no stop.
    escalate_at: AtomicU64,
    /// Where the task's phase reports go, and the supervisor's one shared count of live tasks.
    pub hub: Arc<Hub>,
    /// Nanoseconds since the supervisor's epoch, plus one; 0 = not reached.
    milestones: [AtomicU64; STAMPED],
    /// Where its journal's records went: only a journaled task has one.
    ledger: Option<Box<Ledger>>,
    pub id: TaskId,
    /// When a stop of every task reaches it: stage 0 first, then 1, and so on.
    pub stage: u32,
    /// The task that spawned it: 32 bits beside `stage`, as no supervisor holds more tasks
    /// (see [`MAX_TASKS`]).
    parent: Option<NonZeroU32>,
    /// The current run and its token: held while a request stamps its moment or acts on the
    /// run, and while a new run replaces the last, so that no request falls between two runs.
    /// The token lives here rather than behind a pointer of its own: a stop that takes the
    /// lock finds it on the same line.
    run: Mutex<Run>,
    /// The name, shared as it is with every event and snapshot of the task.
    pub name: Arc<str>,
    pub kind: Label,
    /// What few tasks have (a panic, an error, a note, children), made the first time one is
    /// set.
    extras: OnceBox<Mutex<Extras>>,
    /// What it takes to run it again, for a task defined to be restartable.
    pub restart: OnceBox<Restartable>,
    /// The task's byte in the supervisor's state table (`hub`'s, which this record keeps).
    state_slot: Slot,
    /// Where in the program it was spawned.
    pub location: Option<SpawnSite>,
    /// The counts its code keeps, made the first time it asks for one.
    pub counters: OnceBox<Counters>,
    /// Its ticks and how it uses its worker: written at every poll, on lines of their own. Last,
    /// so that the fields before it fill the lines before its own.
    pub activity: Activity,
}

/// A task's timestamps, as offsets from the supervisor's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeline {
    at: [Option<Duration>; STAMPED],
}

impl Timeline {
    /// When the moment `kind` was reached; `None` if it was not, or is no moment of a timeline.
    pub fn at(&self, kind: EventKind) -> Option<Duration> {
        self.at[kind.stamp()?]
    }

    /// The moments reached, in the order they happened.
    pub fn reached(&self) -> Vec<(EventKind, Duration)> {
        let mut reached: Vec<_> = EventKind::stamped()
            .filter_map(|kind| self.at(kind).map(|at| (kind, at)))
            .collect();
        reached.sort_by_key(|&(kind, at)| (at, kind as usize));
        reached
    }

    /// Time from the request that ended the task to its join (`None` when no run was left to
    /// stop, as in a restart's backoff): the stop for a task that stopped
    /// or was escalated (a stop after an ignored abort counts from the stop), the abort for one
    /// that was aborted, the first request for any other end.
    pub fn stop_latency(&self, end: State) -> Option<Duration> {
        let stop = self.at(EventKind::StopRequested);
        let abort = self.at(EventKind::AbortRequested);
        let requested = match end {
            State::Stopped | State::Escalated => stop,
            State::Aborted => abort,
            _ => stop.into_iter().chain(abort).min(),
        }?;
        Some(self.at(EventKind::Joined)?.saturating_sub(requested))
    }

    /// How long the cleanup took, from its start to its end, when it ran to its end.
    pub fn cleanup_time(&self) -> Option<Duration> {
        let started = self.at(EventKind::CleanupStarted)?;
        Some(self.at(EventKind::CleanupFinished)?.saturating_sub(started))
    }

    /// The same timeline with `kind` not reached.
    pub(crate) fn without(mut self, kind: EventKind) -> Self {
        if let Some(i) = kind.stamp() {
            self.at[i] = None;
        }
        self
    }

    /// The same timeline with `kind` reached at `at`, unless it was already (as a task stamps
    /// each moment once); for a recording played back between its samples.
    #[cfg(feature = "record")]
    pub(crate) fn reaching(mut self, kind: EventKind, at: Duration) -> Self {
        if let Some(i) = kind.stamp() {
            self.at[i].get_or_insert(at);
        }
        self
    }
}

/// The parts of a task's record that few tasks have.
#[derive(Default)]
struct Extras {
    /// The last run's panic.
    panic_message: Option<Arc<str>>,
    /// The error the last run returned.
    error: Option<Arc<str>>,
    /// A short line the task's code keeps up to date: what it is doing, in its own words.
    note: Option<Arc<str>>,
    children: Vec<TaskId>,
}

/// What a restartable task keeps to run again.
pub(crate) struct Restartable {
    /// `None`: never restarted by a policy (by a person, still).
    pub policy: Option<Arc<RestartPolicy>>,
    /// The task's code, until no run can follow: dropped then, with what it holds (a channel's
    /// `Sender`, say, so that the receiver sees the channel close).
    pub relaunch: Mutex<Option<Relaunch>>,
    /// How every run keeps its journal.
    pub journal: JournalConfig,
    /// The restarts so far, made the first time the task is run again: most tasks never are.
    history: OnceBox<Mutex<RestartHistory>>,
}

impl Restartable {
    pub fn new(
        policy: Option<Arc<RestartPolicy>>,
        relaunch: Relaunch,
        journal: JournalConfig,
    ) -> Self {
        Self {
            policy,
            relaunch: Mutex::new(Some(relaunch)),
            journal,
            history: OnceBox::new(),
        }
    }

    /// The task's policy; the default (never) when it was given none.
    pub fn policy(&self) -> &RestartPolicy {
        static NEVER: RestartPolicy = RestartPolicy::NEVER;
        self.policy.as_deref().unwrap_or(&NEVER)
    }

    /// Reads the restarts so far, making nothing for a task that has had none.
    pub fn read_history<R>(&self, read: impl FnOnce(&RestartHistory) -> R) -> R {
        match self.history.get() {
            Some(history) => read(&history.lock().expect("restarts")),
            None => read(&RestartHistory::default()),
        }
    }

    /// The restarts so far, to change.
    pub fn history(&self) -> std::sync::MutexGuard<'_, RestartHistory> {
        self.history
            .get_or_init(Default::default)
            .lock()
            .expect("restarts")
    }

    /// The code to run again, unless it was dropped.
    pub fn relaunch(&self) -> Option<Relaunch> {
        self.relaunch.lock().expect("relaunch").clone()
    }

    /// Drops the code: the task has ended and no run can follow (shutdown has begun).
    pub fn drop_code(&self) {
        let code = self.relaunch.lock().expect("relaunch").take();
        drop(code);
    }
}

/// How many tasks ahead a walk over many records asks for the next ones
/// ([`prefetch_ahead`]): far enough for memory to answer before the walk gets there (a few
/// hundred nanoseconds, a task's work or two), near enough that what was fetched is still in
/// the cache.
const PREFETCH_DISTANCE: usize = 8;

/// Asks the processor for what a walk over `entries` (a stop of every task, say) will touch a
/// few tasks after `at`: the record of the task [`PREFETCH_DISTANCE`] ahead, and the name and
/// state byte of the one halfway there, whose record has arrived by now. A large supervisor's
/// records are spread over more memory than any cache holds; without this the walk waits on
/// memory at every task, each miss after the other.
#[inline]
pub(crate) fn prefetch_ahead(entries: &[Arc<TaskEntry>], at: usize) {
    if let Some(far) = entries.get(at + PREFETCH_DISTANCE) {
        let record = Arc::as_ptr(far).cast::<u8>();
        for line in (0..size_of::<TaskEntry>()).step_by(64) {
            prefetch(record.wrapping_add(line));
        }
    }
    if let Some(near) = entries.get(at + PREFETCH_DISTANCE / 2) {
        prefetch(near.name.as_ptr());
        prefetch(near.state_slot.address());
    }
}

/// `entries` in order, each step asking for the records a few steps on ([`prefetch_ahead`]).
pub(crate) fn prefetched(entries: &[Arc<TaskEntry>]) -> impl Iterator<Item = &Arc<TaskEntry>> {
    entries.iter().enumerate().map(|(i, entry)| {
        prefetch_ahead(entries, i);
        entry
    })
}

/// A hint to bring the line at `address` into the cache; it never faults, whatever the
/// address, and does nothing where the processor has no such hint.
#[inline(always)]
pub(crate) fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Added to the end code of a task claimed for a change (its end being recorded, a restart):
/// readers still see the state before the claim, and no other claim succeeds.
const CLAIMED: u8 = 0x80;

/// The current run's handle (set once the run has started) and its token (a run after a stop
/// gets a fresh one); its number is [`TaskEntry::run_number`].
struct Run {
    abort: Option<RunHandle>,
    token: CancellationToken,
}

/// What a request found when it reached a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reached {
    /// The task has ended: nothing to do.
    Ended,
    /// It was waiting out a restart backoff and is now claimed: the requester ends it.
    InBackoff,
    /// It runs: the request's moment is stamped (`new`: for the first time) on run `run`.
    Live { new: bool, run: u32 },
}

/// What became of an attempt to start a new run of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NewRun {
    /// The task was not in the state the new run starts from: nothing changed.
    Refused,
    /// A stop or an abort reached the task after its restart was decided: instead of running
    /// again it ends, in this state; it is claimed, and the caller records the end.
    Asked(State),
    /// The new run's stamps are reset and its token in place; it counts as running.
    Started,
}

impl TaskEntry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: TaskId,
        hub: Arc<Hub>,
        name: String,
        kind: Label,
        parent: Option<TaskId>,
        journaled: bool,
        on_blocking_pool: bool,
        token: CancellationToken,
    ) -> Self {
        // SAFETY: the record keeps the hub, and with it the table, for as long as the slot.
        let state_slot = unsafe { hub.states.slot(id) };
        state_slot.store(State::Running);
        Self {
            state_slot,
            id,
            hub,
            name: name.into(),
            kind,
            parent: parent.and_then(|id| NonZeroU32::new(u32::try_from(id).ok()?)),
            ledger: journaled.then(Box::default),
            end: AtomicU8::new(0),
            flags: AtomicU8::new(if on_blocking_pool {
                FLAG_ON_BLOCKING_POOL
            } else {
                0
            }),
            milestones: Default::default(),
            escalate_at: AtomicU64::new(0),
            cleanup_progress: AtomicU16::new(u16::MAX),
            extras: OnceBox::new(),
            restart: OnceBox::new(),
            run_number: AtomicU32::new(0),
            run: Mutex::new(Run { abort: None, token }),
            location: None,
            stage: 0,
            activity: Activity::default(),
            counters: OnceBox::new(),
        }
    }

    /// A task record of its own, for unit tests.
    #[cfg(test)]
    pub fn for_test(id: TaskId, name: &str) -> Self {
        Self::new(
            id,
            Arc::new(Hub::new(
                chrono::Local::now(),
                std::sync::Weak::new(),
                1,
                super::polls::PollSettings::new(true, super::polls::DEFAULT_SLOW_POLL),
                Default::default(),
            )),
            name.into(),
            "custom".into(),
            None,
            true,
            false,
            CancellationToken::new(),
        )
    }

    /// The counts its code keeps, by name.
    pub fn counters(&self) -> Vec<(Arc<str>, u64)> {
        self.counters.get().map(|c| c.read()).unwrap_or_default()
    }

    /// The name, shared.
    pub fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The task that spawned it, if one did.
    pub fn parent(&self) -> Option<TaskId> {
        self.parent.map(|id| TaskId::from(id.get()))
    }

    /// Whether it keeps a journal (its path is derived from the id and name when needed).
    pub fn journaled(&self) -> bool {
        self.ledger.is_some()
    }

    /// Tasks on tokio's blocking pool cannot be aborted once started.
    pub fn on_blocking_pool(&self) -> bool {
        self.flag(FLAG_ON_BLOCKING_POOL)
    }

    /// Its ticks and, for a journaled task, where their records went.
    pub fn ledger(&self) -> LedgerReading {
        match &self.ledger {
            Some(ledger) => ledger.read(&self.activity.ticks),
            None => LedgerReading {
                ticks: self.activity.ticks(),
                journal: None,
            },
        }
    }

    /// The journal's books, for a journaled task.
    pub fn journal_ledger(&self) -> Option<&Ledger> {
        self.ledger.as_deref()
    }

    /// Why its journal stopped being written in the current run, if it did.
    pub fn journal_error(&self) -> Option<Arc<str>> {
        self.ledger.as_ref().and_then(|ledger| ledger.error())
    }

    /// The end state; `None` while the task runs. Everything recorded before the end — the
    /// join's stamp, the panic message, the final ledger — is visible once this is `Some`.
    pub fn end_state(&self) -> Option<State> {
        State::from_code(self.end.load(Ordering::Acquire) & !CLAIMED)
    }

    /// Claims the right to record the end of the task's run; only the first claim succeeds, so a
    /// join and an abandonment never both record one.
    pub fn begin_end(&self) -> bool {
        self.claim(0)
    }

    /// Claims the task in the state whose code is `from` (0: running) for changing it; only one
    /// claim succeeds. The state readers see does not change until the claimant sets one.
    pub fn claim(&self, from: u8) -> bool {
        // Looked at first: most claims find another state (every stop asks a running task
        // whether it waits out a backoff), and a failed exchange still takes the line.
        self.end.load(Ordering::Acquire) == from
            && self
                .end
                .compare_exchange(from, from | CLAIMED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn run(&self) -> std::sync::MutexGuard<'_, Run> {
        // A panic while it was held cannot leave a run half changed: every change under it
        // is a few stores.
        self.run
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request (`kind`: stop, abort, escalation) reaches the task at `now`: stamped on the
    /// current run, or the task claimed from its backoff, or nothing if it has ended. Never
    /// between two runs: a new run begins under the same lock.
    pub fn reach(&self, kind: EventKind, now: Duration) -> Reached {
        let _run = self.run();
        if self.claim(State::Restarting.code()) {
            return Reached::InBackoff;
        }
        if self.is_ended() {
            return Reached::Ended;
        }
        Reached::Live {
            new: self.mark(kind, now),
            run: self.run_number.load(Ordering::Relaxed),
        }
    }

    /// Cancels run `run`'s token, unless another run has begun since the stop was stamped.
    pub fn cancel_run(&self, run: u32) {
        let current = self.run();
        if self.run_number.load(Ordering::Relaxed) == run {
            current.token.cancel();
        }
    }

    /// Aborts run `run` (at its next `.await`), unless another run has begun since. A run whose
    /// handle is not set yet is aborted when it is (see [`TaskEntry::set_abort_handle`]).
    pub fn abort_run(&self, run: u32) {
        let current = self.run();
        if self.run_number.load(Ordering::Relaxed) == run
            && let Some(handle) = &current.abort
        {
            handle.abort();
        }
    }

    /// Starts a new run of a task whose state is `from`: the stamps of the last run are cleared
    /// but its spawn, the new token put in place (if the last one may be spent), and it counts
    /// as running again. Its handle follows with [`TaskEntry::set_abort_handle`].
    pub fn begin_run(&self, from: State, token: Option<CancellationToken>) -> NewRun {
        let mut run = self.run();
        if !self.claim(from.code()) {
            return NewRun::Refused;
        }
        if from == State::Restarting {
            // Stamped after the restart was decided, before this claim.
            if self.reached(EventKind::AbortRequested) || self.reached(EventKind::Escalated) {
                return NewRun::Asked(State::Aborted);
            }
            if self.reached(EventKind::StopRequested) {
                return NewRun::Asked(State::Stopped);
            }
        }
        for stamp in &self.milestones[1..] {
            stamp.store(0, Ordering::Relaxed);
        }
        self.escalate_at.store(0, Ordering::Relaxed);
        self.cleanup_progress.store(u16::MAX, Ordering::Relaxed);
        self.flags.fetch_and(
            !(FLAG_BUSY | FLAG_DROP_RAN | FLAG_ABORT_IGNORED),
            Ordering::AcqRel,
        );
        if let Some(ledger) = &self.ledger {
            ledger.clear_error();
        }
        // The last run's words are not this run's (its error and panic stay: why it restarted).
        if let Some(extras) = self.extras.get() {
            extras.lock().expect("extras").note = None;
        }
        if let Some(token) = token {
            run.token = token;
        }
        let number = self.run_number.load(Ordering::Relaxed);
        self.run_number
            .store(number.wrapping_add(1), Ordering::Relaxed);
        run.abort = None;
        self.end.store(0, Ordering::Release);
        self.publish_state();
        NewRun::Started
    }

    /// The current run's token.
    pub fn token(&self) -> CancellationToken {
        self.run().token.clone()
    }

    /// The current run's handle, once it has started. An abort stamped before it was set (an
    /// abort-all racing the spawn, an abort between a restart and its start) takes effect now.
    pub fn set_abort_handle(&self, handle: RunHandle) {
        let mut run = self.run();
        if self.reached(EventKind::AbortRequested) || self.reached(EventKind::Escalated) {
            handle.abort();
        }
        run.abort = Some(handle);
    }

    /// Changes the task's extras, making them if it has none yet.
    fn set_extra(&self, change: impl FnOnce(&mut Extras)) {
        let extras = self.extras.get_or_init(Default::default);
        change(&mut extras.lock().expect("extras"));
    }

    /// Reads one of the task's extras; `T::default()` when it has none.
    fn extra<T: Default>(&self, read: impl FnOnce(&Extras) -> T) -> T {
        self.extras
            .get()
            .map(|extras| read(&extras.lock().expect("extras")))
            .unwrap_or_default()
    }

    pub fn set_panic_message(&self, message: Arc<str>) {
        self.set_extra(|extras| extras.panic_message = Some(message));
    }

    pub fn set_error(&self, message: Arc<str>) {
        self.set_extra(|extras| extras.error = Some(message));
    }

    pub fn error(&self) -> Option<Arc<str>> {
        self.extra(|extras| extras.error.clone())
    }

    pub fn set_note(&self, note: Arc<str>) {
        self.set_extra(|extras| extras.note = Some(note));
    }

    pub fn note(&self) -> Option<Arc<str>> {
        self.extra(|extras| extras.note.clone())
    }

    /// Whether stop-all, abort-all and shutdown pass it by.
    pub fn is_detached(&self) -> bool {
        self.flag(FLAG_DETACHED)
    }

    /// Whether stop-all, abort-all and shutdown reach it: running, and not detached.
    pub fn is_reachable(&self) -> bool {
        !self.is_ended() && !self.is_detached()
    }

    pub fn panic_message(&self) -> Option<Arc<str>> {
        self.extra(|extras| extras.panic_message.clone())
    }

    /// Restarts done, and whether they have reached the policy's limit within its window at
    /// `now` (a restart storm).
    pub fn restart_figures(&self, now: Duration) -> (u32, bool) {
        self.restart.get().map_or((0, false), |r| {
            r.read_history(|history| (history.total, history.at_limit(r.policy().limit, now)))
        })
    }

    pub fn restarts(&self) -> u32 {
        self.restart
            .get()
            .map_or(0, |r| r.read_history(|history| history.total))
    }

    /// Publishes the end state, after [`TaskEntry::begin_end`] succeeded, and wakes whoever
    /// waits for it.
    pub fn set_end_state(&self, state: State) {
        self.end.store(state.code(), Ordering::Release);
        // Its fences order the store before the flag's reading below: a waiter that flagged
        // the task and then found it running is seen here.
        self.publish_state();
        if self.flag(FLAG_WAITED) {
            self.hub.end_recorded.notify_waiters();
        }
    }

    /// Waits until the task's end has been recorded.
    pub async fn wait_ended(&self) {
        // Most of the tasks a stop waits for one after the other have ended by the time their
        // turn comes: they touch no shared wake-up.
        if self.is_ended() {
            return;
        }
        self.flags.fetch_or(FLAG_WAITED, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        loop {
            // The hub's, shared by every waited task: woken by another task's end, it looks
            // again.
            let ended = self.hub.end_recorded.notified();
            tokio::pin!(ended);
            // Registered before the check, so an end recorded in between still wakes it.
            ended.as_mut().enable();
            if self.is_ended() {
                return;
            }
            ended.await;
        }
    }

    pub fn is_ended(&self) -> bool {
        self.end_state().is_some_and(State::is_ended)
    }

    /// Stamps a moment of the timeline once; later calls keep the first time. Returns whether it
    /// was new (always false for a kind that is no moment of a timeline).
    pub fn mark(&self, kind: EventKind, since_epoch: Duration) -> bool {
        let Some(i) = kind.stamp() else {
            return false;
        };
        // Only a moment the live state reads can change the state table: a spawn, a join's
        // stamp (its end state follows) or a cleanup's end publish nothing, and neither does a
        // moment that leaves the state as it was (a cleanup's start after the stop was
        // noticed). Each publish is two full fences, on a line of the table that neighbouring
        // tasks' ends write too. (The live state only moves on as moments are reached, so a
        // mark that changes nothing now cannot have changed what another writer published.)
        let before = State::LIVE_MOMENTS.contains(&kind).then(|| self.state());
        let nanos = since_epoch.as_nanos().min(u64::MAX as u128 - 1) as u64 + 1;
        let new = self.milestones[i]
            .compare_exchange(0, nanos, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if new && before.is_some_and(|before| self.state() != before) {
            self.publish_state();
        }
        new
    }

    /// Takes back the moment `kind` was reached.
    pub fn unmark(&self, kind: EventKind) {
        if let Some(i) = kind.stamp() {
            self.milestones[i].store(0, Ordering::Release);
        }
    }

    pub fn reached(&self, kind: EventKind) -> bool {
        kind.stamp()
            .is_some_and(|i| self.milestones[i].load(Ordering::Acquire) != 0)
    }

    pub fn add_child(&self, id: TaskId) {
        self.set_extra(|extras| extras.children.push(id));
    }

    /// The children's ids; no lock for a task that has no extras (most tasks).
    pub fn children(&self) -> Vec<TaskId> {
        self.extra(|extras| extras.children.clone())
    }

    pub fn timeline(&self) -> Timeline {
        let mut timeline = Timeline::default();
        for (slot, stamp) in timeline.at.iter_mut().zip(&self.milestones) {
            let nanos = stamp.load(Ordering::Acquire);
            *slot = nanos.checked_sub(1).map(Duration::from_nanos);
        }
        timeline
    }

    pub fn set_flag(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!flag, Ordering::AcqRel);
        }
    }

    /// Sets the flags `on` and clears `off` in one change (one write to the record, where two
    /// calls of [`TaskEntry::set_flag`] take two).
    pub fn change_flags(&self, on: u8, off: u8) {
        let _ = self
            .flags
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |flags| {
                Some((flags | on) & !off)
            });
    }

    pub fn flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    pub fn set_escalation_deadline(&self, since_epoch: Duration) {
        let nanos = since_epoch.as_nanos().min(u64::MAX as u128 - 1) as u64 + 1;
        self.escalate_at.store(nanos, Ordering::Relaxed);
    }

    pub fn escalation_deadline(&self) -> Option<Duration> {
        let nanos = self.escalate_at.load(Ordering::Relaxed);
        nanos.checked_sub(1).map(Duration::from_nanos)
    }

    pub fn set_cleanup_progress(&self, fraction: f32) {
        let permille = (fraction.clamp(0.0, 1.0) * 1000.0).round() as u16;
        self.cleanup_progress.store(permille, Ordering::Relaxed);
    }

    pub fn cleanup_progress(&self) -> Option<f32> {
        match self.cleanup_progress.load(Ordering::Relaxed) {
            u16::MAX => None,
            permille => Some(permille as f32 / 1000.0),
        }
    }

    /// Brings the task's byte in the state table up to date after a change of its end or its
    /// stamps. Whoever stores last has read the state after every change before it, so
    /// concurrent changes cannot leave an older state in the table.
    ///
    /// The fences make that true: with a change `D` by another writer, either this writer's
    /// second fence comes first in the fences' single order, and then the other writer's
    /// store to the table comes after this one's (and its reading after `D` wins); or it comes
    /// after the other's first fence, and then this writer's second reading sees `D`.
    /// Without them a store may pass a later load (x86 allows it) and an old state stays.
    fn publish_state(&self) {
        fence(Ordering::SeqCst);
        loop {
            let state = self.state();
            self.state_slot.store(state);
            fence(Ordering::SeqCst);
            if self.state() == state {
                return;
            }
        }
    }

    /// The recorded end, or what the milestones say so far (read from the milestones, not the
    /// token: `is_cancelled` takes a lock). Reads only the stamps it needs: the dashboard asks
    /// this of every task on every frame.
    pub fn state(&self) -> State {
        self.end_state()
            .unwrap_or_else(|| State::live(|kind| self.reached(kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task has a record, and most have little else: its size is a good part of what a
    /// million tasks cost. (An `Arc` of it is 360 bytes, which the allocator keeps in 368: 160
    /// bytes a task less than at 504.)
    #[test]
    fn the_record_stays_small() {
        assert_eq!(std::mem::size_of::<TaskEntry>(), 344);
    }

    /// A claim changes nothing readers see: a task claimed out of its backoff (to be stopped,
    /// or run again) still reads `restarting`, in its record and in the state table, until the
    /// claimant sets what comes next.
    #[tokio::test]
    async fn a_claimed_task_reads_as_it_was_until_its_next_state() {
        let entry = TaskEntry::for_test(1, "t");
        assert!(entry.begin_end());
        entry.set_end_state(State::Restarting);
        assert!(entry.claim(State::Restarting.code()));
        assert_eq!(entry.state(), State::Restarting);
        assert_eq!(entry.hub.states.read(1), vec![State::Restarting]);
        assert!(
            !entry.claim(State::Restarting.code()),
            "one claim at a time"
        );
        entry.set_end_state(State::Stopped);
        assert_eq!(entry.hub.states.read(1), vec![State::Stopped]);
    }
}
