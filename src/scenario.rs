//! Scenario files: which tasks to spawn and a timeline of actions, in TOML.
//!
//! A scenario is checked completely — syntax, fields, kinds, durations, names, the timeline's
//! targets, the task limit — before anything is spawned. A bad one yields one [`ScenarioError`]
//! naming the file, the line and column, and what was expected.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::kinds::{Kind, Params};
use crate::supervisor::{
    Restart, RestartLimit, RestartPolicy, SpawnSite, Supervisor, TaskId, check_name,
};
use crate::text::escape;

/// The most tasks one scenario may spawn, children of `parent` tasks included.
pub const MAX_TASKS: u64 = 100_000;

/// The largest scenario file read, in bytes.
pub const MAX_SCENARIO_BYTES: u64 = 1024 * 1024;

/// The longest duration a scenario or a flag may give: long enough for any lesson, short enough
/// that no arithmetic on it can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// "250ms", "2s", "1m 30s": never zero, at most [`MAX_DURATION`]. The one parser for durations in
/// scenarios and on the command line.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| {
        format!(
            "invalid duration \"{s}\" ({e}); write durations like \"250ms\", \"2s\" or \"1m 30s\""
        )
    })?;
    if d.is_zero() {
        return Err(format!(
            "the duration \"{s}\" is zero; it must be longer than that"
        ));
    }
    if d > MAX_DURATION {
        return Err(format!(
            "the duration \"{s}\" is longer than the limit of 24h"
        ));
    }
    Ok(d)
}

/// The shortest slow-poll threshold: below it every poll would be an event.
pub const MIN_SLOW_POLL: Duration = Duration::from_micros(100);

/// A slow-poll threshold: a duration of at least [`MIN_SLOW_POLL`].
pub fn parse_slow_poll(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_SLOW_POLL {
        return Err(format!(
            "the slow-poll threshold \"{s}\" is under 100µs: every poll would be reported slow"
        ));
    }
    Ok(d)
}

/// The scenario used when none is given: one task of each kind.
pub const DEFAULT_SCENARIO: &str = include_str!("../assets/default.toml");

/// A checked scenario, ready to play.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Where it came from, for messages.
    pub source: String,
    pub description: Option<String>,
    pub grace: Option<Duration>,
    /// The slow-poll threshold, if the scenario sets one.
    pub slow_poll: Option<Duration>,
    pub tasks: Vec<TaskPlan>,
    /// Sorted by time.
    pub timeline: Vec<Step>,
}

/// One task to spawn.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskPlan {
    pub name: String,
    pub kind: Kind,
    pub params: Params,
    /// The scenario's file and the line of the task's name: where the task is said to be
    /// spawned.
    pub site: Option<SpawnSite>,
}

impl TaskPlan {
    /// How many children the task spawns.
    pub fn children(&self) -> u32 {
        match self.kind {
            Kind::Parent => self.params.children,
            _ => 0,
        }
    }
}

/// One timeline action and when it happens, counted from the start of the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub after: Duration,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Stop these tasks (one name can stand for every copy of a task with `count`).
    Stop(Vec<String>),
    Abort(Vec<String>),
    StopAll,
    AbortAll,
    Spawn(Vec<TaskPlan>),
}

impl Action {
    /// In words, for the dashboard's announcements: `stop stubborn, slow-cleanup`.
    pub fn describe(&self) -> String {
        let names = |names: &[String]| escape(&names.join(", ")).into_owned();
        match self {
            Action::Stop(names_) => format!("stop {}", names(names_)),
            Action::Abort(names_) => format!("abort {}", names(names_)),
            Action::StopAll => "stop all".to_string(),
            Action::AbortAll => "abort all".to_string(),
            Action::Spawn(plans) => {
                let spawned: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
                format!("spawn {}", names(&spawned))
            }
        }
    }
}

/// Why a scenario was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub source: String,
    /// 1-based line and column, where the problem has a place in the file.
    pub location: Option<(usize, usize)>,
    pub message: String,
    /// The offending line with a caret under the spot.
    pub excerpt: Option<String>,
}

impl fmt::Display for ScenarioError {
    /// Safe to print to a terminal: the file name and the message are escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (source, message) = (escape(&self.source), escape(&self.message));
        match self.location {
            Some((line, column)) => write!(f, "{source}:{line}:{column}: {message}")?,
            None => write!(f, "{source}: {message}")?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl ScenarioError {
    fn whole_file(source: &str, message: impl Into<String>) -> Self {
        Self {
            source: source.to_string(),
            location: None,
            message: message.into(),
            excerpt: None,
        }
    }

    fn at(source: &str, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = char_boundary(text, span.start);
        let span_end = char_boundary(text, span.end.max(start));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = line_of(text, start);
        let column = text[line_start..start].chars().count() + 1;
        // The excerpt is shown escaped, and the caret placed under the escaped text.
        let source_line = escape(text[line_start..line_end].trim_end_matches('\r'));
        let before = escape(&text[line_start..start]).chars().count();
        let width = escape(&text[start..span_end.min(line_end).max(start)])
            .chars()
            .count()
            .max(1);
        let gutter = line.to_string().len();
        let excerpt = format!(
            "{:gutter$} |\n{line} | {source_line}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(before),
            "^".repeat(width),
        );
        Self {
            source: source.to_string(),
            location: Some((line, column)),
            message: message.into(),
            excerpt: Some(excerpt),
        }
    }
}

/// Reads at most [`MAX_SCENARIO_BYTES`] of a regular file. Opened without blocking, so a FIFO
/// with no writer cannot hold taskmon up, and checked before a byte is read.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "cannot read the scenario: no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "cannot read the scenario: permission denied".to_string()
            }
            _ => format!("cannot read the scenario: {e}"),
        })?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    if metadata.is_dir() {
        return Err("is a directory, expected a scenario file (.toml)".into());
    }
    if !metadata.is_file() {
        return Err(
            "is not a regular file (a FIFO, a device or a socket); scenarios are read from files"
                .into(),
        );
    }
    let too_big = |size: u64| {
        format!(
            "is {size} bytes; a scenario is at most {MAX_SCENARIO_BYTES} bytes (1 MiB) — use `count` for many tasks"
        )
    };
    if metadata.len() > MAX_SCENARIO_BYTES {
        return Err(too_big(metadata.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the scenario: {e}"))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The key on the first line whose dotted key has the most parts (quoted dots not counted).
fn deepest_dotted_key(text: &str) -> Option<Range<usize>> {
    let mut deepest: Option<(usize, Range<usize>)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let mut dots = 0;
        let mut quote = None;
        let mut key_end = line.len();
        for (i, c) in line.char_indices().skip(indent) {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '.') => dots += 1,
                (None, '=' | ']' | '#') => {
                    key_end = i;
                    break;
                }
                _ => {}
            }
        }
        if dots > 0 && deepest.as_ref().is_none_or(|(most, _)| dots > *most) {
            deepest = Some((dots, offset + indent..offset + key_end.max(indent)));
        }
        offset += line.len();
    }
    deepest.map(|(_, span)| span)
}

/// The nearest char boundary at or after `at`, within the text.
fn char_boundary(text: &str, at: usize) -> usize {
    (at.min(text.len())..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len())
}

impl Scenario {
    /// Reads and checks a scenario file: a regular file of at most [`MAX_SCENARIO_BYTES`]. A
    /// FIFO, a device or a directory is refused at once, never read.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let source = path.display().to_string();
        let bytes = read_bounded(path).map_err(|why| ScenarioError::whole_file(&source, why))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            ScenarioError::at(
                &source,
                &text,
                offset..offset + 1,
                "the file is not valid UTF-8; scenarios are UTF-8 TOML text",
            )
        })?;
        Self::parse(&text, &source)
    }

    /// The embedded default scenario.
    pub fn default_scenario() -> Self {
        Self::parse(
            DEFAULT_SCENARIO,
            "built-in default scenario (assets/default.toml)",
        )
        .expect("the embedded default scenario is valid")
    }

    /// Checks scenario text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Self, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let mut message = e.message().trim_end().to_string();
            // toml gives no place for dotted keys nested past its limit: find the line.
            let span = e.span().or_else(|| {
                (message == "recursion limit")
                    .then(|| deepest_dotted_key(text))
                    .flatten()
            });
            if message == "recursion limit" {
                message = "keys are nested too deeply".to_string();
            }
            match span {
                Some(span) => ScenarioError::at(source, text, span, message),
                None => ScenarioError::whole_file(source, message),
            }
        })?;
        Checker {
            source,
            text,
            names: HashMap::new(),
            groups: HashMap::new(),
            total: 0,
            targets: Vec::new(),
        }
        .check(raw)
    }

    /// How many of the scenario's tasks keep a journal file open, children and timeline spawns
    /// included: the open-file limit has to leave room for them all.
    pub fn journaled_tasks(&self) -> u64 {
        let spawned = self.timeline.iter().flat_map(|step| match &step.action {
            Action::Spawn(plans) => plans.as_slice(),
            _ => &[],
        });
        self.tasks
            .iter()
            .chain(spawned)
            .filter(|plan| plan.params.journal)
            .map(|plan| 1 + u64::from(plan.children()))
            .sum()
    }

    /// When the timeline's last action happens.
    pub fn last_action(&self) -> Duration {
        self.timeline.last().map_or(Duration::ZERO, |s| s.after)
    }

    /// Spawns the scenario's tasks and returns the names the timeline can refer to.
    pub fn spawn_tasks(&self, sup: &Supervisor) -> Roster {
        let mut roster = Roster::default();
        roster.spawn(sup, &self.tasks);
        roster
    }

    /// Plays the timeline, each action at its time after `start`. Actions on tasks that have
    /// already ended do nothing.
    pub async fn play_timeline(
        &self,
        sup: &Supervisor,
        roster: &mut Roster,
        start: tokio::time::Instant,
    ) {
        for step in &self.timeline {
            tokio::time::sleep_until(start + step.after).await;
            match &step.action {
                Action::Stop(names) => roster.ids(names).for_each(|id| drop(sup.stop(id))),
                Action::Abort(names) => roster.ids(names).for_each(|id| drop(sup.abort(id))),
                Action::StopAll => drop(sup.stop_all()),
                Action::AbortAll => drop(sup.abort_all()),
                Action::Spawn(plans) => roster.spawn(sup, plans),
            }
        }
    }
}

/// Task names to ids, for the timeline.
#[derive(Debug, Default)]
pub struct Roster {
    ids: HashMap<String, TaskId>,
}

impl Roster {
    fn spawn(&mut self, sup: &Supervisor, plans: &[TaskPlan]) {
        for plan in plans {
            // Refused only once shutdown has begun, when spawning no more is right.
            let mut def = plan.kind.task(&plan.name, &plan.params);
            if let Some(site) = &plan.site {
                def = def.spawned_at(site.clone());
            }
            if let Ok(id) = sup.spawn(def) {
                self.ids.insert(plan.name.clone(), id);
            }
        }
    }

    fn ids<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = TaskId> + 'a {
        names.iter().filter_map(|n| self.ids.get(n).copied())
    }
}

// ---- checking -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    grace: Option<Spanned<HumanDuration>>,
    slow_poll: Option<Spanned<String>>,
    #[serde(default)]
    task: Vec<Spanned<RawTask>>,
    #[serde(default)]
    at: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: Option<Spanned<String>>,
    kind: Kind,
    count: Option<Spanned<NonZeroU32>>,
    interval: Option<HumanDuration>,
    flush_every: Option<NonZeroU64>,
    cleanup: Option<HumanDuration>,
    busy: Option<HumanDuration>,
    panic_after: Option<NonZeroU64>,
    error_after: Option<NonZeroU64>,
    children: Option<u32>,
    journal: Option<bool>,
    flush_on_drop: Option<bool>,
    panic_chance: Option<Chance>,
    frame_every: Option<HumanDuration>,
    frame_split: Option<HumanDuration>,
    restart: Option<RestartWord>,
    stage: Option<u32>,
    critical: Option<bool>,
    restart_delay: Option<HumanDuration>,
    restart_max_delay: Option<HumanDuration>,
    restart_limit: Option<RawLimit>,
}

/// `restart_limit = { count = 5, within = "1m" }`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    count: u32,
    within: HumanDuration,
}

/// A probability, 0 to 1.
struct Chance(f64);

impl<'de> Deserialize<'de> for Chance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let chance = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&chance) {
            return Err(de::Error::custom(format!(
                "the chance {chance} is not between 0 and 1 (0.05 is a 5% chance)"
            )));
        }
        Ok(Chance(chance))
    }
}

/// `never`, `on-panic`, `on-error`, `on-failure` or `always`.
struct RestartWord(Restart);

impl<'de> Deserialize<'de> for RestartWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        Ok(RestartWord(match word.as_str() {
            "never" => Restart::Never,
            "on-panic" => Restart::OnPanic,
            "on-error" => Restart::OnError,
            "on-failure" => Restart::OnFailure,
            "always" => Restart::Always,
            _ => {
                return Err(de::Error::custom(format!(
                    "unknown restart `{word}`, expected one of: never, on-panic, on-error, on-failure, always"
                )));
            }
        }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    after: HumanDuration,
    stop: Option<Spanned<String>>,
    abort: Option<Spanned<String>>,
    stop_all: Option<Spanned<bool>>,
    abort_all: Option<Spanned<bool>>,
    spawn: Option<Spanned<RawTask>>,
}

/// A duration written as people write them: "250ms", "2s", "1m 30s" (see [`parse_duration`]).
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration in quotes, like \"250ms\" or \"2s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HumanDuration, E> {
                parse_duration(s).map(HumanDuration).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(de::Error::custom)
    }
}

/// Where a name of the scenario comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    /// The name of a `[[task]]` or a spawn.
    Task,
    /// A numbered copy of a task with `count`.
    Copy { base: String },
    /// A child that a `parent` task spawns.
    Child { parent: String },
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Task => String::new(),
            Origin::Copy { base } => format!(", as a copy of `{base}`"),
            Origin::Child { parent } => format!(", as a child of `{parent}`"),
        }
    }

    /// Whether a timeline may name it.
    fn is_target(&self) -> bool {
        !matches!(self, Origin::Child { .. })
    }
}

struct Checker<'a> {
    source: &'a str,
    text: &'a str,
    /// Every name the scenario gives a task, children of parents included, with the span that
    /// gave it.
    names: HashMap<String, (Range<usize>, Origin)>,
    /// A `count` task's base name to its numbered names.
    groups: HashMap<String, Vec<String>>,
    total: u64,
    /// Every stop and abort target, checked once all names are known.
    targets: Vec<Spanned<String>>,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.source, self.text, span, message)
    }

    fn check(mut self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let mut tasks = Vec::new();
        for task in raw.task {
            let span = task.span();
            let task = task.into_inner();
            let Some(name) = task.name.clone() else {
                return Err(self.error(
                    span,
                    "this [[task]] has no `name`; every task needs a unique name",
                ));
            };
            tasks.extend(self.plans(name, task)?);
        }
        let mut timeline = Vec::new();
        for step in raw.at {
            let span = step.span();
            let step = step.into_inner();
            let after = step.after.0;
            let action = self.action(span, step)?;
            timeline.push(Step { after, action });
        }
        // Targets may name tasks spawned by a later step too, so they are checked at the end.
        for target in std::mem::take(&mut self.targets) {
            self.check_target(&target)?;
        }
        for step in &mut timeline {
            if let Action::Stop(names) | Action::Abort(names) = &mut step.action {
                let named = std::mem::take(names);
                *names = named
                    .into_iter()
                    .flat_map(|n| self.groups.get(&n).cloned().unwrap_or(vec![n]))
                    .collect();
            }
        }
        timeline.sort_by_key(|s| s.after);
        let slow_poll = match raw.slow_poll {
            Some(text) => Some(
                parse_slow_poll(text.get_ref()).map_err(|e| self.error(text.span(), e))?,
            ),
            None => None,
        };
        Ok(Scenario {
            source: self.source.to_string(),
            description: raw.description,
            grace: raw.grace.map(|g| g.into_inner().0),
            slow_poll,
            tasks,
            timeline,
        })
    }

    /// The task's plans, one per copy, with names checked and counted against the limit.
    fn plans(
        &mut self,
        name: Spanned<String>,
        task: RawTask,
    ) -> Result<Vec<TaskPlan>, ScenarioError> {
        let name_span = name.span();
        let base = name.into_inner();
        if let Err(reason) = check_name(&base) {
            return Err(self.error(name_span, reason.to_string()));
        }
        let count = task.count.as_ref().map_or(1, |c| c.get_ref().get());
        let per_copy = 1 + match task.kind {
            Kind::Parent => u64::from(task.children.unwrap_or(Params::default().children)),
            _ => 0,
        };
        self.total += u64::from(count) * per_copy;
        if self.total > MAX_TASKS {
            let span = task.count.as_ref().map_or(name_span.clone(), |c| c.span());
            return Err(self.error(
                span,
                format!(
                    "the scenario would spawn {} tasks (children of parents included); the limit is {MAX_TASKS}",
                    self.total
                ),
            ));
        }
        let names: Vec<String> = if count == 1 {
            vec![base.clone()]
        } else {
            (1..=count).map(|i| format!("{base}-{i}")).collect()
        };
        let params = params_of(&task);
        let children = TaskPlan {
            name: String::new(),
            kind: task.kind,
            params: params.clone(),
            site: None,
        }
        .children();
        for n in &names {
            let origin = if count > 1 {
                Origin::Copy { base: base.clone() }
            } else {
                Origin::Task
            };
            self.claim(n, &name_span, origin)?;
            for i in 1..=children {
                let child = Origin::Child { parent: n.clone() };
                self.claim(&format!("{n}.child{i}"), &name_span, child)?;
            }
        }
        if count > 1 {
            self.groups.insert(base, names.clone());
        }
        let line = line_of(self.text, name_span.start);
        let site = SpawnSite::text(format!("{}:{line}", escape(self.source)));
        Ok(names
            .into_iter()
            .map(|name| TaskPlan {
                name,
                kind: task.kind,
                params: params.clone(),
                site: Some(site.clone()),
            })
            .collect())
    }

    /// Takes `name` for a task, refusing one that is taken or that breaks the rules for names
    /// (which a derived name can, by its suffix).
    fn claim(
        &mut self,
        name: &str,
        span: &Range<usize>,
        origin: Origin,
    ) -> Result<(), ScenarioError> {
        if origin != Origin::Task
            && let Err(reason) = check_name(name)
        {
            return Err(self.error(
                span.clone(),
                format!(
                    "the name `{name}`{} is refused: {reason}",
                    origin.describe()
                ),
            ));
        }
        if let Some((first, first_origin)) = self.names.get(name) {
            let first_line = line_of(self.text, first.start);
            return Err(self.error(
                span.clone(),
                format!(
                    "duplicate task name `{name}`{} (first defined on line {first_line}{}); task names must be unique",
                    origin.describe(),
                    first_origin.describe()
                ),
            ));
        }
        self.names.insert(name.to_string(), (span.clone(), origin));
        Ok(())
    }

    fn action(&mut self, span: Range<usize>, step: RawStep) -> Result<Action, ScenarioError> {
        let chosen = [
            step.stop.is_some(),
            step.abort.is_some(),
            step.stop_all.is_some(),
            step.abort_all.is_some(),
            step.spawn.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if chosen != 1 {
            return Err(self.error(
                span,
                "each [[at]] takes `after` and exactly one of `stop`, `abort`, `stop_all`, `abort_all`, `spawn`",
            ));
        }
        for flag in [&step.stop_all, &step.abort_all].into_iter().flatten() {
            if !*flag.get_ref() {
                return Err(self.error(
                    flag.span(),
                    "expected `true`; leave the action out instead of setting it to false",
                ));
            }
        }
        if let Some(target) = step.stop.as_ref().or(step.abort.as_ref()) {
            self.targets.push(target.clone());
        }
        Ok(if let Some(target) = step.stop {
            Action::Stop(vec![target.into_inner()])
        } else if let Some(target) = step.abort {
            Action::Abort(vec![target.into_inner()])
        } else if step.stop_all.is_some() {
            Action::StopAll
        } else if step.abort_all.is_some() {
            Action::AbortAll
        } else {
            let spawn = step.spawn.expect("one action is set");
            let spawn_span = spawn.span();
            let task = spawn.into_inner();
            let name = match task.name.clone() {
                Some(name) => name,
                None => Spanned::new(spawn_span, self.fresh_name(task.kind)),
            };
            Action::Spawn(self.plans(name, task)?)
        })
    }

    /// A stop or abort must name a task of the scenario (or a `count` group).
    fn check_target(&self, target: &Spanned<String>) -> Result<(), ScenarioError> {
        let name = target.get_ref();
        if name.trim().is_empty() {
            return Err(self.error(
                target.span(),
                "the timeline names no task: the name is empty",
            ));
        }
        let named = self
            .names
            .get(name)
            .is_some_and(|(_, origin)| origin.is_target());
        if !named && !self.groups.contains_key(name) {
            let mut known: Vec<_> = self
                .names
                .iter()
                .filter(|(_, (_, origin))| origin.is_target())
                .map(|(name, _)| name.as_str())
                .collect();
            known.sort_unstable();
            known.truncate(12);
            return Err(self.error(
                target.span(),
                format!(
                    "the timeline names `{name}`, which is no task of this scenario (tasks: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        Ok(())
    }

    fn fresh_name(&self, kind: Kind) -> String {
        (1..)
            .map(|i| format!("{}-spawned-{i}", kind.name()))
            .find(|n| !self.names.contains_key(n))
            .expect("some name is free")
    }
}

fn params_of(task: &RawTask) -> Params {
    let d = Params::default();
    Params {
        interval: task.interval.as_ref().map_or(d.interval, |v| v.0),
        flush_every: task.flush_every.map_or(d.flush_every, NonZeroU64::get),
        cleanup: task.cleanup.as_ref().map_or(d.cleanup, |v| v.0),
        busy: task.busy.as_ref().map_or(d.busy, |v| v.0),
        panic_after: task.panic_after.map_or(d.panic_after, NonZeroU64::get),
        error_after: task.error_after.map_or(d.error_after, NonZeroU64::get),
        children: task.children.unwrap_or(d.children),
        journal: task.journal.unwrap_or(d.journal),
        flush_on_drop: task.flush_on_drop.unwrap_or(d.flush_on_drop),
        panic_chance: task.panic_chance.as_ref().map_or(d.panic_chance, |c| c.0),
        frame_every: task.frame_every.as_ref().map_or(d.frame_every, |v| v.0),
        frame_split: task.frame_split.as_ref().map_or(d.frame_split, |v| v.0),
        stage: task.stage.unwrap_or(d.stage),
        critical: task.critical.unwrap_or(d.critical),
        restart: RestartPolicy {
            restart: task.restart.as_ref().map_or(d.restart.restart, |r| r.0),
            delay: task.restart_delay.as_ref().map_or(d.restart.delay, |v| v.0),
            max_delay: task
                .restart_max_delay
                .as_ref()
                .map_or(d.restart.max_delay, |v| v.0),
            limit: task
                .restart_limit
                .as_ref()
                .map_or(d.restart.limit, |l| RestartLimit {
                    count: l.count,
                    within: l.within.0,
                }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_durations_and_timeline_targets() {
        let s = Scenario::parse(
            r#"
grace = "1500ms"
[[task]]
name = "w"
kind = "select"
count = 3
interval = "1m 30s"

[[at]]
after = "2s"
abort = "w"

[[at]]
after = "1s"
spawn = { kind = "stubborn", name = "late", busy = "250ms" }

[[at]]
after = "3s"
stop = "late"

[[at]]
after = "4s"
spawn = { kind = "select" }
"#,
            "inline",
        )
        .unwrap();
        assert_eq!(s.grace, Some(Duration::from_millis(1500)));
        let names: Vec<_> = s.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w-1", "w-2", "w-3"]);
        assert_eq!(s.tasks[0].params.interval, Duration::from_secs(90));
        let afters: Vec<_> = s.timeline.iter().map(|t| t.after.as_secs()).collect();
        assert_eq!(afters, [1, 2, 3, 4], "sorted by time");
        assert_eq!(
            s.timeline[1].action,
            Action::Abort(vec!["w-1".into(), "w-2".into(), "w-3".into()])
        );
        assert_eq!(s.timeline[2].action, Action::Stop(vec!["late".into()]));
        let Action::Spawn(late) = &s.timeline[0].action else {
            panic!()
        };
        assert_eq!(late[0].params.busy, Duration::from_millis(250));
        let Action::Spawn(anon) = &s.timeline[3].action else {
            panic!()
        };
        assert_eq!(anon[0].name, "select-spawned-1");
        assert_eq!(s.last_action(), Duration::from_secs(4));
    }

    #[test]
    fn parents_count_their_children_against_the_limit() {
        let e = Scenario::parse(
            "[[task]]\nname = \"p\"\nkind = \"parent\"\ncount = 10000\nchildren = 10\n",
            "inline",
        )
        .unwrap_err();
        assert_eq!(e.location, Some((4, 9)));
        assert!(e.message.contains("110000 tasks"), "{}", e.message);
    }

    #[test]
    fn durations_are_longer_than_zero_and_at_most_a_day() {
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("1ns"), Ok(Duration::from_nanos(1)));
        assert!(
            parse_duration("24h 1ns")
                .unwrap_err()
                .contains("limit of 24h")
        );
        assert!(parse_duration("0s").unwrap_err().contains("is zero"));
        assert!(parse_duration("18446744073709551615s").is_err());
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("invalid duration")
        );
    }

    #[test]
    fn keys_nested_too_deeply_are_found_on_their_line() {
        let text = format!(
            "[[task]]\nname = \"a.b\"\nkind = \"select\"\n{} = 1\n",
            "k.".repeat(90) + "k"
        );
        let e = Scenario::parse(&text, "inline").unwrap_err();
        assert_eq!(e.location, Some((4, 1)));
        assert_eq!(e.message, "keys are nested too deeply");
    }

    #[test]
    fn journaled_tasks_count_children_and_timeline_spawns() {
        let s = Scenario::parse(
            r#"
[[task]]
name = "p"
kind = "parent"
children = 4
count = 2
[[task]]
name = "light"
kind = "select"
count = 50
journal = false
[[at]]
after = "1s"
spawn = { kind = "polling" }
"#,
            "inline",
        )
        .unwrap();
        assert_eq!(s.journaled_tasks(), 2 * 5 + 1);
    }

    #[test]
    fn a_task_needs_a_name() {
        let e = Scenario::parse("[[task]]\nkind = \"select\"\n", "inline").unwrap_err();
        assert_eq!(e.location, Some((1, 1)));
        assert!(e.message.contains("no `name`"));
    }
}
