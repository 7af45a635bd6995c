//! The table's columns: what the dashboard shows and what it sorts by, here so that the
//! board (which may run in a served program without the dashboard) can sort by them too.

use strum::EnumIter;

/// The table's columns, in the order they are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter)]
#[cfg_attr(feature = "serve", derive(serde::Serialize, serde::Deserialize))]
pub enum Column {
    Id,
    Name,
    Kind,
    State,
    Warnings,
    Ticks,
    Restarts,
    Rate,
    Age,
    Latency,
    Cleanup,
    Persisted,
    Lost,
    Polls,
    Busy,
    MaxPoll,
    Location,
    Note,
}
