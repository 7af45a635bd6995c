//! Scenario files: which tasks to spawn and a timeline of actions, in TOML.
//!
//! A scenario is checked completely — syntax, fields, kinds, durations, names, the timeline's
//! targets, the task limit — before anything is spawned. A bad one yields one [`ScenarioError`]
//! naming the file, the line and column, and what was expected.

use std::collections::HashMap;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::kinds::{Kind, Params};
use crate::supervisor::{Supervisor, TaskId};

/// The most tasks one scenario may spawn, children of `parent` tasks included.
pub const MAX_TASKS: u64 = 100_000;

/// The scenario used when none is given: one task of each kind.
pub const DEFAULT_SCENARIO: &str = include_str!("../assets/default.toml");

/// A checked scenario, ready to play.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Where it came from, for messages.
    pub source: String,
    pub description: Option<String>,
    pub grace: Option<Duration>,
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
    pub fn describe(&self) -> String {
        match self {
            Action::Stop(names) => format!("stop {}", names.join(", ")),
            Action::Abort(names) => format!("abort {}", names.join(", ")),
            Action::StopAll => "stop all".into(),
            Action::AbortAll => "abort all".into(),
            Action::Spawn(plans) => {
                let names: Vec<_> = plans.iter().map(|p| p.name.as_str()).collect();
                format!("spawn {}", names.join(", "))
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.source, self.message)?,
            None => write!(f, "{}: {}", self.source, self.message)?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

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
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let source_line = text[line_start..line_end].trim_end_matches('\r');
        let width = text[start..span_end.min(line_end).max(start)]
            .chars()
            .count()
            .max(1);
        let gutter = line.to_string().len();
        let excerpt = format!(
            "{:gutter$} |\n{line} | {source_line}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(column - 1),
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

/// The nearest char boundary at or after `at`, within the text.
fn char_boundary(text: &str, at: usize) -> usize {
    (at.min(text.len())..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len())
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let source = path.display().to_string();
        if path.is_dir() {
            return Err(ScenarioError::whole_file(
                &source,
                "is a directory, expected a scenario file (.toml)",
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            ScenarioError::whole_file(&source, format!("cannot read the scenario: {why}"))
        })?;
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
            let message = e.message().trim_end().to_string();
            match e.span() {
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
            if let Ok(id) = sup.spawn(plan.kind.task(&plan.name, &plan.params)) {
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
    children: Option<u32>,
    journal: Option<bool>,
    flush_on_drop: Option<bool>,
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

/// A duration written as people write them: "250ms", "2s", "1m 30s". Never zero.
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
                let d = humantime::parse_duration(s).map_err(|e| {
                    E::custom(format!(
                        "invalid duration \"{s}\" ({e}); write durations like \"250ms\", \"2s\" or \"1m 30s\""
                    ))
                })?;
                if d.is_zero() {
                    return Err(E::custom(format!(
                        "the duration \"{s}\" is zero; it must be longer than that"
                    )));
                }
                Ok(HumanDuration(d))
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

struct Checker<'a> {
    source: &'a str,
    text: &'a str,
    /// Every task name, with the span that defined it.
    names: HashMap<String, Range<usize>>,
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
        Ok(Scenario {
            source: self.source.to_string(),
            description: raw.description,
            grace: raw.grace.map(|g| g.into_inner().0),
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
        if base.trim().is_empty() {
            return Err(self.error(name_span, "a task name cannot be empty"));
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
        for n in &names {
            if let Some(first) = self.names.get(n) {
                let first_line = self.text[..first.start].matches('\n').count() + 1;
                return Err(self.error(
                    name_span,
                    format!("duplicate task name `{n}` (first defined on line {first_line}); task names must be unique"),
                ));
            }
            self.names.insert(n.clone(), name_span.clone());
        }
        if count > 1 {
            self.groups.insert(base, names.clone());
        }
        let params = params_of(&task);
        Ok(names
            .into_iter()
            .map(|name| TaskPlan {
                name,
                kind: task.kind,
                params: params.clone(),
            })
            .collect())
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
        if !self.names.contains_key(name) && !self.groups.contains_key(name) {
            let mut known: Vec<_> = self.names.keys().map(String::as_str).collect();
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
        children: task.children.unwrap_or(d.children),
        journal: task.journal.unwrap_or(d.journal),
        flush_on_drop: task.flush_on_drop.unwrap_or(d.flush_on_drop),
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
    fn a_task_needs_a_name() {
        let e = Scenario::parse("[[task]]\nkind = \"select\"\n", "inline").unwrap_err();
        assert_eq!(e.location, Some((1, 1)));
        assert!(e.message.contains("no `name`"));
    }
}
