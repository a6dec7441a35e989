//! Schedules: the workers that run syncs and sequences when they are due
//! (the due times themselves are `config::due`, pure arithmetic), when the
//! library is preloaded: one `launcher` for the server, a `scheduler` per
//! database while something is due there, coordinated through the
//! shared-memory `registry`.

pub mod launcher;
pub mod registry;
pub mod scheduler;
