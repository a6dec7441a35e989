//! pg_reverse_etl: reverse ETL inside PostgreSQL.
//!
//! Layout, from the bottom up: `error`, `sql`, `config` and `plan` (pure:
//! configuration, and what a run works on), `postgres` (server internals),
//! `catalog` (all catalog SQL), `destinations` (one module per kind behind
//! one registry), `engine` (run lifecycle), `schedule`, `api` (SQL-facing).

pub mod alerts;
pub mod api;
pub mod catalog;
pub mod config;
pub mod destinations;
pub mod engine;
pub mod error;
pub mod gucs;
pub mod plan;
pub mod postgres;
pub mod schedule;
pub mod sql;

use pgrx::prelude::*;

::pgrx::pg_module_magic!();

pgrx::extension_sql_file!("../sql/bootstrap.sql", bootstrap);
pgrx::extension_sql_file!("../sql/views.sql", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::register();
    // SAFETY: read in the process loading the library.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        schedule::registry::init();
        engine::pool::init();
        schedule::launcher::register();
    }
}
