//! Transactions of a background worker: each phase of a run, and each batch,
//! commits on its own so that progress is visible live.

use super::catch;
use crate::error::Result;
use pgrx::prelude::*;

/// Run `body` in a transaction of its own: committed when it returns `Ok`,
/// rolled back when it returns `Err` or raises.
pub fn in_transaction<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: the standard worker transaction bracket; on error the
    // transaction is aborted exactly as PostgresMain does after an ERROR.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    match catch(body).and_then(|inner| inner) {
        Ok(value) => unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
            Ok(value)
        },
        Err(error) => unsafe {
            pg_sys::AbortCurrentTransaction();
            pg_sys::MemoryContextSwitchTo(pg_sys::TopMemoryContext);
            Err(error)
        },
    }
}
