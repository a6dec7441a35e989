//! Describing a model: its result columns and their types, found by running
//! the query with LIMIT 0 as the role that will run it.

use crate::error::{Error, Result, SqlState};
use crate::plan::ModelColumn;
use crate::postgres::{format_type, in_subtransaction, type_has_extended_hash, Identity};
use pgrx::prelude::*;

/// A model query as stored: trailing semicolons and whitespace removed.
pub fn normalize_query(query: &str) -> Result<String> {
    let trimmed = query.trim().trim_end_matches(';').trim_end();
    if trimmed.is_empty() {
        return Err(Error::invalid("query", "the model query is empty"));
    }
    Ok(trimmed.to_string())
}

/// A model is one query: text holding several statements (`SELECT 1;
/// DELETE …`) is refused, since the model's text is run inside the run's
/// own statement. Text that does not parse is left for `describe` to report.
pub fn check_single_statement(query: &str) -> Result<()> {
    let Ok(text) = std::ffi::CString::new(query) else {
        return Err(Error::invalid("query", "must not contain a NUL character"));
    };
    // SAFETY: raw_parser only parses (no catalog access); a syntax error is
    // raised as an ERROR, which catch turns into a value.
    let statements = crate::postgres::in_subtransaction(|| {
        crate::postgres::catch(|| unsafe {
            let list = pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            if list.is_null() {
                0
            } else {
                (*list).length
            }
        })
    });
    match statements {
        Ok(count) if count > 1 => Err(Error::new(
            SqlState::SyntaxError,
            format!("query: a model is one query; this text holds {count} statements"),
        )),
        _ => Ok(()),
    }
}

/// The result columns of `query` run as `role` with `search_path`.
/// Errors (syntax, missing table, no privilege) come back with their own
/// SQLSTATE and "query:" in front of the message.
pub fn describe(query: &str, search_path: &str, role: pg_sys::Oid) -> Result<Vec<ModelColumn>> {
    let sql = format!("SELECT * FROM ({query}\n) AS m LIMIT 0");
    let columns = in_subtransaction(|| {
        let owner = Identity {
            role,
            search_path: search_path.to_string(),
        };
        owner.run(|| {
            Spi::connect(|client| {
                client.select(&sql, None, &[])?;
                // SAFETY: SPI_tuptable is the result of the select just run.
                let tupdesc = unsafe {
                    pgrx::PgTupleDesc::from_pg_unchecked((*pg_sys::SPI_tuptable).tupdesc)
                };
                Ok(tupdesc
                    .iter()
                    .filter(|a| !a.is_dropped())
                    .map(|a| (a.name().to_string(), a.type_oid().value(), a.type_mod()))
                    .collect::<Vec<_>>())
            })
        })
    })
    .map_err(|e| e.context("query"))?;

    let mut seen = std::collections::HashSet::new();
    let mut described = Vec::with_capacity(columns.len());
    for (name, type_oid, type_mod) in columns {
        // A domain's values are kept as its base type's: they passed its
        // checks in the model already, and the extension's own statements
        // on the run's work tables must never evaluate a user's check.
        let mut base_mod = type_mod;
        // SAFETY: a syscache lookup.
        let type_oid = unsafe { pg_sys::getBaseTypeAndTypmod(type_oid, &mut base_mod) };
        // Named here, on the caller's pinned search_path: schema-qualified
        // unless pg_catalog's.
        let type_sql = format_type(type_oid, base_mod);
        if !seen.insert(name.clone()) {
            return Err(Error::new(
                SqlState::Other(*b"42701"),
                format!("query: the model returns two columns named \"{name}\"; give one an alias"),
            ));
        }
        // SAFETY: get_typtype reads the syscache.
        if unsafe { pg_sys::get_typtype(type_oid) } as u8 == b'p' {
            return Err(Error::new(
                SqlState::Other(*b"42804"),
                format!("query: column \"{name}\" has pseudo-type {type_sql}; cast it to a concrete type"),
            ));
        }
        described.push(ModelColumn {
            hashable: type_has_extended_hash(type_oid),
            name,
            type_sql,
            type_oid: type_oid.to_u32(),
        });
    }
    if described.is_empty() {
        return Err(Error::invalid("query", "the model returns no columns"));
    }
    Ok(described)
}

/// Every primary key column must be a result column, named once.
pub fn check_primary_key(primary_key: &[String], columns: &[ModelColumn]) -> Result<()> {
    if primary_key.is_empty() {
        return Err(Error::invalid(
            "primary_key",
            "needs at least one column that identifies a row",
        ));
    }
    for (index, key) in primary_key.iter().enumerate() {
        if primary_key[..index].contains(key) {
            return Err(Error::invalid(
                &format!("primary_key[{index}]"),
                format!("column \"{key}\" is listed twice"),
            ));
        }
        if !columns.iter().any(|c| &c.name == key) {
            return Err(Error::new(
                SqlState::UndefinedColumn,
                format!("primary_key[{index}]: column \"{key}\" is not in the model's result"),
            )
            .with_hint(format!(
                "the model returns: {}",
                columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<ModelColumn> {
        names
            .iter()
            .map(|n| ModelColumn {
                name: n.to_string(),
                type_sql: "int".into(),
                hashable: true,
                type_oid: 0,
            })
            .collect()
    }

    #[test]
    fn queries_are_trimmed() {
        assert_eq!(normalize_query(" SELECT 1 ;; \n").unwrap(), "SELECT 1");
        assert!(normalize_query(" ; ").is_err());
    }

    #[test]
    fn primary_key_columns_must_exist_once() {
        let cols = columns(&["id", "email"]);
        assert!(check_primary_key(&["id".into()], &cols).is_ok());
        let error = check_primary_key(&["idd".into()], &cols).unwrap_err();
        assert_eq!(error.state.code(), "42703");
        assert!(error.message.starts_with("primary_key[0]: column \"idd\""));
        assert!(check_primary_key(&["id".into(), "id".into()], &cols).is_err());
        assert!(check_primary_key(&[], &cols).is_err());
    }
}
