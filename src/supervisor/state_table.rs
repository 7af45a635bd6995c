//! Every task's state in one dense array, a byte a task: what a reader of all states at once
//! (the dashboard's counts, filter and sort over 100,000 tasks) reads instead of visiting every
//! task's record, a cache miss each. Kept by whoever changes a task's state.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use super::TaskId;
use super::state::State;

const CHUNK: usize = 4096;

struct Chunk([AtomicU8; CHUNK]);

/// The states of all tasks, by id - 1, in chunks that never move once made.
#[derive(Default)]
pub(crate) struct StateTable {
    chunks: RwLock<Vec<Arc<Chunk>>>,
}

/// One task's byte in the table: a pointer into a chunk, 8 bytes of every task's record where
/// the chunk's `Arc` and an index took 16 (and every spawn and end a write to the chunk's count,
/// a line all of the chunk's tasks share).
pub(crate) struct Slot(NonNull<AtomicU8>);

// SAFETY: a pointer to an atomic, which any thread may store to.
unsafe impl Send for Slot {}
unsafe impl Sync for Slot {}

impl StateTable {
    /// Task `id`'s byte, the table grown to hold it.
    ///
    /// # Safety
    ///
    /// The slot points into the table: the caller keeps the table alive as long as the slot.
    /// (Chunks never move and are dropped only with the table.)
    pub unsafe fn slot(&self, id: TaskId) -> Slot {
        let index = (id as usize).saturating_sub(1);
        let (chunk, index) = (index / CHUNK, index % CHUNK);
        let at = |chunk: &Arc<Chunk>| Slot(NonNull::from(&chunk.0[index]));
        // A new chunk every 4,096 spawns; the others only read.
        if let Some(made) = self.chunks.read().expect("state table").get(chunk) {
            return at(made);
        }
        let mut chunks = self.chunks.write().expect("state table");
        while chunks.len() <= chunk {
            chunks.push(Arc::new(Chunk(std::array::from_fn(|_| AtomicU8::new(0)))));
        }
        at(&chunks[chunk])
    }

    /// The states of tasks 1 to `n`, for tests.
    #[cfg(test)]
    pub fn read(&self, n: usize) -> Vec<State> {
        let mut states = Vec::new();
        self.read_into(n, &mut states);
        states
    }

    /// The states of tasks 1 to `n` into `states`; a task whose byte is not written yet reads as
    /// running. (A dashboard keeps its buffer from frame to frame: a fresh one of a million
    /// tasks costs its pages' faults every frame.)
    pub fn read_into(&self, n: usize, states: &mut Vec<State>) {
        let chunks = self.chunks.read().expect("state table");
        states.clear();
        states.extend(
            chunks
                .iter()
                .flat_map(|chunk| chunk.0.iter())
                .take(n)
                .map(|byte| {
                    State::from_code(byte.load(Ordering::Acquire)).unwrap_or(State::Running)
                }),
        );
    }
}

impl Slot {
    /// Where the byte is, for [`prefetch`](super::entry::prefetch) alone.
    pub fn address(&self) -> *const u8 {
        self.0.as_ptr().cast()
    }

    pub fn store(&self, state: State) {
        // SAFETY: the table outlives the slot (see `StateTable::slot`).
        unsafe { self.0.as_ref() }.store(state.code(), Ordering::Release);
    }
}
