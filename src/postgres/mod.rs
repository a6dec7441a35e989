//! The thin layer over PostgreSQL internals: SPI helpers, subtransactions,
//! running as another role, and turning caught errors into `Error` values.

pub mod json_arg;
pub mod row_hash;
pub mod spi;
mod transaction;

pub use transaction::in_transaction;

use crate::error::{Error, SqlState};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::ffi::CStr;

/// A caught PostgreSQL error as a value, SQLSTATE and message kept verbatim.
pub fn error_from_caught(caught: &CaughtError) -> Error {
    let report = match caught {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    let code = report.sql_error_code() as i32;
    // SAFETY: unpack_sql_state returns a pointer to a static buffer of 5 chars + NUL.
    let state = unsafe { CStr::from_ptr(pg_sys::unpack_sql_state(code)) }
        .to_bytes()
        .try_into()
        .map(SqlState::Other)
        .unwrap_or(SqlState::InternalError);
    let mut error = Error::new(state, report.message());
    if let Some(detail) = report.detail() {
        error = error.with_detail(detail);
    }
    if let Some(hint) = report.hint() {
        error = error.with_hint(hint);
    }
    error
}

/// Run `body`, turning a PostgreSQL ERROR into `Err`. Only for use where the
/// surrounding (sub)transaction is then rolled back: see `in_subtransaction`.
pub fn catch<T>(body: impl FnOnce() -> T) -> Result<T, Error> {
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| Ok(body())))
        .catch_others(|caught| Err(error_from_caught(&caught)))
        .execute()
}

/// Run `body` in a subtransaction: on error its effects are rolled back and
/// the error comes back as a value, and the outer transaction goes on. An
/// interrupt (SQLSTATE class 57: a cancel, a shutdown) is not a value: it
/// is raised again once the subtransaction is rolled back, so no caller can
/// mistake a cancelled statement for a problem of its input.
pub fn in_subtransaction<T>(body: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match in_subtransaction_even_if_cancelled(body) {
        Err(error) if error.state.code().starts_with("57") => raise(error),
        outcome => outcome,
    }
}

/// As `in_subtransaction`, but an interrupt comes back as a value too
/// (the cancel is consumed): for work whose interruption must not undo what
/// the transaction did before it, which the caller then completes.
pub fn in_subtransaction_even_if_cancelled<T>(
    body: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    // SAFETY: the pattern of PL/Python and PL/Perl: the subtransaction is
    // always either released or rolled back, and memory context and resource
    // owner are restored to the caller's.
    unsafe {
        let caller_context = pg_sys::CurrentMemoryContext;
        let caller_owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(caller_context);
        let outcome = catch(body).and_then(|inner| inner);
        if outcome.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(caller_context);
        pg_sys::CurrentResourceOwner = caller_owner;
        outcome
    }
}

/// Run `body` as `role`, the way REFRESH MATERIALIZED VIEW runs a view's query
/// as its owner: a security-restricted operation, so the code it runs cannot
/// SET ROLE back or create temporary objects that outlive it.
pub fn as_role<T>(role: pg_sys::Oid, body: impl FnOnce() -> T) -> T {
    with_user(
        role,
        pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        body,
    )
}

/// Run `body` with `role` as the current user and `flags` added to the
/// security context, restoring both afterwards, also on error.
fn with_user<T>(role: pg_sys::Oid, flags: i32, body: impl FnOnce() -> T) -> T {
    let mut saved_user = pg_sys::Oid::INVALID;
    let mut saved_context = 0i32;
    // SAFETY: plain calls into miscinit.c; the finally block always restores.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(role, saved_context | flags);
    }
    PgTryBuilder::new(std::panic::AssertUnwindSafe(body))
        .finally(|| unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) })
        .execute()
}

/// The search_path of catalog bookkeeping: nothing a user can create is
/// found first (pg_temp last), as in a SECURITY DEFINER function.
pub const PINNED_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Run catalog bookkeeping as the extension's owner, the way a SECURITY
/// DEFINER function with a pinned search_path runs: the API's functions and
/// the workers reach the catalog only like this, whoever called them.
pub fn as_extension_owner<T>(owner: pg_sys::Oid, body: impl FnOnce() -> T) -> T {
    with_settings(&[("search_path", PINNED_SEARCH_PATH)], || {
        with_user(owner, pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32, body)
    })
}

/// Whose privileges the statements touching a user's objects use (a sync's
/// or a model's owner), and the search_path those objects were defined
/// under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: pg_sys::Oid,
    pub search_path: String,
}

impl Identity {
    /// Run `body` as this role in a security-restricted operation with its
    /// search_path; any setting the user's code changes (a trigger's
    /// set_config) is put back afterwards.
    pub fn run<T>(&self, body: impl FnOnce() -> T) -> T {
        with_settings(&[("search_path", &self.search_path)], || {
            as_role(self.role, body)
        })
    }
}

/// Whether `member` may act for `role`: it is the role, a member of it, or
/// a superuser.
pub fn acts_for(member: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup (is_member_of_role is true for superusers).
    unsafe { pg_sys::is_member_of_role(member, role) }
}

/// Whether values of this type can be hashed in binary by
/// `hash_record_extended` (json, xml, point… cannot).
pub fn type_has_extended_hash(type_oid: pg_sys::Oid) -> bool {
    // SAFETY: lookup_type_cache errors (not crashes) on an unknown oid.
    unsafe {
        let entry =
            pg_sys::lookup_type_cache(type_oid, pg_sys::TYPECACHE_HASH_EXTENDED_PROC as i32);
        !entry.is_null() && (*entry).hash_extended_proc != pg_sys::Oid::INVALID
    }
}

pub fn current_user() -> pg_sys::Oid {
    unsafe { pg_sys::GetUserId() }
}

/// Raise `error` as a PostgreSQL ERROR with its SQLSTATE, detail and hint.
pub fn raise(error: Error) -> ! {
    let code = sqlstate_to_errcode(error.state.code());
    let mut report = pgrx::pg_sys::panic::ErrorReport::new(code, error.message, "pg_reverse_etl");
    if let Some(detail) = error.detail {
        report = report.set_detail(detail);
    }
    if let Some(hint) = error.hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn sqlstate_to_errcode(code: &str) -> PgSqlErrorCode {
    let bytes: Vec<i32> = code
        .bytes()
        .map(|b| (b as i32 - '0' as i32) & 0x3F)
        .collect();
    if bytes.len() != 5 {
        return PgSqlErrorCode::ERRCODE_INTERNAL_ERROR;
    }
    let packed = bytes
        .iter()
        .enumerate()
        .fold(0i32, |acc, (i, b)| acc + (b << (6 * i)));
    PgSqlErrorCode::from(packed)
}

/// Unwrap a result in SQL-facing code: an `Err` becomes a PostgreSQL ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self) -> T {
        match self {
            Ok(value) => value,
            Err(error) => raise(error),
        }
    }
}

/// Run `body` with GUC `settings` changed; afterwards every setting is as
/// before, also one the body changed itself, even with a plain `SET` or
/// `set_config(…, false)` (which a function's `SET` clause would let
/// through), and also on error: as REFRESH MATERIALIZED VIEW brackets a
/// view's query. A user's code run inside must leave nothing behind for
/// the extension's bookkeeping (a search_path that finds the user's
/// operators first) or for later runs.
pub fn with_settings<T>(settings: &[(&str, &str)], body: impl FnOnce() -> T) -> T {
    // SAFETY: NewGUCNestLevel/AtEOXact_GUC bracket the changes; isCommit =
    // false undoes every change made at this level or deeper.
    let nest_level = unsafe { pg_sys::NewGUCNestLevel() };
    PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        for (name, value) in settings {
            let name = std::ffi::CString::new(*name).expect("setting names have no NUL");
            let value = std::ffi::CString::new(value.replace('\0', "")).unwrap_or_default();
            unsafe {
                pg_sys::set_config_option(
                    name.as_ptr(),
                    value.as_ptr(),
                    pg_sys::GucContext::PGC_USERSET,
                    pg_sys::GucSource::PGC_S_SESSION,
                    pg_sys::GucAction::GUC_ACTION_SAVE,
                    true,
                    pg_sys::PGERROR as i32,
                    false,
                );
            }
        }
        body()
    }))
    .finally(|| unsafe { pg_sys::AtEOXact_GUC(false, nest_level) })
    .execute()
}

/// Run `body` with cancel and terminate held off: a signal that comes
/// meanwhile is acted on at the first check after it. For recording what a
/// destination has already accepted, which a cancel must not undo.
/// `body` must run no user code: nothing would stop it.
pub fn holding_interrupts<T>(body: impl FnOnce() -> T) -> T {
    struct Held(u32);
    impl Drop for Held {
        fn drop(&mut self) {
            // SAFETY: this backend's own counter. Put back as it was, not
            // decremented: an ERROR raised inside has reset it to 0.
            unsafe { pg_sys::InterruptHoldoffCount = self.0 };
        }
    }
    // SAFETY: as HOLD_INTERRUPTS().
    let _held = Held(unsafe { pg_sys::InterruptHoldoffCount });
    unsafe { pg_sys::InterruptHoldoffCount += 1 };
    body()
}

/// SQL name of a type with its modifier, e.g. `numeric(10,2)`. Without a
/// modifier (-1) the name means "no modifier" too: `character` and `bit`
/// alone would mean character(1) and bit(1), so those are spelled
/// `pg_catalog.bpchar` and `pg_catalog."bit"`.
pub fn format_type(type_oid: pg_sys::Oid, type_mod: i32) -> String {
    if type_mod < 0 {
        let unmodified = match type_oid {
            pg_sys::BPCHAROID => Some("pg_catalog.bpchar"),
            pg_sys::BITOID => Some("pg_catalog.\"bit\""),
            pg_sys::BPCHARARRAYOID => Some("pg_catalog.bpchar[]"),
            pg_sys::BITARRAYOID => Some("pg_catalog.\"bit\"[]"),
            _ => None,
        };
        if let Some(name) = unmodified {
            return name.to_string();
        }
    }
    // SAFETY: format_type_with_typemod returns a palloc'd NUL-terminated string.
    unsafe {
        CStr::from_ptr(pg_sys::format_type_with_typemod(type_oid, type_mod))
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether a value of type `from` is converted to `to` by an assignment
/// (what a plain INSERT or UPDATE … SET does), without an explicit cast.
pub fn assignment_coerces(from: pg_sys::Oid, to: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup; no user code runs.
    unsafe { pg_sys::can_coerce_type(1, &from, &to, pg_sys::CoercionContext::COERCION_ASSIGNMENT) }
}
