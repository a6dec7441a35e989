//! pg_reverse_etl: reverse ETL inside PostgreSQL.
//!
//! Layout: `config` (pure parsing/validation), `engine` (run lifecycle),
//! `destinations` (one module per kind), `catalog` (all catalog SQL),
//! `api` (SQL-facing functions), `postgres` (server internals).

pub mod api;
pub mod catalog;
pub mod config;
pub mod destinations;
pub mod engine;
pub mod error;
pub mod gucs;
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
        schedule::launcher::register();
    }
}
