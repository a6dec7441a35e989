//! The SQL interface. Each function only parses its arguments, calls the
//! catalog or engine through `call`, and turns an `Err` into a PostgreSQL
//! ERROR; a failed call changes nothing because the ERROR rolls its
//! statement back.
//!
//! `call` is what a SECURITY DEFINER function with a pinned search_path
//! would be, with the caller kept: the catalog is read and written as the
//! extension's owner, and every object a function touches is first checked
//! to be the caller's (`catalog::owned`). What touches the caller's own
//! objects (describing a query, resolving a table) runs as the object's
//! owner again, in a security-restricted operation.
//!
//! Syncs, models, destinations and sequences are taken by id (bigint) or
//! name (text): each such function exists twice, once per argument type.
//! The Rust names of these functions are C symbols of released install
//! scripts: never rename one.

mod alerts;
mod destinations;
mod logs;
mod models;
mod runs;
mod schedule;
mod secrets;
mod sequences;
mod syncs;

use crate::catalog::{self, ObjectRef};
use crate::error::Result;
use crate::postgres::{as_extension_owner, current_user, OrRaise};
use pgrx::prelude::*;

/// Who called: the current user (after SET ROLE, inside SECURITY DEFINER
/// functions: the user whose privileges the call has) and its search_path.
pub struct Caller {
    pub role: pg_sys::Oid,
    pub search_path: String,
}

/// Run an API function's body for its caller, as the extension's owner.
fn call<T>(body: impl FnOnce(&Caller) -> Result<T>) -> T {
    (|| -> Result<T> {
        let caller = Caller {
            role: current_user(),
            search_path: crate::postgres::spi::one::<String>(
                "SELECT pg_catalog.current_setting('search_path')",
                &[],
            )?
            .unwrap_or_default(),
        };
        let owner = catalog::extension_owner()?;
        as_extension_owner(owner, || body(&caller))
    })()
    .or_raise()
}

fn sync_ref(name: &str) -> ObjectRef {
    ObjectRef::Name(name.into())
}
