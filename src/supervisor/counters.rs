//! Counts a task's code keeps of its own work — frames received, rows written, retries — shown
//! beside taskmon's own figures: in the detail pane, the JSON, across `attach` and in metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many named counters a task shows; more are counted by the code that holds them, not shown.
pub const MAX_COUNTERS: usize = 32;

/// A task's named counters, in the order they were first asked for.
#[derive(Default)]
pub(crate) struct Counters(Mutex<Vec<(Arc<str>, Arc<AtomicU64>)>>);

impl Counters {
    /// The counter called `name`, made at zero the first time; the same one in every run.
    pub fn get(&self, name: &str) -> TaskCounter {
        let mut counters = self.0.lock().expect("counters");
        if let Some((_, value)) = counters.iter().find(|(n, _)| &**n == name) {
            return TaskCounter(value.clone());
        }
        let value = Arc::new(AtomicU64::new(0));
        if counters.len() < MAX_COUNTERS {
            counters.push((name.into(), value.clone()));
        }
        TaskCounter(value)
    }

    /// Every counter's name and value.
    pub fn read(&self) -> Vec<(Arc<str>, u64)> {
        let counters = self.0.lock().expect("counters");
        counters
            .iter()
            .map(|(name, value)| (name.clone(), value.load(Ordering::Relaxed)))
            .collect()
    }
}

/// A named count of a task's own, from [`TaskContext::counter`](super::TaskContext::counter).
/// Cloning it is cheap and every clone counts into the same figure; `add` is one relaxed atomic
/// add, so it belongs in the hottest loop.
#[derive(Clone, Debug)]
pub struct TaskCounter(Arc<AtomicU64>);

impl TaskCounter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the count, for a figure the code keeps itself. Metrics export counters, which only
    /// grow: a lower value shows here and in the JSON, and the exported total waits until the
    /// count passes what it had reached.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
