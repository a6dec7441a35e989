//! Small conveniences over pgrx's SPI, returning `Error` values.

use crate::error::{Error, SqlState};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiError;

impl From<SpiError> for Error {
    fn from(error: SpiError) -> Self {
        Error::new(SqlState::InternalError, format!("SPI: {error}"))
    }
}

/// Run a statement; returns the number of rows it processed.
pub fn execute(sql: &str, args: &[DatumWithOid]) -> Result<u64, Error> {
    Spi::connect_mut(|client| Ok(client.update(sql, None, args)?.len() as u64))
}

/// Run a statement that returns at most one row of one column. No row
/// limit is passed to the executor: with one, an INSERT … RETURNING stops
/// early and its statement-level AFTER triggers never fire.
pub fn one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Option<T>, Error> {
    Spi::connect_mut(|client| {
        let table = client.update(sql, None, args)?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get::<T>(1)?)
    })
}

/// Run a query and map every row.
pub fn rows<T>(
    sql: &str,
    args: &[DatumWithOid],
    mut map: impl FnMut(&pgrx::spi::SpiHeapTupleData) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    Spi::connect_mut(|client| {
        let table = client.update(sql, None, args)?;
        let mut out = Vec::with_capacity(table.len());
        for row in table {
            out.push(map(&row)?);
        }
        Ok(out)
    })
}

/// Read a non-null column of a row, naming it in the error otherwise.
pub fn get<T: FromDatum + IntoDatum>(
    row: &pgrx::spi::SpiHeapTupleData,
    ordinal: usize,
) -> Result<T, Error> {
    row.get::<T>(ordinal)?.ok_or_else(|| {
        Error::new(
            SqlState::InternalError,
            format!("unexpected NULL in result column {ordinal}"),
        )
    })
}
