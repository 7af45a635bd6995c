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
pub const MAX_TASKS: u64 = 10_000_000;

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

/// One task to spawn, or `copies` of it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskPlan {
    /// The task's name; with copies, the base of theirs (`load` for `load-1` … `load-N`).
    pub name: String,
    /// 1 for a task of its own; more for a task with `count`, whose copies are numbered. Kept
    /// as a count, not a list: a million copies take no memory until they are spawned.
    pub copies: u32,
    pub kind: Kind,
    pub params: Params,
    /// The scenario's file and the line of the task's name: where the task is said to be
    /// spawned.
    pub site: Option<SpawnSite>,
}

impl TaskPlan {
    /// The name of each task it spawns, children aside: its own, or its copies'.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        let single = (self.copies == 1).then(|| self.name.clone());
        let copies = (self.copies > 1)
            .then(|| (1..=self.copies).map(|i| format!("{}-{i}", self.name)))
            .into_iter()
            .flatten();
        single.into_iter().chain(copies)
    }

    /// How many tasks it spawns, children included.
    pub fn task_count(&self) -> u64 {
        u64::from(self.copies) * (1 + u64::from(self.children()))
    }

    /// How many children the task spawns.
    pub fn children(&self) -> u32 {
        children_of(self.kind, &self.params)
    }
}

/// How many children a task of `kind` spawns with `params`: only a parent has any.
fn children_of(kind: Kind, params: &Params) -> u32 {
    match kind {
        Kind::Parent => params.children,
        _ => 0,
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
                let spawned: Vec<String> = plans
                    .iter()
                    .map(|p| match p.copies {
                        1 => p.name.clone(),
                        n => format!("{0}-1 … {0}-{n}", p.name),
                    })
                    .collect();
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
            by_base: HashMap::new(),
            total: 0,
            targets: Vec::new(),
        }
        .check(raw)
    }

    /// How many of the scenario's tasks keep a journal file open, children and timeline spawns
    /// included: the open-file limit has to leave room for them all.
    pub fn journaled_tasks(&self) -> u64 {
        self.every_plan()
            .filter(|plan| plan.params.journal)
            .map(TaskPlan::task_count)
            .sum()
    }

    /// How many tasks the scenario spawns, children and timeline spawns included.
    pub fn task_count(&self) -> u64 {
        self.every_plan().map(TaskPlan::task_count).sum()
    }

    /// The tasks spawned at the start, then those the timeline spawns.
    fn every_plan(&self) -> impl Iterator<Item = &TaskPlan> {
        let spawned = self.timeline.iter().flat_map(|step| match &step.action {
            Action::Spawn(plans) => plans.as_slice(),
            _ => &[],
        });
        self.tasks.iter().chain(spawned)
    }

    /// When the timeline's last action happens.
    pub fn last_action(&self) -> Duration {
        self.timeline.last().map_or(Duration::ZERO, |s| s.after)
    }

    /// Spawns the scenario's tasks and returns the names the timeline can refer to.
    pub fn spawn_tasks(&self, sup: &Supervisor) -> Roster {
        let mut roster = Roster {
            ids: self
                .targets()
                .map(|name| (name.to_string(), Vec::new()))
                .collect(),
        };
        roster.spawn(sup, &self.tasks);
        roster
    }

    /// The names the timeline stops or aborts: tasks, copies, or `count` groups.
    fn targets(&self) -> impl Iterator<Item = &str> {
        self.timeline.iter().flat_map(|step| match &step.action {
            Action::Stop(names) | Action::Abort(names) => names.as_slice(),
            _ => &[],
        })
        .map(String::as_str)
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

/// The ids of the tasks the timeline names (a group's: all its copies'); only those, so that a
/// million tasks no timeline names cost no map of a million names.
#[derive(Debug, Default)]
pub struct Roster {
    ids: HashMap<String, Vec<TaskId>>,
}

impl Roster {
    fn spawn(&mut self, sup: &Supervisor, plans: &[TaskPlan]) {
        sup.holding_events(|| self.spawn_held(sup, plans));
    }

    fn spawn_held(&mut self, sup: &Supervisor, plans: &[TaskPlan]) {
        for plan in plans {
            let mut template = plan.kind.task(&plan.name, &plan.params);
            if let Some(site) = &plan.site {
                template = template.spawned_at(site.clone());
            }
            if plan.copies == 1 {
                self.spawned(&plan.name, None, sup.spawn(template));
                continue;
            }
            for name in plan.names() {
                // A name is kept past its spawn only when the timeline names some task.
                let noted = (!self.ids.is_empty()).then(|| name.clone());
                let def = template
                    .copy_named(name)
                    .expect("the kinds' code is shared by their copies");
                let id = sup.spawn(def);
                if let Some(name) = noted {
                    self.spawned(&name, Some(&plan.name), id);
                }
            }
        }
    }

    /// Notes a spawned task's id where the timeline names it, by its name or its group's. A
    /// spawn is refused only once shutdown has begun, when spawning no more is right.
    fn spawned(
        &mut self,
        name: &str,
        group: Option<&str>,
        id: Result<TaskId, crate::supervisor::SupervisorError>,
    ) {
        let Ok(id) = id else { return };
        for key in std::iter::once(name).chain(group) {
            if let Some(ids) = self.ids.get_mut(key) {
                ids.push(id);
            }
        }
    }

    fn ids<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = TaskId> + 'a {
        names
            .iter()
            .filter_map(|n| self.ids.get(n))
            .flatten()
            .copied()
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

/// A task with `count`: where it was given, how many copies, how many children each.
struct Group {
    span: Range<usize>,
    count: u32,
    children: u32,
}

/// What a name is of the group that owns it.
enum Owned {
    Copy,
    /// A child of this copy.
    Child(String),
}

/// The bases of the groups whose names `name` could be: before its last `-` (a copy), or
/// before the last `-` ahead of its `.child` (a copy's child).
fn candidate_bases(name: &str) -> impl Iterator<Item = &str> {
    let copy = name.rsplit_once('-').map(|(base, _)| base);
    let child = name
        .rsplit_once(".child")
        .and_then(|(copy, _)| copy.rsplit_once('-'))
        .map(|(base, _)| base);
    copy.into_iter().chain(child.filter(|c| Some(*c) != copy))
}

impl Group {
    /// Whether `name` is one of the names of this group of `base`: `base-I`, or
    /// `base-I.childK`, for I and K in range (numbers as the copies are named, without zeros
    /// in front).
    fn owns(&self, base: &str, name: &str) -> Option<Owned> {
        let number = |digits: &str, most: u32| {
            let n: u32 = digits.parse().ok()?;
            (!digits.starts_with(['0', '+']) && (1..=most).contains(&n)).then_some(())
        };
        let rest = name.strip_prefix(base)?.strip_prefix('-')?;
        match rest.split_once(".child") {
            None => number(rest, self.count).map(|()| Owned::Copy),
            Some((copy, child)) => {
                number(copy, self.count)?;
                number(child, self.children)?;
                Some(Owned::Child(format!("{base}-{copy}")))
            }
        }
    }
}

impl Origin {
    fn copy(base: &str) -> Self {
        Origin::Copy {
            base: base.to_string(),
        }
    }

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
    /// A `count` task's base name to where it was given, its copies and their children each:
    /// its copies' names are derived when asked, never stored.
    groups: HashMap<String, Group>,
    /// The names of `names` under each base a later group could give them (`a` for `a-1` and
    /// `a-1.child2`), so that a group finds a name it repeats without reading every name.
    by_base: HashMap<String, Vec<String>>,
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
            tasks.push(self.plan(name, task)?);
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

    /// The task's plan, its names (and its copies') checked and counted against the limit.
    fn plan(&mut self, name: Spanned<String>, task: RawTask) -> Result<TaskPlan, ScenarioError> {
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
        let params = params_of(&task);
        let children = children_of(task.kind, &params);
        if count == 1 {
            self.claim(&base, &name_span, Origin::Task)?;
            for i in 1..=children {
                let child = Origin::Child {
                    parent: base.clone(),
                };
                self.claim(&format!("{base}.child{i}"), &name_span, child)?;
            }
        } else {
            self.claim_group(&base, &name_span, count, children)?;
        }
        let line = line_of(self.text, name_span.start);
        let site = SpawnSite::text(format!("{}:{line}", escape(self.source)));
        Ok(TaskPlan {
            name: base,
            copies: count,
            kind: task.kind,
            params,
            site: Some(site),
        })
    }

    /// Takes the names of `count` copies of `base` (`base-1` …) and their children, refusing
    /// a name taken before: without making them, since a group can hold a million.
    fn claim_group(
        &mut self,
        base: &str,
        span: &Range<usize>,
        count: u32,
        children: u32,
    ) -> Result<(), ScenarioError> {
        // The suffixes are ASCII digits and dots: if the longest name passes, every one does.
        let longest = match children {
            0 => format!("{base}-{count}"),
            k => format!("{base}-{count}.child{k}"),
        };
        if let Err(reason) = check_name(&longest) {
            let origin = match children {
                0 => Origin::Copy {
                    base: base.to_string(),
                },
                _ => Origin::Child {
                    parent: format!("{base}-{count}"),
                },
            };
            return Err(self.error(
                span.clone(),
                format!(
                    "the name `{longest}`{} is refused: {reason}",
                    origin.describe()
                ),
            ));
        }
        let group = Group {
            span: span.clone(),
            count,
            children,
        };
        // Another group of the same base gives the same names; a name given before may be
        // one of this group's.
        let clash = match self.groups.get(base) {
            Some(first) => Some((format!("{base}-1"), first.span.clone(), Origin::copy(base))),
            None => self
                .by_base
                .get(base)
                .into_iter()
                .flatten()
                .find(|name| group.owns(base, name).is_some())
                .map(|name| {
                    let (first, first_origin) = &self.names[name];
                    (name.clone(), first.clone(), first_origin.clone())
                }),
        };
        if let Some((name, first, first_origin)) = clash {
            let origin = match group.owns(base, &name) {
                Some(Owned::Child(parent)) => Origin::Child { parent },
                _ => Origin::copy(base),
            };
            return Err(self.duplicate(&name, span, &origin, &first, &first_origin));
        }
        self.groups.insert(base.to_string(), group);
        Ok(())
    }

    /// The group whose copy (or copy's child) `name` is, if any.
    fn group_of(&self, name: &str) -> Option<(&str, &Group, Owned)> {
        candidate_bases(name).find_map(|base| {
            let (base, group) = self.groups.get_key_value(base)?;
            Some((base.as_str(), group, group.owns(base, name)?))
        })
    }

    fn duplicate(
        &self,
        name: &str,
        span: &Range<usize>,
        origin: &Origin,
        first: &Range<usize>,
        first_origin: &Origin,
    ) -> ScenarioError {
        let first_line = line_of(self.text, first.start);
        self.error(
            span.clone(),
            format!(
                "duplicate task name `{name}`{} (first defined on line {first_line}{}); task names must be unique",
                origin.describe(),
                first_origin.describe()
            ),
        )
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
            return Err(self.duplicate(name, span, &origin, first, first_origin));
        }
        if let Some((base, group, owned)) = self.group_of(name) {
            let first_origin = match owned {
                Owned::Copy => Origin::copy(base),
                Owned::Child(parent) => Origin::Child { parent },
            };
            return Err(self.duplicate(name, span, &origin, &group.span, &first_origin));
        }
        for base in candidate_bases(name) {
            self.by_base
                .entry(base.to_string())
                .or_default()
                .push(name.to_string());
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
            Action::Spawn(vec![self.plan(name, task)?])
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
            .is_some_and(|(_, origin)| origin.is_target())
            || self.groups.contains_key(name)
            || matches!(self.group_of(name), Some((_, _, Owned::Copy)));
        if !named {
            let mut known: Vec<_> = self
                .names
                .iter()
                .filter(|(_, (_, origin))| origin.is_target())
                .map(|(name, _)| name.as_str())
                .chain(self.groups.keys().map(String::as_str))
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
            .find(|n| !self.names.contains_key(n) && self.group_of(n).is_none())
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
        let names: Vec<_> = s.tasks.iter().flat_map(TaskPlan::names).collect();
        assert_eq!(names, ["w-1", "w-2", "w-3"]);
        assert_eq!(s.task_count(), 5, "three copies and two spawned by the timeline");
        assert_eq!(s.tasks[0].params.interval, Duration::from_secs(90));
        let afters: Vec<_> = s.timeline.iter().map(|t| t.after.as_secs()).collect();
        assert_eq!(afters, [1, 2, 3, 4], "sorted by time");
        assert_eq!(
            s.timeline[1].action,
            Action::Abort(vec!["w".into()]),
            "a group is named as written: its copies are found when it is played"
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
    fn copies_clash_with_names_given_before_and_after_them() {
        let refused = |text: &str| Scenario::parse(text, "inline").unwrap_err().message;
        let task = |name: &str, extra: &str| {
            format!("[[task]]\nname = \"{name}\"\nkind = \"select\"\n{extra}\n")
        };
        // A copy's name given after the group, and before it.
        let after = task("w", "count = 1000") + &task("w-999", "");
        assert!(
            refused(&after).contains("duplicate task name `w-999` (first defined on line 2, as a copy of `w`)"),
            "{}",
            refused(&after)
        );
        let before = task("w-7", "") + &task("w", "count = 1000");
        assert!(
            refused(&before).contains("duplicate task name `w-7`, as a copy of `w` (first defined on line 2)"),
            "{}",
            refused(&before)
        );
        // A copy's child, both ways; two groups of one base.
        let child = task("p-3.child2", "")
            + "[[task]]\nname = \"p\"\nkind = \"parent\"\ncount = 5\nchildren = 2\n";
        assert!(
            refused(&child).contains("`p-3.child2`, as a child of `p-3`"),
            "{}",
            refused(&child)
        );
        let twice = task("w", "count = 2") + &task("w", "count = 3");
        assert!(refused(&twice).contains("duplicate task name `w-1`"));
        // Not copies: out of range, a zero in front, another base.
        let fine = task("w", "count = 10")
            + &task("w-11", "")
            + &task("w-01", "")
            + &task("w-1-1", "")
            + &task("x", "count = 2")
            + "[[at]]\nafter = \"1s\"\nstop = \"w-10\"\n[[at]]\nafter = \"2s\"\nabort = \"x\"\n";
        let s = Scenario::parse(&fine, "inline").unwrap();
        assert_eq!(s.task_count(), 15);
        let targets: Vec<_> = s.targets().collect();
        assert_eq!(targets, ["w-10", "x"]);
        // A timeline may not name a copy past the count, nor a child.
        let past = task("w", "count = 10") + "[[at]]\nafter = \"1s\"\nstop = \"w-11\"\n";
        assert!(refused(&past).contains("names `w-11`, which is no task"));
    }

    #[test]
    fn a_million_copies_are_checked_without_being_made() {
        let s = Scenario::parse(
            "[[task]]\nname = \"m\"\nkind = \"select\"\ncount = 1000000\n",
            "inline",
        )
        .unwrap();
        assert_eq!(s.tasks.len(), 1);
        assert_eq!(s.task_count(), 1_000_000);
        assert_eq!(s.tasks[0].names().last().as_deref(), Some("m-1000000"));
    }

    #[test]
    fn parents_count_their_children_against_the_limit() {
        let e = Scenario::parse(
            "[[task]]\nname = \"p\"\nkind = \"parent\"\ncount = 1000000\nchildren = 10\n",
            "inline",
        )
        .unwrap_err();
        assert_eq!(e.location, Some((4, 9)));
        assert!(e.message.contains("11000000 tasks"), "{}", e.message);
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
