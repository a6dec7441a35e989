//! `reverse_etl._hash_fields(seed, VARIADIC "any")`: the row hash a run
//! compares with its snapshot, equal to `hash_record_extended(ROW(fields…),
//! seed)` without forming the row. Forming a row of the fields only to take
//! it apart again cost about a third of a second per million rows of ten
//! columns, a fifth of a rerun; the value must stay the same, because every
//! snapshot holds hashes computed the old way (a new value would send every
//! row again once).
//!
//! Declared by hand (`sql/bootstrap.sql`, the upgrade script): pgrx cannot
//! declare a `VARIADIC "any"` function.

use pgrx::pg_sys;
use pgrx::prelude::*;

/// The hash of every field has beyond `hash_record_extended`: the type's
/// extended hash function, and the collation the row would give the field.
#[derive(Clone, Copy)]
struct FieldHashing {
    type_entry: *mut pg_sys::TypeCacheEntry,
    collation: pg_sys::Oid,
    hasher: Hasher,
}

/// How a field's hash is computed: the most common types' extended hash
/// functions are computed here as PostgreSQL's own do (hashfn.c and the
/// types' hash functions), without a function call through the function
/// manager per field; any other through it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hasher {
    /// `hashint2extended`: the value widened to 32 bits.
    Int2,
    /// `hashint4extended` (int4, date, oid-like types).
    Int4,
    /// `hashint8extended` (int8; `timestamp_hash_extended` for timestamp
    /// and timestamptz calls it).
    Int8,
    /// `hashcharextended` (bool, "char"): the value as a C char.
    Char,
    /// `hashtextextended` under a deterministic collation: the bytes.
    Bytes,
    /// Anything else: the type's function.
    Function,
}

extern "C" {
    // src/common/hashfn.c, which hash_any_extended and
    // hash_uint32_extended (inline in hashfn.h) call.
    fn hash_bytes_extended(k: *const u8, keylen: i32, seed: u64) -> u64;
    fn hash_bytes_uint32_extended(k: u32, seed: u64) -> u64;
}

impl Hasher {
    /// # Safety
    /// `collation` must be a collation's OID or invalid.
    unsafe fn of(function: pg_sys::Oid, collation: pg_sys::Oid) -> Hasher {
        match function.to_u32() {
            pg_sys::F_HASHINT2EXTENDED => Hasher::Int2,
            pg_sys::F_HASHINT4EXTENDED => Hasher::Int4,
            pg_sys::F_HASHINT8EXTENDED | pg_sys::F_TIMESTAMP_HASH_EXTENDED => Hasher::Int8,
            pg_sys::F_HASHCHAREXTENDED => Hasher::Char,
            // hashtextextended hashes the bytes under any deterministic
            // collation; without a collation it raises its own error.
            pg_sys::F_HASHTEXTEXTENDED
                if collation != pg_sys::Oid::INVALID
                    && pg_sys::get_collation_isdeterministic(collation) =>
            {
                Hasher::Bytes
            }
            _ => Hasher::Function,
        }
    }
}

/// The hash of a field that is not NULL.
///
/// # Safety
/// `value` must be a value of the field's type.
unsafe fn field_hash(field: &FieldHashing, value: pg_sys::Datum, seed: pg_sys::Datum) -> u64 {
    let seed_bits = seed.value() as u64;
    match field.hasher {
        Hasher::Int2 => hash_bytes_uint32_extended(value.value() as i16 as i32 as u32, seed_bits),
        Hasher::Int4 => hash_bytes_uint32_extended(value.value() as i32 as u32, seed_bits),
        Hasher::Int8 => {
            let value = value.value() as i64;
            let low = value as u32;
            let high = (value >> 32) as u32;
            let folded = if value >= 0 { low ^ high } else { low ^ !high };
            hash_bytes_uint32_extended(folded, seed_bits)
        }
        // (int32) of a C char: signed or not as the platform's char is.
        Hasher::Char => hash_bytes_uint32_extended(
            value.value() as u8 as std::ffi::c_char as i32 as u32,
            seed_bits,
        ),
        Hasher::Bytes => {
            let text = pg_sys::pg_detoast_datum_packed(value.cast_mut_ptr::<pg_sys::varlena>());
            hash_bytes_extended(
                pgrx::varlena::vardata_any(text) as *const u8,
                pgrx::varlena::varsize_any_exhdr(text) as i32,
                seed_bits,
            )
        }
        Hasher::Function => pg_sys::FunctionCall2Coll(
            &mut (*field.type_entry).hash_extended_proc_finfo,
            field.collation,
            value,
            seed,
        )
        .value() as u64,
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_reverse_etl_hash_fields() -> &'static pg_sys::Pg_finfo_record {
    static VERSION_1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &VERSION_1
}

/// # Safety
/// Called by PostgreSQL's function manager only, as declared in SQL.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn reverse_etl_hash_fields(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let arguments = (*fcinfo).nargs.max(1) as usize;
    if pgrx::fcinfo::pg_arg_is_null(fcinfo, 0) {
        (*fcinfo).isnull = true;
        return pg_sys::Datum::from(0);
    }
    let seed = pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, 0);
    let fields = field_hashing((*fcinfo).flinfo, arguments - 1);
    let mut hash: u64 = 0;
    for (index, field) in fields.iter().enumerate() {
        let argument = index + 1;
        let field_hash = if pgrx::fcinfo::pg_arg_is_null(fcinfo, argument) {
            0
        } else {
            field_hash(
                field,
                pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, argument),
                seed,
            )
        };
        // hash_record_extended's combination: (hash << 5) - hash + field's.
        hash = hash.wrapping_mul(31).wrapping_add(field_hash);
    }
    pg_sys::Datum::from(hash as i64)
}

/// Each field's hashing, looked up once per call site and kept in the
/// call's `fn_extra` (the argument types of one call site never change).
unsafe fn field_hashing<'a>(flinfo: *mut pg_sys::FmgrInfo, count: usize) -> &'a [FieldHashing] {
    if count == 0 {
        return &[];
    }
    if (*flinfo).fn_extra.is_null() {
        if pg_sys::get_fn_expr_variadic(flinfo) {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "reverse_etl._hash_fields takes its fields as separate arguments, not as a VARIADIC array"
            );
        }
        let call = (*flinfo).fn_expr;
        if call.is_null() || !pgrx::is_a(call, pg_sys::NodeTag::T_FuncExpr) {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "reverse_etl._hash_fields must be called from SQL"
            );
        }
        let call_arguments = (*(call as *mut pg_sys::FuncExpr)).args;
        let fields = pg_sys::MemoryContextAllocZero(
            (*flinfo).fn_mcxt,
            count * std::mem::size_of::<FieldHashing>(),
        ) as *mut FieldHashing;
        for index in 0..count {
            let argument = index as i32 + 1;
            let type_oid = pg_sys::get_fn_expr_argtype(flinfo, argument);
            let type_entry = pg_sys::lookup_type_cache(
                type_oid,
                pg_sys::TYPECACHE_HASH_EXTENDED_PROC_FINFO as i32,
            );
            if type_entry.is_null()
                || (*type_entry).hash_extended_proc_finfo.fn_oid == pg_sys::Oid::INVALID
            {
                let name = std::ffi::CStr::from_ptr(pg_sys::format_type_be(type_oid));
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                    format!(
                        "could not identify an extended hash function for type {}",
                        name.to_string_lossy()
                    )
                );
            }
            let expression = pg_sys::list_nth(call_arguments, argument) as *const pg_sys::Node;
            let collation = pg_sys::exprCollation(expression);
            fields.add(index).write(FieldHashing {
                type_entry,
                collation,
                hasher: Hasher::of((*type_entry).hash_extended_proc_finfo.fn_oid, collation),
            });
        }
        (*flinfo).fn_extra = fields as *mut std::ffi::c_void;
    }
    std::slice::from_raw_parts((*flinfo).fn_extra as *const FieldHashing, count)
}
