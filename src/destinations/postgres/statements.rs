//! The statements that deliver a batch to a table: one set-based statement
//! per batch, reading the run's ops table. Pure SQL text, unit-tested.

use crate::config::{DeleteBehavior, SyncMode};
use crate::plan::{Op, RunPlan};
use crate::postgres::Identity;
use crate::sql::{list, quote_ident, quote_literal};

/// Membership rows of one list: `column = value` identifies the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTarget {
    pub column: TargetColumn,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    /// The column's type with its modifier, e.g. `character varying(8)`.
    pub type_sql: String,
    /// The same type without its modifier. Values are cast to it (never to
    /// the modified type, which would cut a long text) and then assigned to
    /// the column, which applies the modifier as a plain INSERT does: a
    /// value that does not fit is an error for that row.
    pub base_type_sql: String,
}

/// A column of the target table and the SQL expression (over ops row `o`)
/// that fills it, by assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub column: TargetColumn,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct PostgresTarget {
    /// The table, as `regclass` prints it (quoted and qualified as needed).
    pub table: String,
    pub mode: SyncMode,
    pub delete_behavior: DeleteBehavior,
    pub match_column: TargetColumn,
    /// The ops/work column holding the model's match value.
    pub match_field: String,
    /// The expression that fills the match column (by assignment).
    pub match_value: String,
    pub assignments: Vec<Assignment>,
    /// Writes run as the sync's owner, with its search_path.
    pub identity: Identity,
    /// For list syncs: which list the rows are members of.
    pub list: Option<ListTarget>,
}

/// A statement delivering a batch; `$1`/`$2` bound the positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// The statement returns the positions it found a record for; the others
    /// had no record to act on.
    pub returns_found: bool,
}

const BATCH_FILTER: &str = "o.pos > $1 AND o.pos <= $2";

impl PostgresTarget {
    /// The model's match value, to compare with the match column.
    fn match_value_from_field(&self) -> String {
        format!(
            "(o.{})::{}",
            self.match_field, self.match_column.base_type_sql
        )
    }

    /// The match value the snapshot kept (for removed rows), to compare.
    fn match_value_from_key(&self) -> String {
        format!("(o.match_key)::{}", self.match_column.base_type_sql)
    }

    /// The statement for one kind of operation, or None when the sync's
    /// settings say nothing is done at the destination (delete behavior
    /// "nothing", or "clear" with no mapped fields).
    pub fn statement(&self, op: Op, ops_table: &str) -> Option<Statement> {
        if let Some(list) = &self.list {
            return self.list_statement(list, op, ops_table);
        }
        let table = &self.table;
        let match_column = quote_ident(&self.match_column.name);
        match op {
            Op::Added | Op::Changed if self.mode == SyncMode::Update => {
                let sets = if self.assignments.is_empty() {
                    format!("{match_column} = t.{match_column}")
                } else {
                    list(
                        self.assignments
                            .iter()
                            .map(|a| format!("{} = {}", quote_ident(&a.column.name), a.value)),
                    )
                };
                Some(Statement {
                    sql: format!(
                        "UPDATE {table} AS t SET {sets} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {} RETURNING o.pos",
                        self.match_value_from_field()
                    ),
                    returns_found: true,
                })
            }
            Op::Added | Op::Changed => {
                let columns = std::iter::once(match_column.clone())
                    .chain(self.assignments.iter().map(|a| quote_ident(&a.column.name)));
                let values = std::iter::once(self.match_value.clone())
                    .chain(self.assignments.iter().map(|a| a.value.clone()));
                let on_conflict = if self.mode == SyncMode::Insert || self.assignments.is_empty() {
                    "DO NOTHING".to_string()
                } else {
                    format!(
                        "DO UPDATE SET {}",
                        list(self.assignments.iter().map(|a| {
                            let c = quote_ident(&a.column.name);
                            format!("{c} = EXCLUDED.{c}")
                        }))
                    )
                };
                Some(Statement {
                    sql: format!(
                        "INSERT INTO {table} AS t ({}) SELECT {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} ORDER BY o.pos ON CONFLICT ({match_column}) {on_conflict}",
                        list(columns),
                        list(values)
                    ),
                    returns_found: false,
                })
            }
            Op::Removed => match self.delete_behavior {
                DeleteBehavior::Nothing => None,
                DeleteBehavior::Delete => Some(Statement {
                    sql: format!(
                        "DELETE FROM {table} AS t USING {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {}",
                        self.match_value_from_key()
                    ),
                    returns_found: false,
                }),
                DeleteBehavior::Clear if self.assignments.is_empty() => None,
                DeleteBehavior::Clear => Some(Statement {
                    sql: format!(
                        "UPDATE {table} AS t SET {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} AND t.{match_column} = {}",
                        list(
                            self.assignments
                                .iter()
                                .map(|a| format!("{} = NULL", quote_ident(&a.column.name)))
                        ),
                        self.match_value_from_key()
                    ),
                    returns_found: false,
                }),
            },
        }
    }

    /// A query of one jsonb for the ops row at position `$1`: the columns
    /// the statement for `op` writes (or matches on) and their values, as
    /// the changelog shows what was sent for a rejected row.
    pub fn payload_sql(&self, op: Op, ops_table: &str) -> String {
        let key = match op {
            Op::Removed => self.match_value_from_key(),
            _ => self.match_value.clone(),
        };
        let mut pairs = vec![(self.match_column.name.clone(), key)];
        if let Some(list) = &self.list {
            pairs.push((list.column.name.clone(), quote_literal(&list.name)));
        }
        if op != Op::Removed || self.delete_behavior == DeleteBehavior::Clear {
            pairs.extend(self.assignments.iter().map(|a| {
                let value = if op == Op::Removed {
                    "NULL".to_string()
                } else {
                    a.value.clone()
                };
                (a.column.name.clone(), value)
            }));
        }
        // jsonb_build_object takes at most 100 arguments: 50 pairs a call.
        let object = pairs
            .chunks(50)
            .map(|chunk| {
                format!(
                    "pg_catalog.jsonb_build_object({})",
                    list(
                        chunk
                            .iter()
                            .map(|(name, value)| format!("{}, {value}", quote_literal(name)))
                    )
                )
            })
            .collect::<Vec<_>>()
            .join(" || ");
        format!("SELECT {object} FROM {ops_table} AS o WHERE o.pos = $1")
    }

    /// List syncs: mode add inserts memberships for rows entering the model
    /// and (delete behavior "delete") removes them for rows leaving it; mode
    /// remove removes the memberships of rows entering the model.
    fn list_statement(&self, target: &ListTarget, op: Op, ops_table: &str) -> Option<Statement> {
        let table = &self.table;
        let match_column = quote_ident(&self.match_column.name);
        let list_column = quote_ident(&target.column.name);
        let list_value = format!(
            "{}::{}",
            quote_literal(&target.name),
            target.column.base_type_sql
        );
        let leave = |member: String| {
            Statement {
            sql: format!(
                "DELETE FROM {table} AS t USING {ops_table} AS o \
                 WHERE {BATCH_FILTER} AND t.{list_column} = {list_value} AND t.{match_column} = {member}"
            ),
            returns_found: false,
        }
        };
        match (self.mode, op) {
            (SyncMode::Add, Op::Added) => {
                let columns = [list_column.clone(), match_column.clone()]
                    .into_iter()
                    .chain(self.assignments.iter().map(|a| quote_ident(&a.column.name)));
                let values = [list_value.clone(), self.match_value.clone()]
                    .into_iter()
                    .chain(self.assignments.iter().map(|a| a.value.clone()));
                Some(Statement {
                    sql: format!(
                        "INSERT INTO {table} AS t ({}) SELECT {} FROM {ops_table} AS o \
                         WHERE {BATCH_FILTER} ORDER BY o.pos ON CONFLICT ({list_column}, {match_column}) DO NOTHING",
                        list(columns),
                        list(values)
                    ),
                    returns_found: false,
                })
            }
            (SyncMode::Add, Op::Removed) if self.delete_behavior == DeleteBehavior::Delete => {
                Some(leave(self.match_value_from_key()))
            }
            (SyncMode::Remove, Op::Added) => Some(leave(self.match_value_from_field())),
            _ => None,
        }
    }

    /// Clear and fill: every member of the list leaves it.
    pub fn clear_sql(&self) -> Option<String> {
        self.list.as_ref().map(|list| {
            format!(
                "DELETE FROM {} WHERE {} = {}::{}",
                self.table,
                quote_ident(&list.column.name),
                quote_literal(&list.name),
                list.column.base_type_sql
            )
        })
    }

    /// Mirror mode: records in the table whose match value the model no
    /// longer has (the engine leaves out those the snapshot removes anyway).
    pub fn mirror_removals_sql(&self, plan: &RunPlan) -> String {
        let match_column = quote_ident(&self.match_column.name);
        format!(
            "SELECT (t.{match_column})::text AS row_id, (t.{match_column})::text AS match_key \
             FROM {table} AS t \
             WHERE t.{match_column} IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM {work} AS w WHERE (w.{field})::{ty} = t.{match_column})",
            table = self.table,
            work = plan.work_table,
            field = self.match_field,
            ty = self.match_column.base_type_sql,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(mode: SyncMode, delete_behavior: DeleteBehavior) -> PostgresTarget {
        PostgresTarget {
            table: "crm.contacts".into(),
            mode,
            delete_behavior,
            match_column: TargetColumn {
                name: "email".into(),
                type_sql: "character varying(8)".into(),
                base_type_sql: "character varying".into(),
            },
            match_field: "c1".into(),
            match_value: "o.c1".into(),
            assignments: vec![Assignment {
                column: TargetColumn {
                    name: "plan".into(),
                    type_sql: "text".into(),
                    base_type_sql: "text".into(),
                },
                value: "o.c2".into(),
            }],
            identity: Identity {
                role: pgrx::pg_sys::Oid::INVALID,
                search_path: String::new(),
            },
            list: None,
        }
    }

    #[test]
    fn a_payload_is_what_the_statement_writes_for_the_row() {
        let upsert = target(SyncMode::Upsert, DeleteBehavior::Clear);
        assert_eq!(
            upsert.payload_sql(Op::Changed, "ops"),
            "SELECT pg_catalog.jsonb_build_object('email', o.c1, 'plan', o.c2) FROM ops AS o WHERE o.pos = $1"
        );
        assert_eq!(
            upsert.payload_sql(Op::Removed, "ops"),
            "SELECT pg_catalog.jsonb_build_object('email', (o.match_key)::character varying, 'plan', NULL) \
             FROM ops AS o WHERE o.pos = $1"
        );
        let delete = target(SyncMode::Upsert, DeleteBehavior::Delete);
        assert!(delete.payload_sql(Op::Removed, "ops").starts_with(
            "SELECT pg_catalog.jsonb_build_object('email', (o.match_key)::character varying) FROM"
        ));
    }

    #[test]
    fn lists_add_and_remove_memberships() {
        let mut add = target(SyncMode::Add, DeleteBehavior::Delete);
        add.list = Some(ListTarget {
            column: TargetColumn {
                name: "list".into(),
                type_sql: "character varying(3)".into(),
                base_type_sql: "character varying".into(),
            },
            name: "vip".into(),
        });
        let join = add.statement(Op::Added, "ops").unwrap();
        assert!(
            join.sql
                .contains("(\"list\", \"email\", \"plan\") SELECT 'vip'::character varying, o.c1"),
            "{}",
            join.sql
        );
        assert!(join
            .sql
            .ends_with("ON CONFLICT (\"list\", \"email\") DO NOTHING"));
        let leave = add.statement(Op::Removed, "ops").unwrap();
        assert!(
            leave
                .sql
                .ends_with("t.\"list\" = 'vip'::character varying AND t.\"email\" = (o.match_key)::character varying"),
            "{}",
            leave.sql
        );
        assert!(add.statement(Op::Changed, "ops").is_none());
        assert_eq!(
            add.clear_sql().unwrap(),
            "DELETE FROM crm.contacts WHERE \"list\" = 'vip'::character varying"
        );
        let mut remove = add.clone();
        remove.mode = SyncMode::Remove;
        assert!(remove
            .statement(Op::Added, "ops")
            .unwrap()
            .sql
            .ends_with("t.\"email\" = (o.c1)::character varying"));
        assert!(remove.statement(Op::Removed, "ops").is_none());
    }

    #[test]
    fn upsert_updates_on_conflict_and_insert_does_nothing() {
        let upsert = target(SyncMode::Upsert, DeleteBehavior::Nothing)
            .statement(Op::Added, "ops")
            .unwrap();
        assert!(
            upsert
                .sql
                .contains("INSERT INTO crm.contacts AS t (\"email\", \"plan\") SELECT o.c1, o.c2"),
            "{}",
            upsert.sql
        );
        assert!(upsert
            .sql
            .ends_with("ON CONFLICT (\"email\") DO UPDATE SET \"plan\" = EXCLUDED.\"plan\""));
        let insert = target(SyncMode::Insert, DeleteBehavior::Nothing)
            .statement(Op::Added, "ops")
            .unwrap();
        assert!(insert.sql.ends_with("DO NOTHING"));
    }

    #[test]
    fn update_mode_reports_which_records_it_found() {
        let update = target(SyncMode::Update, DeleteBehavior::Nothing)
            .statement(Op::Changed, "ops")
            .unwrap();
        assert!(update.returns_found);
        assert!(update
            .sql
            .starts_with("UPDATE crm.contacts AS t SET \"plan\" = o.c2"));
        assert!(update
            .sql
            .ends_with("t.\"email\" = (o.c1)::character varying RETURNING o.pos"));
    }

    #[test]
    fn removals_follow_delete_behavior() {
        assert!(target(SyncMode::Upsert, DeleteBehavior::Nothing)
            .statement(Op::Removed, "ops")
            .is_none());
        let delete = target(SyncMode::Upsert, DeleteBehavior::Delete)
            .statement(Op::Removed, "ops")
            .unwrap();
        assert!(delete
            .sql
            .starts_with("DELETE FROM crm.contacts AS t USING ops AS o"));
        assert!(delete
            .sql
            .ends_with("t.\"email\" = (o.match_key)::character varying"));
        let clear = target(SyncMode::Upsert, DeleteBehavior::Clear)
            .statement(Op::Removed, "ops")
            .unwrap();
        assert!(clear
            .sql
            .starts_with("UPDATE crm.contacts AS t SET \"plan\" = NULL FROM ops AS o"));
    }
}
