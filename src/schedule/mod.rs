//! Schedules: when syncs and sequences are due (`next`, pure arithmetic),
//! and the workers that act on them when the library is preloaded: one
//! `launcher` for the server, a `scheduler` per database while something is
//! due there, coordinated through the shared-memory `registry`.

pub mod launcher;
pub mod next;
pub mod registry;
pub mod scheduler;
