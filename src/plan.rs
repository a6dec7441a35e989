//! What a run works on, shared by the engine, the catalog and the
//! destinations: the model's columns, the kinds of operation, and the SQL of
//! a run's data phases, built as text in plain Rust so it can be unit-tested:
//! materialise the model once (row id + 64-bit hash of exactly the sent
//! fields + those fields) and diff against the snapshot in one set-based
//! statement that writes the run's operations. What is written to the
//! changelog is `catalog::changelog`'s business.
//!
//! Work tables: `work` holds the model's result for this run; `ops` holds one
//! row per planned operation, numbered by `pos` in delivery order (removed,
//! then changed, then added), so "delivered up to pos N" is one number.

use crate::config::SyncMode;
use crate::sql::{list, quote_ident, quote_literal};

/// A model result column the sync needs, with its SQL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelColumn {
    pub name: String,
    pub type_sql: String,
    /// Whether the type has an extended hash function (json, xml, point… do not).
    pub hashable: bool,
    /// The type's OID (0 when not known, e.g. read back from the catalog).
    pub type_oid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Removed,
    Changed,
    Added,
}

impl Op {
    /// Delivery order: removals first, so a unique value freed by one record
    /// can be taken by another in the same run.
    pub const DELIVERY_ORDER: [Op; 3] = [Op::Removed, Op::Changed, Op::Added];

    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Added => "added",
            Op::Changed => "changed",
            Op::Removed => "removed",
        }
    }

    pub fn parse(text: &str) -> Option<Op> {
        match text {
            "added" => Some(Op::Added),
            "changed" => Some(Op::Changed),
            "removed" => Some(Op::Removed),
            _ => None,
        }
    }
}

/// A query of one bigint: the row hash of fixed values of common types. A
/// server that computes another value hashes differently (a new major may)
/// and a snapshot's hashes from before cannot be compared with its own.
pub const HASH_PROBE: &str =
    "hash_record_extended(ROW(42::int4, 42::int8, 'pg_reverse_etl'::text, \
     'x'::varchar, true, 1.5::numeric, 1.5::float8, '2001-02-03 04:05:06+00'::timestamptz, \
     '2001-02-03 04:05:06'::timestamp, '2001-02-03'::date, pg_catalog.decode('00ff', 'hex'), \
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{\"a\": 1}'::jsonb, '{1,2}'::int4[]), 0)";

/// PostgreSQL's limit on a function call's arguments (FUNC_MAX_ARGS).
const MAX_FUNCTION_ARGUMENTS: usize = 100;

/// The snapshot hash that means "send this row again" (its record was
/// touched by sync_test_row): no row's content hashes to it but with odds of
/// 2⁻⁶⁴, and then that row is merely sent once more.
pub const RESEND_HASH: i64 = i64::MIN;

/// What the diff of a run takes into account.
#[derive(Debug, Clone, Copy)]
pub struct Diff<'a> {
    /// The sync mode decides which differences are operations.
    pub mode: SyncMode,
    /// Whether rows that left the model are operations (not for events).
    pub acts_on_removals: bool,
    /// A query of row ids left out on both sides (rows found invalid).
    pub excluded_row_ids: Option<&'a str>,
    /// Mirror mode: the records of the mirror table (destination records
    /// the model does not have) are removed too, unless the snapshot
    /// already removes them.
    pub mirror: bool,
    /// The snapshot has no rows (a first run, a full resync): every keyed
    /// row is added, and no join or sort is needed to say so.
    pub snapshot_empty: bool,
}

impl Diff<'_> {
    pub fn new(mode: SyncMode, acts_on_removals: bool) -> Diff<'static> {
        Diff {
            mode,
            acts_on_removals,
            excluded_row_ids: None,
            mirror: false,
            snapshot_empty: false,
        }
    }
}

/// Everything needed to write a run's SQL.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub query: String,
    pub primary_key: Vec<String>,
    /// The columns the sync sends, in work-table order (`c1`, `c2`, …).
    pub columns: Vec<ModelColumn>,
    /// Primary-key columns the sync does not send (`k1`, `k2`, …): kept in
    /// the work table only, so an invalid row's changelog entry shows its
    /// key. Not hashed, not copied into the ops table.
    pub key_columns: Vec<ModelColumn>,
    /// Index into `columns` of the record-matching column.
    pub match_column: Option<usize>,
    /// Folded into every row hash, so changing what is sent changes every hash.
    pub hash_seed: i64,
    /// For removals of rows delivered under an earlier configuration (an
    /// earlier `match`): the model column their keys were sent as.
    pub earlier_match: Option<ModelColumn>,
    pub work_table: String,
    pub ops_table: String,
    pub snapshot_table: String,
}

impl RunPlan {
    /// The work-table column holding model column number `index`.
    pub fn field(index: usize) -> String {
        format!("c{}", index + 1)
    }

    /// The work-table column holding key column number `index` (of `key_columns`).
    pub fn key_field(index: usize) -> String {
        format!("k{}", index + 1)
    }

    pub fn field_of(&self, model_column: &str) -> Option<String> {
        self.columns
            .iter()
            .position(|c| c.name == model_column)
            .map(RunPlan::field)
    }

    /// The sent fields, then the key columns not sent, each with the name
    /// the work and ops tables give it (`c1…`, `k1…`).
    fn fields_and_keys(&self) -> impl Iterator<Item = (&ModelColumn, String)> {
        let fields = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c, RunPlan::field(i)));
        let keys = self
            .key_columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c, RunPlan::key_field(i)));
        fields.chain(keys)
    }

    /// `, c1 type, …, k1 type, …`: the model's columns in a table of the run.
    fn column_definitions(&self) -> String {
        self.fields_and_keys()
            .map(|(c, field)| format!(", {field} {}", c.type_sql))
            .collect()
    }

    pub fn create_work_table(&self) -> String {
        let fields = self.column_definitions();
        format!(
            "CREATE TEMPORARY TABLE {} (row_id text, row_hash bigint, match_key text{fields})",
            self.work_table,
        )
    }

    /// Where a mirror-mode run collects the destination's records that the
    /// model no longer has (as the sync's owner, who reads its table).
    pub fn create_mirror_table(&self) -> String {
        format!(
            "CREATE UNLOGGED TABLE {} (row_id text, match_key text) WITH (autovacuum_enabled = off)",
            self.mirror_table()
        )
    }

    pub fn mirror_table(&self) -> String {
        self.run_table("mirror")
    }

    /// Where the sync's owner writes the run's invalid rows, with their
    /// fields as JSON, before they are logged.
    pub fn create_invalid_table(&self) -> String {
        format!(
            "CREATE UNLOGGED TABLE {} (row_id text, reason text, fields jsonb) WITH (autovacuum_enabled = off)",
            self.invalid_table()
        )
    }

    pub fn invalid_table(&self) -> String {
        self.run_table("invalid")
    }

    /// A table of the run named after its ops table (`…run_42_ops` →
    /// `…run_42_<kind>`), in the extension's schema also when the ops table
    /// is a temporary one: these are unlogged tables, which a temporary
    /// schema cannot hold.
    fn run_table(&self, kind: &str) -> String {
        let base = self.ops_table.trim_end_matches("_ops");
        match base.strip_prefix("pg_temp.") {
            Some(name) => format!("reverse_etl_state.{name}_{kind}"),
            None => format!("{base}_{kind}"),
        }
    }

    /// A row id is the key as text (`42`), or the key's row text for a
    /// composite key (`(42,eu)`); NULL when any key part is NULL.
    pub fn row_id_expression(&self) -> String {
        match self.primary_key.as_slice() {
            [single] => format!("(m.{})::text", quote_ident(single)),
            parts => {
                let nulls = parts
                    .iter()
                    .map(|p| format!("m.{} IS NULL", quote_ident(p)))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let row = list(parts.iter().map(|p| format!("m.{}", quote_ident(p))));
                format!("CASE WHEN {nulls} THEN NULL ELSE (ROW({row}))::text END")
            }
        }
    }

    /// Hash of exactly the sent fields, in binary where the type allows:
    /// `hash_record_extended` of their row, computed by `_hash_fields`
    /// without forming it, unless there are too many fields for one
    /// function call (or none).
    fn row_hash_expression(&self) -> String {
        let fields = list(self.columns.iter().map(|c| {
            if c.hashable {
                format!("m.{}", quote_ident(&c.name))
            } else {
                format!("(m.{})::text", quote_ident(&c.name))
            }
        }));
        if (1..MAX_FUNCTION_ARGUMENTS).contains(&self.columns.len()) {
            format!("reverse_etl._hash_fields({}, {fields})", self.hash_seed)
        } else {
            format!("hash_record_extended(ROW({fields}), {})", self.hash_seed)
        }
    }

    /// Runs as the sync's owner: reads the model once into the work table.
    /// Everything derived from the model's values (row id, hash, the match
    /// key as text) is computed here, as the owner.
    pub fn materialize(&self) -> String {
        format!(
            "INSERT INTO {} {}",
            self.work_table,
            self.select_model_rows(false)
        )
    }

    /// The model's rows as the work table holds them: row id, hash, match
    /// key, the sent fields, then the key columns not sent (`named`: as
    /// `row_id, row_hash, match_key, c1…, k1…`).
    fn select_model_rows(&self, named: bool) -> String {
        let name = |alias: String| {
            if named {
                format!(" AS {alias}")
            } else {
                String::new()
            }
        };
        let fields = self
            .fields_and_keys()
            .map(|(c, field)| format!(", m.{}{}", quote_ident(&c.name), name(field)))
            .collect::<String>();
        let match_key = self.match_key_expression();
        format!(
            "SELECT {}{}, {}{}, {match_key}{}{fields} FROM ({}\n) AS m",
            self.row_id_expression(),
            name("row_id".into()),
            self.row_hash_expression(),
            name("row_hash".into()),
            name("match_key".into()),
            self.query
        )
    }

    /// The record-matching column's value as text (NULL without one).
    fn match_key_expression(&self) -> String {
        match self.match_column {
            Some(i) => format!("(m.{})::text", quote_ident(&self.columns[i].name)),
            None => "NULL".to_string(),
        }
    }

    /// The model's primary-key columns, in key order.
    fn primary_key_columns(&self) -> Vec<&ModelColumn> {
        self.primary_key
            .iter()
            .filter_map(|key| {
                self.columns
                    .iter()
                    .chain(&self.key_columns)
                    .find(|c| &c.name == key)
            })
            .collect()
    }

    /// Whether a rerun may read its model's keys first (see
    /// `create_unnumbered_keyed_diff_table`): the keys' values can be compared for equality
    /// (types with a hash function have an equality operator).
    pub fn can_read_keys_first(&self) -> bool {
        let keys = self.primary_key_columns();
        keys.len() == self.primary_key.len() && keys.iter().all(|c| c.hashable)
    }

    /// A rerun that reads its model's keys first diffs them against the
    /// snapshot as the model's rows arrive (`diff_keys_as_read`): per
    /// operation the diff's row (its kind, row id, hash, the snapshot's
    /// match key and delivery configuration) and the key's values (`p1…`,
    /// to find the changed rows again). The fields of the rows that changed
    /// are read afterwards (`read_changed_values`): writing every row's
    /// fields only for the diff to find most of them unchanged was the
    /// largest part of a rerun, and a copy of the keys alone the largest
    /// part of what was left. Temporary: only the run's worker reads it.
    pub fn create_unnumbered_keyed_diff_table(&self) -> String {
        let keys: String = self
            .primary_key_columns()
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", p{} {}", i + 1, c.type_sql))
            .collect();
        format!(
            "CREATE TEMPORARY TABLE {} (op text, op_rank integer, row_id text, row_hash bigint, \
             match_key text, delivered_under bigint{keys})",
            self.unnumbered_keyed_diff_table()
        )
    }

    /// Runs as the sync's owner, who may read the snapshot for this
    /// statement: the model's row ids, hashes and key values, joined to the
    /// snapshot as they are read, without being written anywhere first
    /// (the join's spill files are all the copy there is). Each model row
    /// takes a position as it passes (`_next_position`), which counts them:
    /// rows whose hash did not change leave no trace, and a key repeated in
    /// the model shows only in that count (see `duplicate_check_of`).
    /// The match key comes from the snapshot for a removal and from the
    /// second read for the rest. The operations are numbered by a statement
    /// of their own (`create_keyed_diff_table`): sorting them while the
    /// join's hash table is still held would add the sort's memory to the
    /// join's.
    pub fn diff_keys_as_read(&self, diff: &Diff) -> String {
        let keys: String = self
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, key)| format!(", m.{} AS p{}", quote_ident(key), i + 1))
            .collect();
        let key_values: String = (1..=self.primary_key.len())
            .map(|i| format!(", w.p{i}"))
            .collect();
        let model_keys = format!(
            "(SELECT {} AS row_id, {} AS row_hash{keys}, reverse_etl._next_position(false) AS counted \
             FROM ({}\n) AS m)",
            self.row_id_expression(),
            self.row_hash_expression(),
            self.query
        );
        format!(
            "INSERT INTO {} {}",
            self.unnumbered_keyed_diff_table(),
            self.diff_rows_of(diff, &model_keys, "s.match_key", &key_values)
        )
    }

    /// The keyed diff numbered as the ops table will be, with each
    /// operation's key values.
    pub fn create_keyed_diff_table(&self) -> String {
        let keys: String = (1..=self.primary_key.len())
            .map(|i| format!(", o.p{i}"))
            .collect();
        format!(
            "CREATE TEMPORARY TABLE {} AS
             {}",
            self.keyed_diff_table(),
            self.numbered_operations(&self.unnumbered_keyed_diff_table(), &keys, false),
        )
    }

    /// The operations of `source` (a diff's rows) numbered in delivery
    /// order, with `columns` (`, o.…` of the diff's row, or with
    /// `read_work_rows`, `, x.…` of the work-table row each came from, read
    /// by its address `work_row` in position order: OFFSET 0 keeps that a
    /// lookup per operation).
    fn numbered_operations(&self, source: &str, columns: &str, read_work_rows: bool) -> String {
        let work_rows = if read_work_rows {
            format!(
                "\n             LEFT JOIN LATERAL (SELECT * FROM {} AS w WHERE w.ctid = o.work_row OFFSET 0) AS x ON true",
                self.work_table
            )
        } else {
            String::new()
        };
        format!(
            "SELECT o.pos, o.op, o.op_rank, o.row_id, o.row_hash, o.match_key, o.delivered_under{columns}
             FROM (SELECT row_number() OVER (ORDER BY d.op_rank, d.delivered_under NULLS FIRST, d.row_id) AS pos, d.*
                   FROM {source} AS d) AS o{work_rows}"
        )
    }

    pub fn unnumbered_keyed_diff_table(&self) -> String {
        unnumbered_keyed_diff_table_of(&self.work_table)
    }

    pub fn keyed_diff_table(&self) -> String {
        keyed_diff_table_of(&self.work_table)
    }

    pub fn changed_values_table(&self) -> String {
        changed_values_table_of(&self.work_table)
    }

    /// Where the sync's owner writes the fields of the rows the keyed diff
    /// found added or changed.
    pub fn create_changed_values_table(&self) -> String {
        format!(
            "CREATE TEMPORARY TABLE {} (row_id text, row_hash bigint, match_key text{})",
            self.changed_values_table(),
            self.columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!(", {} {}", RunPlan::field(i), c.type_sql))
                .collect::<String>()
        )
    }

    /// Runs as the sync's owner: reads the model again for the rows the
    /// keyed diff found added or changed, joined to them by their key's
    /// values (which a simple model turns into lookups by its table's
    /// key). A join, not `IN`, which would hash every key to make them
    /// distinct: they are distinct as text here (a repeated one sends the
    /// run down the copy before this), and keys equal under their type's
    /// `=` though written differently (numeric 1.0 and 1.00, a case-blind
    /// collation) only make the join return a row more than once, which
    /// the check of the values read sends down the copy too. Their id,
    /// hash and match key are computed again: a row that changed once
    /// more since the first read is sent, and recorded, as read now.
    pub fn read_changed_values(&self) -> String {
        let fields: String = (0..self.columns.len())
            .map(|i| format!(", m.{}", quote_ident(&self.columns[i].name)))
            .collect();
        let same_keys: String = self
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, key)| format!(" AND m.{} = d.p{}", quote_ident(key), i + 1))
            .collect();
        format!(
            "INSERT INTO {values} SELECT {}, {}, {}{fields} FROM ({}\n) AS m
             JOIN {diff_table} AS d ON d.op_rank IN (2, 3){same_keys}",
            self.row_id_expression(),
            self.row_hash_expression(),
            self.match_key_expression(),
            self.query,
            values = self.changed_values_table(),
            diff_table = self.keyed_diff_table(),
        )
    }

    /// Lets the ops table find each operation's values by lookup (see
    /// `create_ops_table_from_changed_values`); the index's sort is the
    /// only one of the statement that builds it.
    pub fn index_changed_values(&self) -> String {
        format!("CREATE INDEX ON {} (row_id)", self.changed_values_table())
    }

    /// One row: rows the owner's second read wrote, and operations that
    /// need values (added or changed) that found exactly one of those rows.
    /// Both equal the number of such operations exactly when each has one
    /// row and no row is left over. Counted by lookups in the values'
    /// index (LIMIT 2 is all "exactly one" needs, and makes each an index
    /// scan): a join or a distinct count would sort or hash them all.
    pub fn count_changed_values(&self) -> String {
        format!(
            "SELECT (SELECT count(*) FROM {values}),
                    count(*) FILTER (WHERE d.op_rank IN (2, 3) AND (SELECT count(*)
                        FROM (SELECT FROM {values} AS v WHERE v.row_id = d.row_id LIMIT 2) AS found) = 1)
             FROM {diff_table} AS d",
            diff_table = self.keyed_diff_table(),
            values = self.changed_values_table(),
        )
    }

    /// The ops table from the keyed diff and the values read for it: the
    /// same table `create_ops_table` makes, the added and changed rows with
    /// the hash and match key of the values sent. The keyed diff was
    /// written in position order, and each operation looks its one row of
    /// values up by row id (`count_changed_values` made sure there is one;
    /// the LIMIT keeps it a lookup per operation, by index), so the ops
    /// table is written in position order without a sort.
    pub fn create_ops_table_from_changed_values(&self) -> String {
        let fields: String = (0..self.columns.len())
            .map(|i| format!(", v.{}", RunPlan::field(i)))
            .collect();
        format!(
            "CREATE {kind} TABLE {ops} WITH (autovacuum_enabled = off) AS
             SELECT d.pos, d.op, d.op_rank, d.row_id,
                    CASE WHEN d.op_rank IN (2, 3) THEN v.row_hash ELSE d.row_hash END AS row_hash,
                    CASE WHEN d.op_rank IN (2, 3) THEN v.match_key ELSE d.match_key END AS match_key,
                    d.delivered_under{fields}
             FROM {diff_table} AS d
             LEFT JOIN LATERAL (SELECT * FROM {values} AS v \
             WHERE v.row_id = d.row_id AND d.op_rank IN (2, 3) LIMIT 1) AS v ON true",
            kind = self.ops_table_kind(),
            ops = self.ops_table,
            diff_table = self.keyed_diff_table(),
            values = self.changed_values_table(),
        )
    }

    /// A first run's ops table, which the sync's owner fills straight from
    /// the model (`read_model_into_ops`): the layout `create_ops_table`
    /// makes, plus the key columns not sent (an invalid row's log shows
    /// them). The owner may insert rows of its own while its model runs, so
    /// the table itself refuses anything but what that statement writes: an
    /// added row with a key and a position from 1, or an invalid one
    /// without a key and a negative position, never a removal's earlier
    /// configuration. Whether the positions are whole and unique is checked
    /// once it is filled (`positions_are_whole`, and the primary key).
    pub fn create_first_run_ops_table(&self) -> String {
        let fields = self.column_definitions();
        format!(
            "CREATE UNLOGGED TABLE {} (pos bigint, op text, op_rank integer, row_id text, row_hash bigint, \
             match_key text, delivered_under bigint{fields}, \
             CONSTRAINT written_by_the_run CHECK (coalesce(delivered_under IS NULL AND CASE WHEN row_id IS NULL \
             THEN op = 'invalid' AND op_rank = 4 AND pos < 0 ELSE op = 'added' AND op_rank = 3 AND pos > 0 END, false))) \
             WITH (autovacuum_enabled = off)",
            self.ops_table
        )
    }

    /// Runs as the sync's owner, against an empty snapshot: reads the model
    /// once, straight into the ops table (see `create_first_run_ops_table`),
    /// every keyed row added in the model's order. OFFSET 0 keeps each row's
    /// id computed once.
    pub fn read_model_into_ops(&self) -> String {
        let fields = self
            .fields_and_keys()
            .map(|(_, field)| format!(", r.{field}"))
            .collect::<String>();
        format!(
            "INSERT INTO {} SELECT reverse_etl._next_position(r.row_id IS NULL), \
             CASE WHEN r.row_id IS NULL THEN 'invalid' ELSE 'added' END, \
             CASE WHEN r.row_id IS NULL THEN 4 ELSE 3 END, r.row_id, r.row_hash, r.match_key, NULL{fields} \
             FROM ({} OFFSET 0) AS r",
            self.ops_table,
            self.select_model_rows(true)
        )
    }

    /// Numbers that reveal duplicate keys without grouping the whole result.
    /// With N non-null rows, A new rows (added, rank 3), S snapshot rows and R of them
    /// removed: the N - A matched rows equal the S - R matched snapshot rows
    /// exactly when no snapshot row was matched twice; duplicates among new
    /// keys show up as repeated added ops: fewer distinct 64-bit hashes of
    /// their keys than added ops (sorting hashes costs less than sorting
    /// keys; a collision only sends the run down the exact path, which then
    /// finds nothing). Returns one row:
    /// (null-key rows, added, snapshot rows, removed from snapshot, new keys repeated).
    pub fn duplicate_check(&self) -> String {
        self.duplicate_check_of(&self.ops_table)
    }

    /// `duplicate_check` of a table laid out as the ops table is (the keyed diff).
    pub fn duplicate_check_of(&self, table: &str) -> String {
        format!(
            "SELECT count(*) FILTER (WHERE op = 'invalid'),
                    count(*) FILTER (WHERE op = 'added' AND op_rank = 3),
                    (SELECT count(*) FROM {snapshot}),
                    count(*) FILTER (WHERE op IN ('removed', 'left') AND op_rank = 1),
                    count(DISTINCT pg_catalog.hashtextextended(row_id, 0)) FILTER (WHERE op = 'added')
                        < count(*) FILTER (WHERE op = 'added')
             FROM {table}",
            snapshot = self.snapshot_table,
        )
    }

    /// The sent fields of a work or ops row as a JSON object keyed by model column.
    pub fn fields_json(&self, alias: &str) -> String {
        let pairs = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), RunPlan::field(i)))
            .collect::<Vec<_>>();
        json_object(alias, &pairs)
    }

    /// The sent fields and the primary key of a work-table row: what an
    /// invalid row's changelog entry shows.
    pub fn fields_and_key_json(&self, alias: &str) -> String {
        let pairs = self
            .fields_and_keys()
            .map(|(c, field)| (c.name.as_str(), field))
            .collect::<Vec<_>>();
        json_object(alias, &pairs)
    }

    /// The fields of a removed row as JSON text: only the match value is
    /// known (from the snapshot), typed as the model's match column.
    pub fn removed_fields_json_text(&self, alias: &str) -> String {
        if let Some(key) = &self.earlier_match {
            return format!(
                "json_build_object({}, ({alias}.match_key)::{})::text",
                quote_literal(&key.name),
                key.type_sql
            );
        }
        match self.match_column {
            // A key sent under an earlier match may not be a value of the
            // current match column's type: it is shown as the text it was.
            Some(i) => format!(
                "(CASE WHEN {alias}.delivered_under IS NULL \
                 THEN json_build_object({name}, ({alias}.match_key)::{ty}) \
                 ELSE json_build_object({name}, {alias}.match_key) END)::text",
                name = quote_literal(&self.columns[i].name),
                ty = self.columns[i].type_sql
            ),
            None => "'{}'".to_string(),
        }
    }

    /// Removals of rows delivered under an earlier configuration, one row
    /// per configuration: (its id, first and last position, count). They
    /// follow the removals under the current one (see `create_ops_table`).
    pub fn earlier_removal_ranges(&self) -> String {
        format!(
            "SELECT delivered_under, min(pos), max(pos), count(*) FROM {} \
             WHERE op = 'removed' AND delivered_under IS NOT NULL GROUP BY 1 ORDER BY 2",
            self.ops_table
        )
    }

    /// The same object as JSON text, built without jsonb where the column
    /// count allows (cheaper for rows that are only serialised and sent).
    pub fn fields_json_text(&self, alias: &str) -> String {
        if self.columns.len() > 50 {
            return format!("({})::text", self.fields_json(alias));
        }
        let pairs = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}, {alias}.{}", quote_literal(&c.name), RunPlan::field(i)));
        format!("json_build_object({})::text", list(pairs))
    }

    /// An estimate, in bytes, of the values an ops-table row sends, computed
    /// without decompressing or serialising them (a row of hundreds of
    /// megabytes is measured, not loaded). Text and bytea count at their raw
    /// length (read from the TOAST header); other types at their stored size,
    /// or their text when stored compressed; plus a little per column for
    /// the field's name and JSON punctuation.
    pub fn row_size_sql(&self, alias: &str) -> String {
        const PER_FIELD: usize = 32;
        let removed = match self.match_column {
            Some(_) => format!("coalesce(octet_length({alias}.match_key), 0) + {PER_FIELD}"),
            None => "0".to_string(),
        };
        if self.columns.is_empty() {
            return format!("({removed})::int8");
        }
        let fields = self.columns.iter().enumerate().map(|(i, column)| {
            let value = format!("{alias}.{}", RunPlan::field(i));
            if is_raw_length_type(&column.type_sql) {
                format!("coalesce(octet_length({value}), 0)")
            } else {
                format!(
                    "coalesce(CASE WHEN pg_column_compression({value}) IS NULL \
                     THEN pg_column_size({value}) ELSE octet_length(({value})::text) END, 0)"
                )
            }
        });
        format!(
            "(CASE WHEN {alias}.op = 'removed' THEN {removed} ELSE {} + {} END)::int8",
            fields.collect::<Vec<_>>().join(" + "),
            PER_FIELD * self.columns.len()
        )
    }

    /// The diff, as one statement creating the ops table (see `Diff`).
    pub fn create_ops_table(&self, diff: &Diff) -> String {
        if diff.snapshot_empty && !diff.mirror {
            return self.create_first_ops_table(diff.excluded_row_ids);
        }
        let statement = self.diff_rows(diff);
        // The join and the sort carry only keys and hashes (spilling under
        // the run's work_mem costs what they carry); each operation's
        // values are then read from the work table by the row's address,
        // in position order (OFFSET 0 keeps that a lookup per operation,
        // and the table is written in that order).
        let fields: String = (0..self.columns.len())
            .map(|i| format!(", x.{}", RunPlan::field(i)))
            .collect();
        format!(
            "CREATE {kind} TABLE {ops} WITH (autovacuum_enabled = off) AS
             {}",
            self.numbered_operations(&format!("({statement})"), &fields, true),
            kind = self.ops_table_kind(),
            ops = self.ops_table,
        )
    }

    /// How many operations and invalid rows the diff finds, and how many
    /// rows the snapshot has: one row, without writing anything.
    pub fn count_diff_rows(&self, diff: &Diff) -> String {
        format!(
            "SELECT (SELECT count(*) FROM ({}) AS d), (SELECT count(*) FROM {})",
            self.diff_rows(diff),
            self.snapshot_table
        )
    }

    /// The ops table is unlogged, so that a run whose worker is killed can
    /// still be closed with each operation accounted for; one in the
    /// worker's temporary schema (a run with nothing to do) is temporary.
    fn ops_table_kind(&self) -> &'static str {
        if self.ops_table.starts_with("pg_temp.") {
            "TEMPORARY"
        } else {
            "UNLOGGED"
        }
    }

    /// The diff's rows: keys, hashes, the operation and the work row's
    /// address (see `create_ops_table`).
    fn diff_rows(&self, diff: &Diff) -> String {
        let work_filter = match diff.excluded_row_ids {
            Some(excluded) => format!(" WHERE row_id IS NULL OR row_id NOT IN ({excluded})"),
            None => String::new(),
        };
        self.diff_rows_of(
            diff,
            &format!(
                "(SELECT ctid AS work_row, row_id, row_hash, match_key FROM {}{work_filter})",
                self.work_table
            ),
            "coalesce(w.match_key, s.match_key)",
            ", w.work_row",
        )
    }

    /// The rows of `model_rows` (row id, hash, …) that differ from the
    /// snapshot, as operations, with `columns` (`, w.…`) of the model's
    /// side. Its operators are named with their schema, as the statement
    /// may run on the model's `search_path` (`diff_keys_as_read`).
    fn diff_rows_of(
        &self,
        diff: &Diff,
        model_rows: &str,
        match_key: &str,
        columns: &str,
    ) -> String {
        let removed_filter = match diff.excluded_row_ids {
            Some(excluded) => format!(" AND (s.row_id IS NULL OR s.row_id NOT IN ({excluded}))"),
            None => String::new(),
        };
        // Which rows the snapshot already has are operations, and as what.
        // Rank 2 tells them from new rows (rank 3) when both are 'added'.
        let resend = format!("s.row_hash OPERATOR(pg_catalog.=) ({RESEND_HASH})::bigint");
        let (changed, present) = match diff.mode {
            // An insert never touches a record it already sent; list
            // membership does not change when a member's fields do. A row
            // sync_test_row touched is sent again as it was first sent.
            SyncMode::Insert | SyncMode::Add | SyncMode::Remove => (resend.as_str(), "'added'"),
            // No change tracking: every current row is sent again each run,
            // counted as added.
            _ if !diff.mode.uses_cdc() => ("true", "'added'"),
            // Both hashes are set when both rows are (the snapshot's column
            // is NOT NULL); IS DISTINCT FROM would take `=` from the path.
            _ => (
                "w.row_hash IS NULL OR w.row_hash OPERATOR(pg_catalog.<>) s.row_hash",
                "'changed'",
            ),
        };
        // Rows that left the model are not operations for an event sync (an
        // event is never removed, and its key stays in the snapshot so it is
        // never sent twice); they still flow through as 'left' for the counts.
        let removed = if diff.acts_on_removals {
            "'removed'"
        } else {
            "'left'"
        };
        // Rows whose key is NULL flow through the join unmatched and come out
        // as 'invalid' (both sides' row_id NULL), so finding them costs no
        // extra pass over the model's result.
        let mut statement = format!(
            "SELECT CASE WHEN w.row_id IS NULL AND s.row_id IS NULL THEN 'invalid'
                         WHEN w.row_id IS NULL THEN {removed}
                         WHEN s.row_id IS NULL THEN 'added' ELSE {present} END AS op,
                    CASE WHEN w.row_id IS NULL AND s.row_id IS NULL THEN 4
                         WHEN w.row_id IS NULL THEN 1
                         WHEN s.row_id IS NULL THEN 3 ELSE 2 END AS op_rank,
                    coalesce(w.row_id, s.row_id) AS row_id,
                    w.row_hash,
                    {match_key} AS match_key,
                    CASE WHEN w.row_id IS NULL THEN s.delivered_under END AS delivered_under{columns}
             FROM {model_rows} AS w
             FULL JOIN {snapshot} AS s ON s.row_id OPERATOR(pg_catalog.=) w.row_id
             WHERE (w.row_id IS NULL{removed_filter})
                OR s.row_id IS NULL
                OR (w.row_id IS NOT NULL AND s.row_id IS NOT NULL AND ({changed}))",
            snapshot = self.snapshot_table,
        );
        if diff.mirror {
            statement.push_str(&format!(
                "\n             UNION ALL
             SELECT 'removed', 0, x.row_id, NULL::bigint, x.match_key, NULL::bigint, NULL::tid
             FROM {mirror} AS x
             WHERE NOT EXISTS (SELECT 1 FROM {snapshot} AS s WHERE s.match_key = x.match_key)
               AND NOT EXISTS (SELECT 1 FROM {work} AS w WHERE w.match_key = x.match_key)",
                mirror = self.mirror_table(),
                snapshot = self.snapshot_table,
                work = self.work_table,
            ));
        }
        statement
    }

    /// Against an empty snapshot: the keyed rows, added, in the model's
    /// order, then the rows with a NULL key, invalid. The same table as the
    /// full join makes, without the join and the sort (at 1M rows the sort
    /// alone cost more than the join, spilling under the run's work_mem).
    fn create_first_ops_table(&self, excluded_row_ids: Option<&str>) -> String {
        let fields = (0..self.columns.len())
            .map(|i| format!(", w.{}", RunPlan::field(i)))
            .collect::<String>();
        let excluded = excluded_row_ids
            .map(|excluded| format!(" AND w.row_id NOT IN ({excluded})"))
            .unwrap_or_default();
        format!(
            "CREATE {kind} TABLE {ops} WITH (autovacuum_enabled = off) AS
             SELECT row_number() OVER () AS pos, 'added'::text AS op, 3 AS op_rank, w.row_id, w.row_hash,
                    w.match_key, NULL::bigint AS delivered_under{fields}
             FROM {work} AS w WHERE w.row_id IS NOT NULL{excluded};
             INSERT INTO {ops}
             SELECT (SELECT coalesce(max(pos), 0) FROM {ops}) + row_number() OVER (), 'invalid', 4, NULL,
                    w.row_hash, w.match_key, NULL{fields}
             FROM {work} AS w WHERE w.row_id IS NULL",
            kind = self.ops_table_kind(),
            ops = self.ops_table,
            work = self.work_table,
        )
    }

    /// Per-op first/last position and count, for batching and `planned_*`.
    pub fn op_ranges(&self) -> String {
        format!(
            "SELECT op, min(pos), max(pos), count(*) FROM {} GROUP BY op",
            self.ops_table
        )
    }

    /// Succeeded operations update the snapshot: added/changed rows take their
    /// new hash (and the run, `$4`, and op that sent them), removed rows
    /// leave it. `$1`/`$2` bound the batch's positions, `$3` lists its
    /// positions that were not delivered.
    pub fn update_snapshot(&self, op: Op) -> String {
        let batch = "o.pos > $1 AND o.pos <= $2 AND o.pos <> ALL($3::bigint[])";
        match op {
            Op::Removed => format!(
                "DELETE FROM {snap} s USING {ops} o WHERE {batch} AND s.row_id = o.row_id",
                snap = self.snapshot_table,
                ops = self.ops_table
            ),
            // New rows (rank 3) were not in the snapshot when the run
            // diffed, under the sync's lock, and their keys are distinct: a
            // plain insert (an upsert's conflict check cost a first run
            // 1.7 s per million rows). The others replace their entry.
            Op::Added => format!(
                "WITH new_rows AS (
                     INSERT INTO {snap} (row_id, row_hash, match_key, last_run_id, last_op)
                     SELECT o.row_id, o.row_hash, o.match_key, $4, 'a' FROM {ops} o WHERE {batch} AND o.op_rank = 3)
                 INSERT INTO {snap} (row_id, row_hash, match_key, last_run_id, last_op)
                 SELECT o.row_id, o.row_hash, o.match_key, $4, 'a' FROM {ops} o WHERE {batch} AND o.op_rank <> 3
                 {replace}",
                snap = self.snapshot_table,
                ops = self.ops_table,
                replace = REPLACE_SNAPSHOT_ENTRY,
            ),
            Op::Changed => format!(
                "INSERT INTO {snap} (row_id, row_hash, match_key, last_run_id, last_op)
                 SELECT o.row_id, o.row_hash, o.match_key, $4, 'c' FROM {ops} o WHERE {batch}
                 {replace}",
                snap = self.snapshot_table,
                ops = self.ops_table,
                replace = REPLACE_SNAPSHOT_ENTRY,
            ),
        }
    }
}

/// The keyed diff of a run whose work table is `work_table`.
pub fn keyed_diff_table_of(work_table: &str) -> String {
    format!("{work_table}_diff")
}

/// The unnumbered keyed diff of a run whose work table is `work_table`.
pub fn unnumbered_keyed_diff_table_of(work_table: &str) -> String {
    format!("{work_table}_changes")
}

/// The changed rows' values of a run whose work table is `work_table`.
pub fn changed_values_table_of(work_table: &str) -> String {
    format!("{work_table}_values")
}

/// How a delivered row's snapshot entry replaces the one it had.
const REPLACE_SNAPSHOT_ENTRY: &str =
    "ON CONFLICT (row_id) DO UPDATE SET row_hash = EXCLUDED.row_hash, \
     match_key = EXCLUDED.match_key, delivered_under = NULL, last_run_id = EXCLUDED.last_run_id, \
     last_op = EXCLUDED.last_op";

/// A jsonb object of `name → alias.column` pairs.
fn json_object(alias: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return "'{}'::jsonb".to_string();
    }
    // jsonb_build_object takes at most 100 arguments: 50 pairs a call.
    pairs
        .chunks(50)
        .map(|chunk| {
            let pairs = chunk
                .iter()
                .map(|(name, column)| format!("{}, {alias}.{column}", quote_literal(name)));
            format!("jsonb_build_object({})", list(pairs))
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// A seed for the row hash derived from what the sync sends (match and
/// mappings): change what is sent and every row counts as changed.
pub fn hash_seed(config: &crate::config::SyncConfig) -> i64 {
    let document = config.to_json();
    let sent = serde_json::json!([document["match"], document["mappings"]]).to_string();
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = sent.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash as i64
}

/// Types whose `octet_length` reads the raw size from the value's header.
fn is_raw_length_type(type_sql: &str) -> bool {
    type_sql == "text"
        || type_sql == "bytea"
        || type_sql.starts_with("character varying")
        || type_sql.starts_with("character(")
        || type_sql == "character"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RunPlan {
        RunPlan {
            query: "SELECT * FROM src".into(),
            primary_key: vec!["id".into()],
            columns: vec![
                ModelColumn {
                    name: "email".into(),
                    type_sql: "text".into(),
                    hashable: true,
                    type_oid: 0,
                },
                ModelColumn {
                    name: "Doc".into(),
                    type_sql: "json".into(),
                    hashable: false,
                    type_oid: 0,
                },
            ],
            key_columns: vec![ModelColumn {
                name: "id".into(),
                type_sql: "int".into(),
                hashable: true,
                type_oid: 0,
            }],
            match_column: Some(0),
            hash_seed: 7,
            earlier_match: None,
            work_table: "w".into(),
            ops_table: "o".into(),
            snapshot_table: "s".into(),
        }
    }

    #[test]
    fn a_rerun_reads_keys_first_then_the_changed_rows_by_their_key_values() {
        let plan = plan();
        assert!(plan.can_read_keys_first());
        assert_eq!(
            plan.create_unnumbered_keyed_diff_table(),
            "CREATE TEMPORARY TABLE w_changes (op text, op_rank integer, row_id text, row_hash bigint, \
             match_key text, delivered_under bigint, p1 int)"
        );
        let keys = plan.diff_keys_as_read(&Diff::new(SyncMode::Upsert, true));
        assert!(
            keys.starts_with("INSERT INTO w_changes SELECT CASE WHEN w.row_id IS NULL"),
            "{keys}"
        );
        assert!(
            keys.contains("FROM (SELECT (m.\"id\")::text AS row_id, reverse_etl._hash_fields(7, "),
            "{keys}"
        );
        assert!(
            keys.contains(
                "(m.\"Doc\")::text) AS row_hash, m.\"id\" AS p1, reverse_etl._next_position(false) AS counted \
                 FROM (SELECT * FROM src\n) AS m) AS w\n             FULL JOIN s AS s ON s.row_id OPERATOR(pg_catalog.=) w.row_id"
            ),
            "row id, hash and the key's values, each row counted, joined to the snapshot as read: {keys}"
        );
        assert!(
            keys.contains("s.match_key AS match_key,")
                && keys.contains("END AS delivered_under, w.p1\n"),
            "the match key of removals only, and the key's values: {keys}"
        );
        assert!(
            !keys.contains(" = ") && !keys.contains("DISTINCT"),
            "no operator the model's search_path could choose: {keys}"
        );
        let values = plan.read_changed_values();
        assert!(
            values.contains("m.\"email\", m.\"Doc\" FROM (SELECT * FROM src\n) AS m"),
            "{values}"
        );
        assert!(
            values.ends_with("JOIN w_diff AS d ON d.op_rank IN (2, 3) AND m.\"id\" = d.p1"),
            "only the added and changed rows, by key: {values}"
        );
        let ops = plan.create_ops_table_from_changed_values();
        assert!(
            ops.contains("WHERE v.row_id = d.row_id AND d.op_rank IN (2, 3) LIMIT 1) AS v ON true"),
            "removals keep no values, and each operation looks its own up: {ops}"
        );
        assert!(
            !ops.contains("ORDER BY"),
            "written in the keyed diff's order: {ops}"
        );
        let diff = plan.create_keyed_diff_table();
        assert!(
            diff.contains("OVER (ORDER BY d.op_rank, d.delivered_under NULLS FIRST, d.row_id) AS pos, d.*\n                   FROM w_changes AS d"),
            "numbered apart from the join that found them: {diff}"
        );
        let mut unkeyable = plan.clone();
        unkeyable.key_columns[0].hashable = false;
        assert!(
            !unkeyable.can_read_keys_first(),
            "a key without an equality operator is never looked up by value"
        );
    }

    #[test]
    fn row_sizes_are_read_without_loading_values() {
        let sql = plan().row_size_sql("o");
        // Text: the raw length from its header, never pg_column_size (a
        // compressed value would count at its compressed size).
        assert!(sql.contains("coalesce(octet_length(o.c1), 0)"), "{sql}");
        assert!(!sql.contains("pg_column_size(o.c1)"), "{sql}");
        // json: stored size, or its text when compressed.
        assert!(sql.contains("WHEN pg_column_compression(o.c2) IS NULL THEN pg_column_size(o.c2) ELSE octet_length((o.c2)::text)"), "{sql}");
        assert!(
            sql.contains("WHEN o.op = 'removed' THEN coalesce(octet_length(o.match_key), 0) + 32"),
            "{sql}"
        );
        assert!(sql.ends_with("+ 64 END)::int8"), "{sql}");
        assert!(is_raw_length_type("character varying(20)") && is_raw_length_type("character(3)"));
        assert!(!is_raw_length_type("jsonb") && !is_raw_length_type("text[]"));
    }

    #[test]
    fn materialize_hashes_sent_fields_in_binary_except_unhashable_types() {
        let sql = plan().materialize();
        assert!(sql.contains("(m.\"id\")::text"), "{sql}");
        assert!(
            sql.contains("reverse_etl._hash_fields(7, m.\"email\", (m.\"Doc\")::text)"),
            "{sql}"
        );
        assert!(sql.ends_with("FROM (SELECT * FROM src\n) AS m"), "{sql}");
        assert!(
            sql.contains("::text), (m.\"email\")::text, m.\"email\", m.\"Doc\", m.\"id\" FROM"),
            "the match key as text, the fields, then the key (kept, not hashed): {sql}"
        );
        assert!(plan()
            .create_work_table()
            .contains("(row_id text, row_hash bigint, match_key text, c1 text, c2 json, k1 int)"));
        assert_eq!(
            plan().fields_and_key_json("w"),
            "jsonb_build_object('email', w.c1, 'Doc', w.c2, 'id', w.k1)"
        );
    }

    #[test]
    fn a_first_run_reads_the_model_straight_into_ops_the_table_refuses_anything_else() {
        let sql = plan().read_model_into_ops();
        assert!(
            sql.starts_with("INSERT INTO o SELECT reverse_etl._next_position(r.row_id IS NULL), "),
            "{sql}"
        );
        assert!(
            sql.contains("r.row_id, r.row_hash, r.match_key, NULL, r.c1, r.c2, r.k1 FROM (SELECT (m.\"id\")::text AS row_id, "),
            "{sql}"
        );
        assert!(
            sql.contains("::text) AS row_hash, (m.\"email\")::text AS match_key, m.\"email\" AS c1, m.\"Doc\" AS c2, m.\"id\" AS k1 FROM (SELECT * FROM src\n) AS m OFFSET 0) AS r"),
            "the row id is computed once, below the fence: {sql}"
        );
        let table = plan().create_first_run_ops_table();
        assert!(
            table.contains("delivered_under bigint, c1 text, c2 json, k1 int, CONSTRAINT"),
            "{table}"
        );
        assert!(
            table.contains("CHECK (coalesce(delivered_under IS NULL AND CASE WHEN row_id IS NULL THEN op = 'invalid' AND op_rank = 4 AND pos < 0 ELSE op = 'added' AND op_rank = 3 AND pos > 0 END, false))"),
            "a NULL must not pass the check: {table}"
        );
    }

    #[test]
    fn composite_keys_are_null_when_any_part_is_null() {
        let mut p = plan();
        p.primary_key = vec!["a".into(), "b".into()];
        let sql = p.materialize();
        assert!(sql.contains("CASE WHEN m.\"a\" IS NULL OR m.\"b\" IS NULL THEN NULL ELSE (ROW(m.\"a\", m.\"b\"))::text END"), "{sql}");
    }

    #[test]
    fn against_an_empty_snapshot_rows_are_added_without_a_join_unless_mirrored() {
        let first = plan().create_ops_table(&Diff {
            snapshot_empty: true,
            excluded_row_ids: Some("SELECT 'bad'"),
            ..Diff::new(SyncMode::Upsert, true)
        });
        assert!(
            !first.contains("JOIN") && !first.contains("ORDER BY"),
            "{first}"
        );
        assert!(first.contains("WHERE w.row_id IS NOT NULL AND w.row_id NOT IN (SELECT 'bad');"));
        assert!(
            first.contains("+ row_number() OVER (), 'invalid', 4"),
            "{first}"
        );
        let mirrored = plan().create_ops_table(&Diff {
            snapshot_empty: true,
            mirror: true,
            ..Diff::new(SyncMode::All, true)
        });
        assert!(
            mirrored.contains("FULL JOIN"),
            "the mirror's removals need the join"
        );
    }

    #[test]
    fn new_rows_enter_the_snapshot_without_an_upsert() {
        let added = plan().update_snapshot(Op::Added);
        let (new_rows, others) = added.split_once("AND o.op_rank = 3)").unwrap();
        assert!(!new_rows.contains("ON CONFLICT"), "{added}");
        assert!(
            others.contains("AND o.op_rank <> 3")
                && others.contains("ON CONFLICT (row_id) DO UPDATE"),
            "{added}"
        );
        assert!(plan()
            .update_snapshot(Op::Changed)
            .contains("ON CONFLICT (row_id) DO UPDATE"));
    }

    #[test]
    fn insert_mode_plans_no_changes_and_mirror_mode_plans_every_row() {
        let insert = plan().create_ops_table(&Diff::new(SyncMode::Insert, true));
        // A row that is gone (or invalid) is never "changed": the hash test
        // only applies where both sides exist.
        assert!(insert.contains(
            "OR (w.row_id IS NOT NULL AND s.row_id IS NOT NULL AND (s.row_hash OPERATOR(pg_catalog.=) (-9223372036854775808)::bigint))"
        ), "only rows a test touched: {insert}");
        let upsert = plan().create_ops_table(&Diff::new(SyncMode::Upsert, true));
        assert!(upsert.contains(
            "AND (w.row_hash IS NULL OR w.row_hash OPERATOR(pg_catalog.<>) s.row_hash))"
        ));
        let all = plan().create_ops_table(&Diff {
            mirror: true,
            ..Diff::new(SyncMode::All, true)
        });
        assert!(all.contains("AND (true))"));
        assert!(
            all.contains("WHEN s.row_id IS NULL THEN 'added' ELSE 'added' END AS op"),
            "no change tracking: every row counts as added"
        );
        assert!(all.contains("UNION ALL"));
        assert!(all.contains("FROM o_mirror AS x"), "{all}");
        assert!(
            all.contains("x.match_key, NULL::bigint, NULL::tid"),
            "a record only the destination holds has no work row: {all}"
        );
        // Keys and hashes are joined and sorted; values are read after.
        assert!(
            all.contains("FROM (SELECT ctid AS work_row, row_id, row_hash, match_key FROM w) AS w"),
            "{all}"
        );
        assert!(all.contains(
            "LEFT JOIN LATERAL (SELECT * FROM w AS w WHERE w.ctid = o.work_row OFFSET 0) AS x ON true"
        ), "{all}");
    }

    #[test]
    fn a_run_with_nothing_to_do_counts_first_and_keeps_its_empty_ops_in_a_temporary_table() {
        let diff = Diff::new(SyncMode::Upsert, true);
        let count = plan().count_diff_rows(&diff);
        assert!(count.starts_with("SELECT (SELECT count(*) FROM (SELECT CASE WHEN w.row_id IS NULL AND s.row_id IS NULL THEN 'invalid'"), "{count}");
        assert!(
            count.ends_with(") AS d), (SELECT count(*) FROM s)"),
            "{count}"
        );
        assert!(plan()
            .create_ops_table(&diff)
            .starts_with("CREATE UNLOGGED TABLE o "));
        let mut temporary = plan();
        temporary.ops_table = "pg_temp.run_1_ops".into();
        assert_eq!(temporary.invalid_table(), "reverse_etl_state.run_1_invalid");
        assert_eq!(plan().invalid_table(), "o_invalid");
        assert!(temporary.create_ops_table(&diff).starts_with(
            "CREATE TEMPORARY TABLE pg_temp.run_1_ops WITH (autovacuum_enabled = off) AS"
        ));
        let first = temporary.create_ops_table(&Diff {
            snapshot_empty: true,
            ..diff
        });
        assert!(
            first.starts_with("CREATE TEMPORARY TABLE pg_temp.run_1_ops "),
            "{first}"
        );
    }

    #[test]
    fn invalid_rows_are_excluded_only_when_there_are_some() {
        let clean = plan().create_ops_table(&Diff::new(SyncMode::Upsert, true));
        assert!(!clean.contains("NOT IN"));
        let dirty = plan().create_ops_table(&Diff {
            excluded_row_ids: Some("SELECT 'bad'"),
            ..Diff::new(SyncMode::Upsert, true)
        });
        assert!(dirty.contains("row_id NOT IN (SELECT 'bad')"));
        assert!(dirty.contains("(s.row_id IS NULL OR s.row_id NOT IN"));
        assert!(
            dirty.contains("WHERE row_id IS NULL OR row_id NOT IN"),
            "null keys still flow through"
        );
    }

    #[test]
    fn events_never_plan_removals() {
        let events = plan().create_ops_table(&Diff::new(SyncMode::Insert, false));
        assert!(
            events.contains("WHEN w.row_id IS NULL THEN 'left'"),
            "{events}"
        );
        assert!(!events.contains("'removed'"));
    }

    #[test]
    fn many_columns_split_json_objects() {
        let mut p = plan();
        p.columns = (0..120)
            .map(|i| ModelColumn {
                name: format!("x{i}"),
                type_sql: "int".into(),
                hashable: true,
                type_oid: 0,
            })
            .collect();
        assert_eq!(p.fields_json("o").matches("jsonb_build_object(").count(), 3);
    }
}
