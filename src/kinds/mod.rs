//! The built-in task kinds. Each file holds one kind: a short function over a
//! [`TaskContext`] whose doc comment is the lesson it teaches.

mod blocking;
mod detached;
mod erring;
mod flaky;
mod panicky;
mod parent;
mod polling;
mod select;
mod select_safe;
mod select_unsafe;
mod slow_cleanup;
mod spawn_blocking;
mod stubborn;
mod wire;

use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::journal::JournalConfig;
use crate::supervisor::{RestartPolicy, TaskContext, TaskDef};

/// A built-in task kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    /// Checks its token once per tick, sleeping in between.
    Polling,
    /// `select!`s on its token and its tick timer.
    Select,
    /// Takes `cleanup` to clean up, showing progress.
    SlowCleanup,
    /// Does `busy` of synchronous work between awaits.
    Blocking,
    /// Never looks at its token.
    Stubborn,
    /// Panics after `panic_after` ticks.
    Panicky,
    /// Spawns `children` children with child tokens.
    Parent,
    /// Loops on tokio's blocking pool.
    SpawnBlocking,
    /// Panics now and then (`panic_chance` per tick).
    Flaky,
    /// Reads frames in a `select!` with a fresh read each time round: loses frames.
    SelectUnsafe,
    /// Reads the same frames with one read kept across the loop: loses none.
    SelectSafe,
    /// Starts a task with a plain `tokio::spawn`, never joined.
    Detached,
    /// Returns an error after `error_after` ticks.
    Erring,
}

impl Kind {
    /// In the picker's order; the first nine are the keys `1`–`9`.
    pub const ALL: [Kind; 13] = [
        Kind::Polling,
        Kind::Select,
        Kind::SlowCleanup,
        Kind::Blocking,
        Kind::Stubborn,
        Kind::Panicky,
        Kind::Parent,
        Kind::SpawnBlocking,
        Kind::Flaky,
        Kind::SelectUnsafe,
        Kind::SelectSafe,
        Kind::Detached,
        Kind::Erring,
    ];

    /// Its name in scenarios and on screen: `slow-cleanup`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// What the kind does, in one line.
    pub fn behaviour(self) -> &'static str {
        match self {
            Kind::Polling => "checks token.is_cancelled() once per tick, sleeping in between",
            Kind::Select => "select!s on token.cancelled() and the tick timer",
            Kind::SlowCleanup => "cleanup flushes in steps over `cleanup`, showing progress",
            Kind::Blocking => "does `busy` of synchronous work between awaits",
            Kind::Stubborn => "never looks at its token",
            Kind::Panicky => "panics after `panic_after` ticks",
            Kind::Parent => "spawns `children` child tasks with child tokens",
            Kind::SpawnBlocking => {
                "loops on tokio's blocking pool, checking is_cancelled() between steps"
            }
            Kind::Flaky => "panics with probability `panic_chance` at each tick",
            Kind::SelectUnsafe => {
                "reads framed messages in select! against its tick timer, a fresh read each time round"
            }
            Kind::SelectSafe => "reads the same frames with one read kept across the select! loop",
            Kind::Detached => "starts a task with a plain tokio::spawn and never joins it",
            Kind::Erring => "returns an error after `error_after` ticks",
        }
    }

    /// The lesson the kind teaches, in one line.
    pub fn lesson(self) -> &'static str {
        match self {
            Kind::Polling => {
                "stop takes up to one interval, cleanup runs, nothing lost; abort is instant but skips cleanup and loses pending records"
            }
            Kind::Select => "stop is noticed at once (well under a millisecond) and cleanup runs",
            Kind::SlowCleanup => {
                "stop shows `cleaning up` with progress; an abort or escalation mid-cleanup leaves it partial"
            }
            Kind::Blocking => {
                "stop and abort both wait for the poll to end: see it blocking live (⚠ blocking, then long_poll); abort is not instant either"
            }
            Kind::Stubborn => {
                "a graceful stop runs into the grace period and is escalated to an abort"
            }
            Kind::Panicky => {
                "the panic is caught at the task's edge and kept with its message; everything else is unaffected and its Drop still ran"
            }
            Kind::Parent => {
                "stop cascades to the children and awaits them before cleanup; abort leaves them running as orphans"
            }
            Kind::SpawnBlocking => {
                "stop works at the next check; abort has no effect at all on a started blocking task"
            }
            Kind::Flaky => {
                "under a restart policy each panic is followed by a longer wait, until the limit gives up: failed"
            }
            Kind::SelectUnsafe => {
                "a select! branch that loses is dropped like an abort: the half-read frame is gone, nobody pressed anything"
            }
            Kind::SelectSafe => {
                "a future kept across select! iterations is not dropped when it loses: no frame is lost"
            }
            Kind::Detached => {
                "nothing stops or joins a detached task: at exit the runtime drops it, cleanup never runs, records are lost"
            }
            Kind::Erring => "an error is a normal end; the policy decides what follows",
        }
    }

    /// The parameters this kind reads beyond the common ones.
    pub fn own_params(self) -> &'static [&'static str] {
        match self {
            Kind::SlowCleanup => &["cleanup"],
            Kind::Blocking => &["busy"],
            Kind::Panicky => &["panic_after"],
            Kind::Erring => &["error_after"],
            Kind::Parent => &["children"],
            Kind::Flaky => &["panic_chance"],
            Kind::SelectUnsafe | Kind::SelectSafe => &["frame_every", "frame_split"],
            _ => &[],
        }
    }

    /// Builds a task of this kind, located where this is called.
    #[track_caller]
    pub fn task(self, name: impl Into<String>, params: &Params) -> TaskDef {
        let p = params.clone().sanitized();
        let journal = if p.journal {
            JournalConfig {
                enabled: true,
                flush_every: p.flush_every,
                flush_on_drop: p.flush_on_drop,
            }
        } else {
            JournalConfig::OFF
        };
        let (restart, stage, critical) = (p.restart, p.stage, p.critical);
        // Every kind can be run again; its runs, and the copies made with
        // `TaskDef::copy_named`, share one copy of the parameters.
        let p = Arc::new(p);
        let def = match self {
            Kind::Polling => {
                TaskDef::restartable(name, move |ctx| polling::run(ctx, p.clone())).boxed()
            }
            Kind::Select => {
                TaskDef::restartable(name, move |ctx| select::run(ctx, p.clone())).boxed()
            }
            Kind::SlowCleanup => {
                TaskDef::restartable(name, move |ctx| slow_cleanup::run(ctx, p.clone())).boxed()
            }
            Kind::Blocking => {
                TaskDef::restartable(name, move |ctx| blocking::run(ctx, p.clone())).boxed()
            }
            Kind::Stubborn => {
                TaskDef::restartable(name, move |ctx| stubborn::run(ctx, p.clone())).boxed()
            }
            Kind::Panicky => {
                TaskDef::restartable(name, move |ctx| panicky::run(ctx, p.clone())).boxed()
            }
            Kind::Erring => {
                TaskDef::restartable(name, move |ctx| erring::run(ctx, p.clone())).boxed()
            }
            Kind::Parent => {
                TaskDef::restartable(name, move |ctx| parent::run(ctx, p.clone())).boxed()
            }
            Kind::SpawnBlocking => {
                TaskDef::restartable_blocking(name, move |ctx| spawn_blocking::run(ctx, p.clone()))
                    .boxed()
            }
            Kind::Flaky => {
                TaskDef::restartable(name, move |ctx| flaky::run(ctx, p.clone())).boxed()
            }
            Kind::SelectUnsafe => {
                TaskDef::restartable(name, move |ctx| select_unsafe::run(ctx, p.clone())).boxed()
            }
            Kind::SelectSafe => {
                TaskDef::restartable(name, move |ctx| select_safe::run(ctx, p.clone())).boxed()
            }
            Kind::Detached => {
                TaskDef::restartable(name, move |ctx| detached::run(ctx, p.clone())).boxed()
            }
        };
        let def = def
            .kind(self.name())
            .journal(journal)
            .restart(restart)
            .stage(stage)
            .spawned_at(crate::supervisor::SpawnSite::caller());
        if critical { def.critical() } else { def }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A name that is not one of the kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown kind `{}`, expected one of: {}",
            self.0,
            kind_list()
        )
    }
}

impl std::error::Error for UnknownKind {}

/// `polling, select, …` for messages.
pub fn kind_list() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// The parameters of every kind; each kind reads the ones it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Time between ticks.
    pub interval: Duration,
    /// Flush the journal every this many ticks.
    pub flush_every: u64,
    /// How long `slow-cleanup`'s cleanup takes.
    pub cleanup: Duration,
    /// How long `blocking` works synchronously between awaits.
    pub busy: Duration,
    /// After how many ticks `panicky` panics.
    pub panic_after: u64,
    /// After how many ticks `erring` returns its error.
    pub error_after: u64,
    /// How many children `parent` spawns.
    pub children: u32,
    /// Keep a journal file.
    pub journal: bool,
    /// Write pending records from a synchronous `Drop`, so an abort loses nothing.
    pub flush_on_drop: bool,
    /// The chance that `flaky` panics at a tick, 0 to 1.
    pub panic_chance: f64,
    /// How often a frame arrives, for the `select` lessons.
    pub frame_every: Duration,
    /// How long after its prefix a frame's body arrives.
    pub frame_split: Duration,
    /// When the task is run again after it panicked, erred or returned on its own.
    pub restart: RestartPolicy,
    /// When a stop of every task reaches it ([`TaskDef::stage`]).
    pub stage: u32,
    /// Whether its end shuts every task down ([`TaskDef::critical`]).
    pub critical: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            flush_every: JournalConfig::default().flush_every,
            cleanup: Duration::from_secs(2),
            busy: Duration::from_secs(1),
            panic_after: 50,
            error_after: 40,
            children: 3,
            journal: true,
            flush_on_drop: false,
            panic_chance: 0.05,
            frame_every: Duration::from_millis(30),
            frame_split: Duration::from_millis(10),
            restart: RestartPolicy::default(),
            stage: 0,
            critical: false,
        }
    }
}

/// One row of `taskmon kinds`: a parameter, its default and what it does.
pub struct ParamDoc {
    /// The field's name in a scenario.
    pub name: &'static str,
    /// Its default, as written in a scenario.
    pub default: String,
    /// What it does.
    pub about: &'static str,
}

impl Params {
    /// Every parameter with its default, for `taskmon kinds` and the README.
    pub fn docs() -> Vec<ParamDoc> {
        let d = Params::default();
        let human = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            ParamDoc {
                name: "interval",
                default: human(d.interval),
                about: "time between ticks",
            },
            ParamDoc {
                name: "flush_every",
                default: d.flush_every.to_string(),
                about: "flush the journal every N ticks",
            },
            ParamDoc {
                name: "journal",
                default: d.journal.to_string(),
                about: "keep a journal file (false for load tests)",
            },
            ParamDoc {
                name: "flush_on_drop",
                default: d.flush_on_drop.to_string(),
                about: "a synchronous Drop writes pending records, so abort loses nothing",
            },
            ParamDoc {
                name: "cleanup",
                default: human(d.cleanup),
                about: "slow-cleanup: how long the cleanup takes",
            },
            ParamDoc {
                name: "busy",
                default: human(d.busy),
                about: "blocking: synchronous work between awaits",
            },
            ParamDoc {
                name: "panic_after",
                default: d.panic_after.to_string(),
                about: "panicky: ticks before it panics",
            },
            ParamDoc {
                name: "error_after",
                default: d.error_after.to_string(),
                about: "erring: ticks before it returns an error",
            },
            ParamDoc {
                name: "children",
                default: d.children.to_string(),
                about: "parent: how many children it spawns",
            },
            ParamDoc {
                name: "panic_chance",
                default: d.panic_chance.to_string(),
                about: "flaky: the chance of a panic at each tick",
            },
            ParamDoc {
                name: "frame_every",
                default: human(d.frame_every),
                about: "select-unsafe, select-safe: a frame arrives this often",
            },
            ParamDoc {
                name: "frame_split",
                default: human(d.frame_split),
                about: "select-unsafe, select-safe: a frame's body arrives this long after its prefix",
            },
            ParamDoc {
                name: "stage",
                default: "0".into(),
                about: "when stop-all, S, quitting and shutdown reach it: stage 0 first, awaited, then 1, …",
            },
            ParamDoc {
                name: "critical",
                default: "false".into(),
                about: "its end for good (any end) shuts every task down gracefully, in stages",
            },
            ParamDoc {
                name: "restart",
                default: "never".into(),
                about: "never, on-panic, on-error, on-failure (a panic or an error) or always (any end of its own): run it again",
            },
            ParamDoc {
                name: "restart_delay",
                default: human(d.restart.delay),
                about: "the first wait before a restart; each restart doubles it",
            },
            ParamDoc {
                name: "restart_max_delay",
                default: human(d.restart.max_delay),
                about: "the longest wait before a restart",
            },
            ParamDoc {
                name: "restart_limit",
                default: format!(
                    "{} in {}",
                    d.restart.limit.count,
                    human(d.restart.limit.within)
                ),
                about: "{ count, within }: more restarts than that and it is failed",
            },
        ]
    }

    /// Zero intervals and flush counts would spin or panic in tokio's timers.
    fn sanitized(mut self) -> Self {
        self.interval = self.interval.max(Duration::from_millis(1));
        self.flush_every = self.flush_every.max(1);
        self
    }
}

/// Counts a tick and flushes the journal when due. A failed write is the journal's to report
/// (see [`TaskContext::flush_records`]): the lesson goes on.
fn tick(ctx: &mut TaskContext) {
    ctx.tick();
    let _ = ctx.flush_journal_if_due();
}

/// The ordinary cleanup: write every pending record.
fn clean_up(ctx: &mut TaskContext) {
    ctx.cleanup_started();
    let _ = ctx.flush_journal();
    ctx.cleanup_finished();
}

/// The `select!` loop shared by several kinds: tick on a timer until the token is cancelled, then
/// report the stop as noticed (its output, `None`, says no more). `on_tick` runs after each
/// tick. Not an `async fn` of its own: a layer more would hold [`tick_until`]'s future and its
/// own arguments in every task's future.
fn tick_until_stopped<'a>(
    ctx: &'a mut TaskContext,
    interval: Duration,
    mut on_tick: impl FnMut(&mut TaskContext) + Send + 'a,
) -> impl Future<Output = Option<std::convert::Infallible>> + Send + 'a {
    tick_until(ctx, interval, move |ctx| {
        on_tick(ctx);
        ControlFlow::Continue(())
    })
}

/// The same loop, which `on_tick` can also end with a value of its own: `None` when the stop
/// ended it (reported as noticed).
///
/// Written to keep the future small, as every task of these kinds carries it: the token is
/// borrowed from the context, not cloned, and the timer polled directly rather than through
/// `Interval::tick`'s own future (with `tick_until_stopped` no layer of its own, the `flaky`
/// kind's future went from 440 bytes to 368).
async fn tick_until<T>(
    ctx: &mut TaskContext,
    interval: Duration,
    mut on_tick: impl FnMut(&mut TaskContext) -> ControlFlow<T>,
) -> Option<T> {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = ctx.token().cancelled() => break,
            _ = std::future::poll_fn(|cx| timer.poll_tick(cx)) => {
                tick(ctx);
                if let ControlFlow::Break(value) = on_tick(ctx) {
                    return Some(value);
                }
            }
        }
    }
    ctx.stop_noticed();
    None
}
