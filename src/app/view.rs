//! Which tasks the table shows, and in which order: the filter, the sort and the tree. Built from
//! what never changes about a task (read once) and a few per-task numbers, never from full
//! snapshots of every task on every frame.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::layout::Column;
use crate::supervisor::{Label, State, Supervisor, TaskId, TaskSnapshot};

/// What never changes about a task: read once, when it first appears.
#[derive(Default)]
pub struct Catalog {
    pub names: Vec<Arc<str>>,
    /// The names in lower case, for a filter that ignores case.
    lower_names: Vec<Box<str>>,
    pub kinds: Vec<Label>,
    pub parents: Vec<Option<TaskId>>,
}

impl Catalog {
    /// Takes in the tasks spawned since the last call. Returns whether there were any.
    pub fn update(&mut self, sup: &Supervisor) -> bool {
        let known = self.names.len() as TaskId;
        let total = sup.len() as TaskId;
        if total == known {
            return false;
        }
        let ids: Vec<TaskId> = (known + 1..=total).collect();
        for s in sup.snapshots(&ids) {
            self.lower_names.push(s.name.to_lowercase().into());
            self.names.push(s.name);
            self.kinds.push(s.kind);
            self.parents.push(s.parent);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
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
/// kind containing K, `state:S` a state starting with S, any other term the name, the kind or
/// the state. Case is ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub text: String,
}

enum Term {
    Kind(String),
    State(String),
    Any(String),
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    fn terms(lower: &str) -> impl Iterator<Item = Term> + '_ {
        lower.split_whitespace().map(|t| {
            if let Some(k) = t.strip_prefix("kind:") {
                Term::Kind(k.to_string())
            } else if let Some(s) = t.strip_prefix("state:") {
                Term::State(s.to_string())
            } else {
                Term::Any(t.to_string())
            }
        })
    }

    /// Whether a task passes. Tasks the catalog does not know yet pass.
    pub fn matcher<'a>(
        &self,
        catalog: &'a Catalog,
        states: &'a [State],
    ) -> impl Fn(TaskId) -> bool + 'a {
        let lower = self.text.to_lowercase();
        let terms: Vec<Term> = Self::terms(&lower).collect();
        move |id| {
            let i = Catalog::index(id);
            let (Some(name), Some(kind)) = (catalog.lower_names.get(i), catalog.kinds.get(i))
            else {
                return true;
            };
            let state = states.get(i).map_or("", |s| s.as_str());
            terms.iter().all(|term| match term {
                Term::Kind(k) => kind.contains(k.as_str()),
                Term::State(s) => state.starts_with(s.as_str()),
                Term::Any(t) => {
                    name.contains(t.as_str()) || kind.contains(t.as_str()) || state.contains(t.as_str())
                }
            })
        }
    }

    /// The ids that pass, of `candidates`.
    pub fn apply(&self, catalog: &Catalog, states: &[State], candidates: Vec<TaskId>) -> Vec<TaskId> {
        if self.is_empty() {
            return candidates;
        }
        let passes = self.matcher(catalog, states);
        candidates.into_iter().filter(|&id| passes(id)).collect()
    }
}

/// Which column the table is sorted by, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
            Column::Id | Column::Name | Column::Kind | Column::State | Column::Ticks | Column::Rate
        )
    }
}

/// What the sort reads of every task, beyond the catalog.
pub struct Numbers<'a> {
    pub states: &'a [State],
    pub ticks: &'a [u64],
    pub rates: &'a HashMap<TaskId, u64>,
    /// Every task's snapshot, by id - 1, when the sorted column needs one.
    pub snapshots: &'a [TaskSnapshot],
}

impl Sort {
    /// Orders `ids`, ties by id.
    pub fn apply(&self, catalog: &Catalog, numbers: &Numbers, ids: &mut [TaskId]) {
        let snapshot = |id: TaskId| numbers.snapshots.get(Catalog::index(id));
        let number = |id: TaskId| -> u128 {
            let i = Catalog::index(id);
            match self.column {
                Column::Ticks => u128::from(numbers.ticks.get(i).copied().unwrap_or(0)),
                Column::Rate => u128::from(numbers.rates.get(&id).copied().unwrap_or(0)),
                Column::State => numbers.states.get(i).map_or(0, |s| *s as u128),
                Column::Restarts => snapshot(id).map_or(0, |s| u128::from(s.restarts)),
                Column::Age => snapshot(id).map_or(0, |s| s.age.as_nanos()),
                Column::Latency => snapshot(id)
                    .and_then(|s| s.stop_latency())
                    .map_or(0, |d| d.as_nanos()),
                Column::Cleanup => snapshot(id).map_or(0, |s| s.cleanup as u128),
                Column::Persisted => snapshot(id).map_or(0, |s| u128::from(s.ledger.counts().persisted)),
                Column::Lost => snapshot(id).map_or(0, |s| u128::from(s.ledger.counts().lost)),
                _ => 0,
            }
        };
        let compare = |a: &TaskId, b: &TaskId| -> Ordering {
            let by = match self.column {
                Column::Id => Ordering::Equal,
                Column::Name => catalog.name(*a).cmp(catalog.name(*b)),
                Column::Kind => (*catalog.kinds[Catalog::index(*a)]).cmp(&*catalog.kinds[Catalog::index(*b)]),
                Column::Note => {
                    let note = |id| snapshot(id).and_then(|s| s.note.clone());
                    note(*a).cmp(&note(*b))
                }
                _ => number(*a).cmp(&number(*b)),
            };
            let by = by.then(a.cmp(b));
            if self.descending { by.reverse() } else { by }
        };
        ids.sort_by(compare);
    }
}

/// One row of the table: a task, and where it stands in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
