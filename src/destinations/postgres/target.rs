//! Resolving a sync's target table and checking it against the model and
//! the writer's privileges, at create_sync and when each run starts. The
//! checks are the same for a table in this database and one on another
//! server; what differs is where the catalog is read (`TableCatalog`).

use super::statements::{Assignment, ListTarget, PostgresTarget, TargetColumn};
use crate::config::{DeleteBehavior, MappingSource, SyncConfig, SyncMode};
use crate::error::{Error, Result, SqlState};
use crate::plan::{ModelColumn, RunPlan};
use crate::postgres::{assignment_coerces, in_subtransaction, spi, Identity};
use crate::sql::{list, quote_ident, quote_literal};
use pgrx::prelude::*;
use serde_json::Value;

/// A column of the target table as its catalog describes it.
#[derive(Debug, Clone)]
pub struct CatalogColumn {
    pub column: TargetColumn,
    pub attnum: i16,
    pub type_oid: u32,
}

/// The target table's columns: name, type oid, the type with its modifier
/// and without it (as `postgres::format_type` spells it: `character` and
/// `bit` alone would mean (1)), attnum. The same text on every server.
pub const COLUMNS_SQL: &str =
    "SELECT attname::text, atttypid, pg_catalog.format_type(atttypid, atttypmod), \
     CASE atttypid WHEN 1042 THEN 'pg_catalog.bpchar' WHEN 1560 THEN 'pg_catalog.\"bit\"' \
                   WHEN 1014 THEN 'pg_catalog.bpchar[]' WHEN 1561 THEN 'pg_catalog.\"bit\"[]' \
                   ELSE pg_catalog.format_type(atttypid, -1) END, \
     attnum FROM pg_catalog.pg_attribute \
     WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum";

/// A table by name (`$1`, as to_regclass reads it): oid and its
/// schema-qualified name, if it is an ordinary or partitioned table.
pub const TABLE_SQL: &str = "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind IN ('r', 'p')";

/// Whether table `$1` has a plain unique index on exactly the columns `$2`.
pub const UNIQUE_INDEX_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1 \
     AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
     AND i.indnkeyatts = pg_catalog.cardinality($2::int2[]) AND i.indkey::int2[] @> $2::int2[])";

/// Where a target table's catalog is read: this database (as the sync's
/// owner) or another server (as the connection's user).
pub trait TableCatalog {
    /// The table `object` names: its oid and schema-qualified name; None if
    /// there is no such table. Err if the name itself is wrong.
    fn table(&mut self, object: &str) -> Result<Option<(u32, String)>>;
    fn columns(&mut self, table: u32) -> Result<Vec<CatalogColumn>>;
    fn has_unique_index(&mut self, table: u32, attnums: &[i16]) -> Result<bool>;
    /// None if the writing role holds `privilege` on the table, else that
    /// role's name.
    fn lacks_privilege(&mut self, table: u32, privilege: &str) -> Result<Option<String>>;
    /// Whether `expression` (a literal cast to the column's base type) can
    /// be assigned to the column; the error says why not.
    fn check_assignment(&mut self, expression: &str, column: &TargetColumn) -> Result<()>;
    /// The expression over ops row `o` (field `field` holds the model's
    /// `source` column) that fills `to` by assignment; Err if the model's
    /// values can never be written to it.
    fn value_of(
        &mut self,
        path: &str,
        field: &str,
        source: &ModelColumn,
        to: &CatalogColumn,
    ) -> Result<String>;
}

/// This database's catalog, read as the sync's owner.
pub struct LocalCatalog<'a> {
    pub identity: &'a Identity,
}

impl TableCatalog for LocalCatalog<'_> {
    fn table(&mut self, object: &str) -> Result<Option<(u32, String)>> {
        let found = in_subtransaction(|| {
            spi::rows(TABLE_SQL, &[object.into()], |row| {
                Ok((
                    spi::get::<pg_sys::Oid>(row, 1)?,
                    spi::get::<String>(row, 2)?,
                ))
            })
        })?;
        Ok(found
            .into_iter()
            .next()
            .map(|(oid, name)| (oid.to_u32(), name)))
    }

    fn columns(&mut self, table: u32) -> Result<Vec<CatalogColumn>> {
        spi::rows(COLUMNS_SQL, &[pg_sys::Oid::from(table).into()], |row| {
            let type_oid: pg_sys::Oid = spi::get(row, 2)?;
            Ok(CatalogColumn {
                column: TargetColumn {
                    name: spi::get(row, 1)?,
                    type_sql: spi::get(row, 3)?,
                    base_type_sql: spi::get(row, 4)?,
                },
                attnum: spi::get(row, 5)?,
                type_oid: type_oid.to_u32(),
            })
        })
    }

    fn has_unique_index(&mut self, table: u32, attnums: &[i16]) -> Result<bool> {
        Ok(spi::one::<bool>(
            UNIQUE_INDEX_SQL,
            &[pg_sys::Oid::from(table).into(), attnums.to_vec().into()],
        )? == Some(true))
    }

    fn lacks_privilege(&mut self, table: u32, privilege: &str) -> Result<Option<String>> {
        let owner = self.identity.role;
        let granted: Option<bool> = spi::one(
            "SELECT has_table_privilege($1, $2, $3)",
            &[
                owner.into(),
                pg_sys::Oid::from(table).into(),
                privilege.into(),
            ],
        )?;
        if granted == Some(true) {
            return Ok(None);
        }
        let role: Option<String> = spi::one("SELECT $1::regrole::text", &[owner.into()])?;
        Ok(Some(role.unwrap_or_default()))
    }

    fn check_assignment(&mut self, expression: &str, column: &TargetColumn) -> Result<()> {
        let check = format!(
            "DO {}",
            quote_literal(&format!(
                "DECLARE v {}; BEGIN v := {expression}; END",
                column.type_sql
            ))
        );
        in_subtransaction(|| spi::execute(&check, &[])).map(|_| ())
    }

    fn value_of(
        &mut self,
        path: &str,
        field: &str,
        source: &ModelColumn,
        to: &CatalogColumn,
    ) -> Result<String> {
        check_cast(path, &source.type_sql, &to.column)?;
        Ok(assigned(
            field,
            source,
            &to.column,
            pg_sys::Oid::from(to.type_oid),
        ))
    }
}

/// Resolve and check a sync's target table in this database.
pub fn resolve(
    config: &SyncConfig,
    model_columns: &[ModelColumn],
    identity: &Identity,
) -> Result<PostgresTarget> {
    resolve_in(
        &mut LocalCatalog { identity },
        config,
        model_columns,
        identity,
    )
}

/// Resolve and check a sync's target against the database: the table, its
/// columns and unique index, the model's columns, types and privileges.
/// `model_columns` are all the model's result columns.
pub fn resolve_in(
    catalog: &mut dyn TableCatalog,
    config: &SyncConfig,
    model_columns: &[ModelColumn],
    identity: &Identity,
) -> Result<PostgresTarget> {
    let object = config.destination_string("object")?.ok_or_else(|| {
        Error::invalid(
            "object",
            "is required: the target table, e.g. \"crm.contacts\"",
        )
    })?;
    let (table_oid, table) = catalog
        .table(&object)
        .map_err(|e| Error::invalid("object", format!("\"{object}\": {}", e.message)))?
        .ok_or_else(|| {
            Error::new(
                SqlState::UndefinedTable,
                format!("object: table \"{object}\" does not exist"),
            )
        })?;
    let target_columns = catalog.columns(table_oid)?;
    let target_column = |field: &str, name: &str| -> Result<CatalogColumn> {
        target_columns
            .iter()
            .find(|c| c.column.name == name)
            .cloned()
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
    let match_target = target_column("match.to", &record_match.to)?;
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
        let list_column = target_column("list_field", &field)?;
        if !catalog.has_unique_index(table_oid, &[list_column.attnum, match_target.attnum])? {
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
        Some(ListTarget {
            column: list_column.column,
            name,
        })
    } else {
        None
    };
    if !is_list && !catalog.has_unique_index(table_oid, &[match_target.attnum])? {
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
    let match_value = catalog.value_of(
        "match",
        &field_of(&record_match.from)?,
        match_source,
        &match_target,
    )?;

    let mut assignments = Vec::new();
    for (index, mapping) in config.mappings.iter().enumerate() {
        let path = format!("mappings[{index}]");
        let target = target_column(&format!("{path}.to"), &mapping.to)?;
        let value = match &mapping.source {
            MappingSource::Column(name) => {
                let source = model_column(&format!("{path}.from"), name)?;
                catalog.value_of(&path, &field_of(name)?, source, &target)?
            }
            MappingSource::Static(value) => {
                let literal = match value {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => quote_literal(s),
                    other => quote_literal(&other.to_string()),
                };
                // Checked as an assignment would be done: a value that does
                // not fit the column (too long, out of range) is refused.
                let expression = format!("{literal}::{}", target.column.base_type_sql);
                catalog
                    .check_assignment(&expression, &target.column)
                    .map_err(|e| {
                        Error::new(
                            e.state,
                            format!(
                                "{path}.static: {value} is not a valid {}: {}",
                                target.column.type_sql, e.message
                            ),
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
        assignments.push(Assignment {
            column: target.column,
            value,
        });
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
        if let Some(role) = catalog.lacks_privilege(table_oid, privilege)? {
            return Err(Error::new(
                SqlState::InsufficientPrivilege,
                format!(
                    "object: role {role} lacks {privilege} on table {table}, which mode \"{}\" with delete behavior \"{}\" needs",
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
        match_column: match_target.column,
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
