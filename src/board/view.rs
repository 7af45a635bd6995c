//! Which tasks the table shows, and in which order: the filter, the sort and the tree. Built from
//! what never changes about a task (read once) and a few per-task numbers, never from full
//! snapshots of every task on every frame.

use std::cell::{Ref, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Column;
use crate::supervisor::{Label, State, TaskId, TaskSnapshot, Warning};

/// What never changes about a task: read once, when it first appears.
#[derive(Default)]
pub struct Catalog {
    pub names: Vec<Arc<str>>,
    /// The names in lower case, for a filter that ignores case: one after another in one
    /// string (`lower_ends` marks where each ends), so a filter's first pass over a million of
    /// them reads memory in order instead of chasing a million pointers.
    lower_names: String,
    lower_ends: Vec<usize>,
    pub kinds: Vec<Label>,
    pub parents: Vec<Option<TaskId>>,
}

impl Catalog {
    /// Takes in the tasks spawned since the last call. Returns whether there were any.
    pub fn update(&mut self, sup: &impl super::Tasks) -> bool {
        let known = self.names.len() as TaskId;
        let total = sup.count() as TaskId;
        if total == known {
            return false;
        }
        for (name, kind, parent) in sup.identities(known + 1) {
            self.lower_names.push_str(&name.to_lowercase());
            self.lower_ends.push(self.lower_names.len());
            self.names.push(name);
            self.kinds.push(kind);
            self.parents.push(parent);
        }
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Every name in lower case, in id order.
    fn lower_names(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.lower_ends.iter().copied());
        starts
            .zip(&self.lower_ends)
            .map(|(start, &end)| &self.lower_names[start..end])
    }

    fn index(id: TaskId) -> usize {
        id as usize - 1
    }

    pub fn name(&self, id: TaskId) -> &str {
        &self.names[Self::index(id)]
    }

    pub fn parent(&self, id: TaskId) -> Option<TaskId> {
        self.parents[Self::index(id)]
    }
}

/// The find filter: terms separated by spaces, each of which must match. `kind:K` matches a
/// kind containing K, `state:S` a state starting with S, `warn:W` a task with a warning
/// starting with W (`warn:` alone: any warning), any other term the name, the kind or the
/// state. Case is ignored.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub text: String,
    /// What names and kinds say, which never changes: worked out once per text.
    memo: RefCell<Memo>,
}

/// Per term, whether each task's name or kind matches it, for `text` over the first `known`
/// tasks.
#[derive(Clone, Debug, Default)]
struct Memo {
    text: String,
    known: usize,
    terms: Vec<(Term, Vec<bool>)>,
}

#[derive(Clone, Debug)]
enum Term {
    Kind(String),
    State(String),
    Warn(String),
    Any(String),
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Whether what it shows can change while nobody types: it reads states.
    pub fn is_live(&self) -> bool {
        let lower = self.text.to_lowercase();
        Self::terms(&lower).any(|t| !matches!(t, Term::Kind(_)))
    }

    fn terms(lower: &str) -> impl Iterator<Item = Term> + '_ {
        lower.split_whitespace().map(|t| {
            if let Some(k) = t.strip_prefix("kind:") {
                Term::Kind(k.to_string())
            } else if let Some(s) = t.strip_prefix("state:") {
                Term::State(s.to_string())
            } else if let Some(w) = t.strip_prefix("warn:") {
                Term::Warn(w.to_string())
            } else {
                Term::Any(t.to_string())
            }
        })
    }

    /// Whether it reads the tasks' warnings (which take a snapshot of every task).
    pub fn reads_warnings(&self) -> bool {
        let lower = self.text.to_lowercase();
        Self::terms(&lower).any(|t| matches!(t, Term::Warn(_)))
    }

    /// The memo for the current text and catalog, worked out again when either changed.
    fn memo(&self, catalog: &Catalog) -> Ref<'_, Memo> {
        let stale = {
            let memo = self.memo.borrow();
            memo.text != self.text || memo.known != catalog.len()
        };
        if stale {
            let lower = self.text.to_lowercase();
            let terms = Self::terms(&lower)
                .map(|term| {
                    // A searcher built once per term: `str::contains` builds one per name.
                    let finds = |t: &str| {
                        let finder = memchr::memmem::Finder::new(t.as_bytes()).into_owned();
                        move |text: &str| finder.find(text.as_bytes()).is_some()
                    };
                    let statics = match &term {
                        Term::State(_) | Term::Warn(_) => Vec::new(),
                        Term::Kind(k) => {
                            let found = finds(k);
                            catalog.kinds.iter().map(|kind| found(kind)).collect()
                        }
                        Term::Any(t) => {
                            let found = finds(t);
                            catalog
                                .lower_names()
                                .zip(&catalog.kinds)
                                .map(|(name, kind)| found(name) || found(kind))
                                .collect()
                        }
                    };
                    (term, statics)
                })
                .collect();
            *self.memo.borrow_mut() = Memo {
                text: self.text.clone(),
                known: catalog.len(),
                terms,
            };
        }
        self.memo.borrow()
    }

    /// Whether a task passes. Tasks the catalog does not know yet pass.
    pub fn matcher<'a>(
        &'a self,
        catalog: &'a Catalog,
        states: &'a [State],
        warnings: &'a [Vec<Warning>],
    ) -> impl Fn(TaskId) -> bool + 'a {
        let memo = self.memo(catalog);
        // What each term says of each state, worked out once rather than once a task.
        let by_state: Vec<[bool; State::COUNT]> = memo
            .terms
            .iter()
            .map(|(term, _)| {
                let mut says = [false; State::COUNT];
                for state in State::all() {
                    let name = state.as_str();
                    says[state as usize] = match term {
                        Term::State(s) => name.starts_with(s.as_str()),
                        Term::Any(t) => name.contains(t.as_str()),
                        Term::Kind(_) | Term::Warn(_) => false,
                    };
                }
                says
            })
            .collect();
        move |id| {
            let i = Catalog::index(id);
            if i >= memo.known {
                return true;
            }
            let state = states.get(i).copied().unwrap_or(State::Running) as usize;
            memo.terms
                .iter()
                .zip(&by_state)
                .all(|((term, statics), says)| match term {
                    Term::Kind(_) => statics[i],
                    Term::State(_) => says[state],
                    Term::Warn(w) => warnings.get(i).is_some_and(|ws| {
                        ws.iter().any(|x| x.as_str().starts_with(w.as_str()))
                    }),
                    Term::Any(_) => statics[i] || says[state],
                })
        }
    }

    /// Keeps the ids that pass, of `candidates`.
    pub fn retain(
        &self,
        catalog: &Catalog,
        states: &[State],
        warnings: &[Vec<Warning>],
        candidates: &mut Vec<TaskId>,
    ) {
        if self.is_empty() {
            return;
        }
        let passes = self.matcher(catalog, states, warnings);
        candidates.retain(|&id| passes(id));
    }
}

/// Which column the table is sorted by, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serve", serde(deny_unknown_fields))]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            column: Column::Id,
            descending: false,
        }
    }
}

impl Sort {
    /// Whether sorting needs more than what never changes (and so is redone now and then).
    pub fn is_live(&self) -> bool {
        !matches!(self.column, Column::Id | Column::Name | Column::Kind)
    }

    /// Whether it needs a snapshot of every task, which is taken at most once a second.
    pub fn needs_snapshots(&self) -> bool {
        !matches!(
            self.column,
            Column::Id
                | Column::Name
                | Column::Kind
                | Column::State
                | Column::Ticks
                | Column::Rate
                | Column::Busy
        )
    }
}

/// What the sort reads of every task, beyond the catalog.
pub struct Numbers<'a> {
    pub states: &'a [State],
    pub ticks: &'a [u64],
    /// Every task's rate, by id - 1.
    pub rates: &'a [super::Rate],
    /// Every task's snapshot, by id - 1, when the sorted column needs one.
    pub snapshots: &'a [TaskSnapshot],
}

impl Sort {
    /// Orders `ids`, ties by id. Numeric columns read each number once and sort the pairs (in
    /// `keyed`, a buffer kept by the caller), which keeps a re-sort of a million tasks within a
    /// frame.
    pub fn apply(
        &self,
        catalog: &Catalog,
        numbers: &Numbers,
        ids: &mut [TaskId],
        keyed: &mut Vec<(u64, TaskId)>,
    ) {
        let snapshot = |id: TaskId| numbers.snapshots.get(Catalog::index(id));
        // Durations in nanoseconds fit a u64 for 584 years; 16-byte keys sort fast.
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let number = |id: TaskId| -> u64 {
            let i = Catalog::index(id);
            match self.column {
                Column::Ticks => numbers.ticks.get(i).copied().unwrap_or(0),
                Column::Rate => numbers.rates.get(i).map_or(0, |r| r.per_second),
                Column::State => numbers.states.get(i).map_or(0, |s| *s as u64),
                Column::Restarts => snapshot(id).map_or(0, |s| u64::from(s.restarts)),
                Column::Age => snapshot(id).map_or(0, |s| nanos(s.age)),
                Column::Latency => snapshot(id)
                    .and_then(|s| s.stop_latency())
                    .map_or(0, nanos),
                Column::Cleanup => snapshot(id).map_or(0, |s| s.cleanup as u64),
                Column::Persisted => snapshot(id).map_or(0, |s| s.ledger.counts().persisted),
                Column::Lost => snapshot(id).map_or(0, |s| s.ledger.counts().lost),
                Column::Warnings => snapshot(id).map_or(0, |s| s.warnings().len() as u64),
                Column::Polls => snapshot(id).map_or(0, |s| s.polls.polls),
                Column::Busy => numbers.rates.get(i).map_or(0, |r| r.busy_per_second),
                Column::MaxPoll => snapshot(id).map_or(0, |s| nanos(s.polls.max_poll)),
                _ => 0,
            }
        };
        match self.column {
            Column::Id => {}
            Column::Name => ids.sort_by(|a, b| catalog.name(*a).cmp(catalog.name(*b))),
            Column::Kind => ids.sort_by(|a, b| {
                let kind = |id: TaskId| &*catalog.kinds[Catalog::index(id)];
                kind(*a).cmp(kind(*b))
            }),
            Column::Note => {
                let note = |id| snapshot(id).and_then(|s| s.note.clone());
                ids.sort_by_cached_key(|&id| note(id));
            }
            Column::Location => {
                let location = |id| snapshot(id).and_then(|s| s.location.as_ref().map(|l| l.to_string()));
                ids.sort_by_cached_key(|&id| location(id));
            }
            _ => {
                keyed.clear();
                keyed.extend(ids.iter().map(|&id| (number(id), id)));
                keyed.sort_unstable();
                for (slot, &(_, id)) in ids.iter_mut().zip(keyed.iter()) {
                    *slot = id;
                }
            }
        }
        // The ids come in id order and the sorts above keep ties so: turned around, ties go
        // from the highest id, as every other row does.
        if self.descending {
            ids.reverse();
        }
    }
}

/// One row of the table: a task, and where it stands in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub struct ViewRow {
    pub id: TaskId,
    /// 0 at the top; children one deeper than their parent.
    pub depth: u16,
    /// The last of its parent's children shown.
    pub last: bool,
    /// Descendants hidden by folding it.
    pub folded: usize,
}

impl ViewRow {
    pub fn flat(id: TaskId) -> Self {
        Self {
            id,
            depth: 0,
            last: false,
            folded: 0,
        }
    }
}

/// Lays `ordered` out as a tree: each task under its parent (when its parent is shown),
/// siblings in the given order, folded parents' descendants left out and counted.
pub fn tree(catalog: &Catalog, ordered: &[TaskId], folded: &HashSet<TaskId>) -> Vec<ViewRow> {
    let shown: HashSet<TaskId> = ordered.iter().copied().collect();
    let mut children: HashMap<TaskId, Vec<TaskId>> = HashMap::new();
    let mut roots = Vec::new();
    for &id in ordered {
        match catalog.parent(id).filter(|p| shown.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(id),
            None => roots.push(id),
        }
    }
    fn count(children: &HashMap<TaskId, Vec<TaskId>>, id: TaskId) -> usize {
        children
            .get(&id)
            .map_or(0, |c| c.iter().map(|&k| 1 + count(children, k)).sum())
    }
    let mut rows = Vec::with_capacity(ordered.len());
    // Depth-first, without recursion: a stack of (id, depth, last).
    let mut stack: Vec<(TaskId, u16, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &id)| (id, 0, i == 0))
        .collect();
    while let Some((id, depth, last)) = stack.pop() {
        let is_folded = folded.contains(&id);
        rows.push(ViewRow {
            id,
            depth,
            last,
            folded: if is_folded { count(&children, id) } else { 0 },
        });
        if let (false, Some(kids)) = (is_folded, children.get(&id)) {
            for (i, &kid) in kids.iter().rev().enumerate() {
                stack.push((kid, depth + 1, i == 0));
            }
        }
    }
    rows
}
