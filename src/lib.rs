pub mod config;
pub mod error;
pub mod sql;
pub mod engine;
