//! `_secrets`: write-only values that destinations send.

use crate::error::{Error, Result, SqlState};
use crate::postgres::spi;

pub fn set_secret(name: &str, value: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", "a secret needs a name"));
    }
    spi::execute(
        "INSERT INTO reverse_etl._secrets (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        &[name.into(), value.into()],
    )?;
    Ok(())
}

/// A secret's value, read as the extension's owner (no one else can read
/// the secrets table). Only destinations call this, to send it.
pub fn secret_value(field: &str, name: &str) -> Result<String> {
    let owner = super::extension_owner()?;
    crate::postgres::as_role(owner, || {
        spi::one::<String>(
            "SELECT value FROM reverse_etl._secrets WHERE name = $1",
            &[name.into()],
        )
    })?
    .ok_or_else(|| {
        Error::new(
            SqlState::UndefinedObject,
            format!("{field}: secret \"{name}\" does not exist"),
        )
        .with_hint(format!(
            "SELECT reverse_etl.set_secret('{}', '…')",
            name.replace('\'', "''")
        ))
    })
}
