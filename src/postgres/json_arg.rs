//! A `jsonb` argument of an SQL function, parsed without panicking.
//!
//! pgrx's `JsonB` turns a document serde_json cannot read back (nested more
//! than 128 levels) into a panic, which reaches the caller as an internal
//! error (XX000) that names no argument. `JsonbArg` keeps the parse error so
//! the function can report it as bad input in the argument's name.

use crate::error::{Error, Result};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{direct_function_call, pg_sys, FromDatum};
use serde_json::Value;

pub struct JsonbArg(std::result::Result<Value, String>);

impl JsonbArg {
    /// The document, or a 22023 error naming `field`.
    pub fn into_value(self, field: &str) -> Result<Value> {
        self.0.map_err(|reason| {
            Error::invalid(
                field,
                format!("is not a document this function can read: {reason}"),
            )
        })
    }
}

impl FromDatum for JsonbArg {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbArg> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null jsonb datum passed by PostgreSQL to this
        // function; jsonb_out detoasts it and returns a palloc'd C string.
        let text = unsafe {
            direct_function_call::<&core::ffi::CStr>(pg_sys::jsonb_out, &[Some(datum)]).map(
                |cstr| {
                    let owned = cstr.to_string_lossy().into_owned();
                    pg_sys::pfree(cstr.as_ptr() as *mut core::ffi::c_void);
                    owned
                },
            )
        };
        Some(JsonbArg(match text {
            Some(text) => serde_json::from_str(&text).map_err(|e| match e.to_string() {
                reason if reason.starts_with("recursion limit exceeded") => {
                    "nested more than 128 levels deep".to_string()
                }
                reason => reason,
            }),
            None => Err("no text".to_string()),
        }))
    }
}

// SAFETY: read through FromDatum, like pgrx's own JsonB argument.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        unsafe {
            arg.unbox_arg_using_from_datum()
                .unwrap_or_else(|| panic!("argument {index} must not be null"))
        }
    }
}

// SAFETY: the SQL type is jsonb, which FromDatum reads.
unsafe impl SqlTranslatable for JsonbArg {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbArg);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: std::result::Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: std::result::Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
