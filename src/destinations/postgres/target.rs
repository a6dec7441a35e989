//! Resolving a sync's target table and checking it against the model and
//! the owner's privileges, at create_sync and when each run starts.

use super::statements::{Assignment, ListTarget, PostgresTarget, TargetColumn};
use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode};
use crate::error::{Error, Result, SqlState};
use crate::plan::{ModelColumn, RunPlan};
use crate::postgres::{assignment_coerces, format_type, in_subtransaction, spi, Identity};
use crate::sql::{list, quote_ident, quote_literal};
use pgrx::prelude::*;
use serde_json::Value;

/// Resolve and check a sync's target against the database: the table, its
/// columns and unique index, the model's columns, types and privileges.
/// `model_columns` are all the model's result columns.
pub fn resolve(
    config: &SyncConfig,
    model_columns: &[ModelColumn],
    identity: &Identity,
) -> Result<PostgresTarget> {
    let owner = identity.role;
    let object = config.destination_string("object")?.ok_or_else(|| {
        Error::invalid(
            "object",
            "is required: the target table, e.g. \"crm.contacts\"",
        )
    })?;
    let table_oid = in_subtransaction(|| {
        spi::one::<pg_sys::Oid>(
            "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
            &[object.as_str().into()],
        )
    })
    .map_err(|e| Error::invalid("object", format!("\"{object}\": {}", e.message)))?
    .ok_or_else(|| {
        Error::new(
            SqlState::UndefinedTable,
            format!("object: table \"{object}\" does not exist"),
        )
    })?;
    // Always schema-qualified: statements and the stored config do not
    // depend on a search_path.
    let table: String = spi::one(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
        &[table_oid.into()],
    )?
    .unwrap_or_else(|| object.clone());

    let target_columns: Vec<(TargetColumn, i16, pg_sys::Oid)> = spi::rows(
        "SELECT attname::text, atttypid, atttypmod, attnum FROM pg_attribute \
         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        &[table_oid.into()],
        |row| {
            let type_oid: pg_sys::Oid = spi::get(row, 2)?;
            let type_mod: i32 = spi::get(row, 3)?;
            Ok((
                TargetColumn {
                    name: spi::get(row, 1)?,
                    type_sql: format_type(type_oid, type_mod),
                    base_type_sql: format_type(type_oid, -1),
                },
                spi::get(row, 4)?,
                type_oid,
            ))
        },
    )?;
    let target_type = |name: &str| {
        target_columns
            .iter()
            .find(|(c, _, _)| c.name == name)
            .map(|(_, _, oid)| *oid)
            .unwrap_or(pg_sys::Oid::INVALID)
    };
    let target_column = |field: &str, name: &str| -> Result<(TargetColumn, i16)> {
        target_columns
            .iter()
            .find(|(c, _, _)| c.name == name)
            .map(|(c, attnum, _)| (c.clone(), *attnum))
            .ok_or_else(|| {
                Error::new(
                    SqlState::UndefinedColumn,
                    format!("{field}: table {table} has no column \"{name}\""),
                )
            })
    };
    let model_column = |field: &str, name: &str| -> Result<&ModelColumn> {
        model_columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                Error::new(
                    SqlState::UndefinedColumn,
                    format!("{field}: column \"{name}\" is not in the model's result"),
                )
                .with_hint(format!(
                    "the model returns: {}",
                    list(model_columns.iter().map(|c| c.name.as_str()))
                ))
            })
    };

    let record_match = config.record_match.as_ref().ok_or_else(|| {
        Error::invalid(
            "match",
            "is required for the postgres destination: {\"from\": <model column>, \"to\": <column with a unique index>}",
        )
    })?;
    let (match_column, match_attnum) = target_column("match.to", &record_match.to)?;
    let is_list = config.sync_type == crate::config::SyncType::List;
    for key in ["list", "list_field"] {
        if !is_list && config.destination_keys.contains_key(key) {
            return Err(Error::invalid(
                key,
                "is only for list syncs (type \"list\")",
            ));
        }
    }
    let list = if is_list {
        let name = config.destination_string("list")?.ok_or_else(|| {
            Error::invalid(
                "list",
                "is required for list syncs: the name of the list, e.g. \"vip\"",
            )
        })?;
        let field = config
            .destination_string("list_field")?
            .unwrap_or_else(|| "list".into());
        let (column, attnum) = target_column("list_field", &field)?;
        let unique: Option<bool> = spi::one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 2 \
             AND i.indkey::int2[] @> ARRAY[$2, $3]::int2[])",
            &[table_oid.into(), attnum.into(), match_attnum.into()],
        )?;
        if unique != Some(true) {
            return Err(Error::new(
                SqlState::InvalidColumnReference,
                format!(
                    "match.to: {table} has no unique index on ({field}, {}); list membership needs one",
                    record_match.to
                ),
            )
            .with_hint(format!(
                "CREATE UNIQUE INDEX ON {table} ({}, {})",
                quote_ident(&field),
                quote_ident(&record_match.to)
            )));
        }
        Some(ListTarget { column, name })
    } else {
        None
    };
    let unique: Option<bool> = if is_list {
        Some(true)
    } else {
        spi::one(
            "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique \
             AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = $2)",
            &[table_oid.into(), match_attnum.into()],
        )?
    };
    if unique != Some(true) {
        return Err(Error::new(
            SqlState::InvalidColumnReference,
            format!(
                "match.to: column \"{}\" of {table} has no unique index; record matching needs one",
                record_match.to
            ),
        )
        .with_hint(format!(
            "CREATE UNIQUE INDEX ON {table} ({})",
            quote_ident(&record_match.to)
        )));
    }
    let source_columns = config.source_columns();
    let field_of = |name: &str| {
        source_columns
            .iter()
            .position(|c| c == name)
            .map(RunPlan::field)
            .ok_or_else(|| {
                Error::new(
                    SqlState::InternalError,
                    format!("mapped column {name} is missing from the sync's source columns"),
                )
            })
    };
    let match_source = model_column("match.from", &record_match.from)?;
    check_cast("match", &match_source.type_sql, &match_column)?;
    let match_value = assigned(
        &field_of(&record_match.from)?,
        match_source,
        &match_column,
        target_type(&record_match.to),
    );

    let mut assignments = Vec::new();
    for (index, mapping) in config.mappings.iter().enumerate() {
        let path = format!("mappings[{index}]");
        let (column, _) = target_column(&format!("{path}.to"), &mapping.to)?;
        let value = match &mapping.source {
            MappingSource::Column(name) => {
                let source = model_column(&format!("{path}.from"), name)?;
                check_cast(&path, &source.type_sql, &column)?;
                assigned(&field_of(name)?, source, &column, target_type(&mapping.to))
            }
            MappingSource::Static(value) => {
                let literal = match value {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => quote_literal(s),
                    other => quote_literal(&other.to_string()),
                };
                // Checked as an assignment would be done: a value that does
                // not fit the column (too long, out of range) is refused.
                let expression = format!("{literal}::{}", column.base_type_sql);
                let check = format!(
                    "DO {}",
                    quote_literal(&format!(
                        "DECLARE v {}; BEGIN v := {expression}; END",
                        column.type_sql
                    ))
                );
                in_subtransaction(|| spi::execute(&check, &[]))
                    .map_err(|e| {
                        Error::new(
                            e.state,
                            format!("{path}.static: {value} is not a valid {}: {}", column.type_sql, e.message),
                        )
                    })?;
                expression
            }
            MappingSource::Template(_) => {
                return Err(Error::new(
                    SqlState::FeatureNotSupported,
                    format!("{path}.template: template mappings are not supported by the postgres destination"),
                )
                .with_hint("compute the value in the model's query and map the column"))
            }
        };
        assignments.push(Assignment { column, value });
    }

    let mut privileges = vec![];
    match config.mode {
        SyncMode::Update => privileges.extend(["SELECT", "UPDATE"]),
        SyncMode::Insert | SyncMode::Add => privileges.extend(["SELECT", "INSERT"]),
        SyncMode::Remove => privileges.extend(["SELECT", "DELETE"]),
        _ => privileges.extend(["SELECT", "INSERT", "UPDATE"]),
    }
    match config.delete_behavior {
        DeleteBehavior::Delete => privileges.push("DELETE"),
        DeleteBehavior::Clear => privileges.push("UPDATE"),
        DeleteBehavior::Nothing => {}
    }
    for privilege in privileges {
        let granted: Option<bool> = spi::one(
            "SELECT has_table_privilege($1, $2, $3)",
            &[owner.into(), table_oid.into(), privilege.into()],
        )?;
        if granted != Some(true) {
            let role: Option<String> = spi::one("SELECT $1::regrole::text", &[owner.into()])?;
            return Err(Error::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "object: role {} lacks {privilege} on table {table}, which mode \"{}\" with delete behavior \"{}\" needs",
                    role.unwrap_or_default(),
                    config.mode,
                    config.delete_behavior
                ),
            ));
        }
    }

    Ok(PostgresTarget {
        table,
        mode: config.mode,
        delete_behavior: config.delete_behavior,
        match_field: field_of(&record_match.from)?,
        match_value,
        match_column,
        assignments,
        identity: identity.clone(),
        list,
    })
}

/// How ops column `field` (of the model's `source` column) fills column
/// `to`: as it is where an assignment converts it (what a plain INSERT
/// does, so a value that does not fit is an error, never cut), else cast
/// to the column's type without its modifier and then assigned.
fn assigned(field: &str, source: &ModelColumn, to: &TargetColumn, to_type: pg_sys::Oid) -> String {
    let from_type = pg_sys::Oid::from(source.type_oid);
    if from_type != pg_sys::Oid::INVALID && assignment_coerces(from_type, to_type) {
        format!("o.{field}")
    } else {
        format!("(o.{field})::{}", to.base_type_sql)
    }
}

/// A model column's values must convert to the target column's type.
fn check_cast(field: &str, from_type: &str, to: &TargetColumn) -> Result<()> {
    in_subtransaction(|| {
        spi::execute(
            &format!("SELECT (NULL::{from_type})::{}", to.base_type_sql),
            &[],
        )
    })
    .map(|_| ())
    .map_err(|e| {
        Error::new(
            e.state,
            format!(
                "{field}: the model's {from_type} values cannot be written to column \"{}\" ({}): {}",
                to.name, to.type_sql, e.message
            ),
        )
    })
}
