//! `_secrets`: write-only values that destinations send, one namespace per
//! owner: a destination uses only its owner's secrets, and one role's
//! set_secret never touches another's secret of the same name.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;
use pgrx::prelude::*;

pub fn set_secret(owner: pg_sys::Oid, name: &str, value: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", "a secret needs a name"));
    }
    spi::execute(
        "INSERT INTO reverse_etl._secrets (owner, name, value) VALUES ($1, $2, $3) \
         ON CONFLICT (owner, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        &[owner.into(), name.into(), value.into()],
    )?;
    Ok(())
}

/// Delete one of `owner`'s secrets; `users` names the destinations that
/// still use it (then nothing is deleted).
pub fn delete_secret(owner: pg_sys::Oid, name: &str, users: &[String]) -> Result<()> {
    if !users.is_empty() {
        return Err(Error::new(
            SqlState::Other(*b"2BP01"),
            format!(
                "name: secret \"{name}\" is used by destination {}",
                users.join(", ")
            ),
        )
        .with_hint("change or drop those destinations first"));
    }
    let deleted = spi::execute(
        "DELETE FROM reverse_etl._secrets WHERE owner = $1 AND name = $2",
        &[owner.into(), name.into()],
    )?;
    if deleted == 0 {
        return Err(not_found("name", name));
    }
    Ok(())
}

/// A secret's value (the extension's owner reads it: nobody else can).
/// Only destinations call this, to send it.
pub fn secret_value(owner: pg_sys::Oid, field: &str, name: &str) -> Result<String> {
    spi::one::<String>(
        "SELECT value FROM reverse_etl._secrets WHERE owner = $1 AND name = $2",
        &[owner.into(), name.into()],
    )?
    .ok_or_else(|| not_found(field, name))
}

fn not_found(field: &str, name: &str) -> Error {
    Error::new(
        SqlState::UndefinedObject,
        format!("{field}: secret \"{name}\" does not exist"),
    )
    .with_hint(format!(
        "the owner of the destination sets it: SELECT reverse_etl.set_secret('{}', '…')",
        name.replace('\'', "''")
    ))
}
