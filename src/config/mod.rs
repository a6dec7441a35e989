//! Configuration documents (sync and destination), parsed and validated in
//! plain Rust. Checks that need the database (does the column exist?) live
//! with the destination kinds and the catalog.

pub mod alerts;
pub mod due;
pub mod json;
pub mod schedule;
pub mod sequence;
pub mod sync;

pub use schedule::Schedule;
pub use sync::{
    ChangelogLevel, DeleteBehavior, Logs, Mapping, MappingSource, Match, ReadModel, SyncConfig,
    SyncMode, SyncType,
};
