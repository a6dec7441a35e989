//! Secrets: write-only values that destinations reference by name.

use super::call;
use crate::catalog;
use crate::engine::validate;
use pgrx::prelude::*;

/// Write-only: the value can be used by the caller's destinations but never
/// read back.
#[pg_extern]
fn set_secret(name: &str, value: &str) {
    call(|caller| catalog::set_secret(caller.role, name, value))
}

/// Delete one of the caller's secrets (refused while a destination uses it).
#[pg_extern]
fn delete_secret(name: &str) {
    call(|caller| {
        let users = validate::destinations_using_secret(caller.role, name)?;
        catalog::delete_secret(caller.role, name, &users)
    })
}
