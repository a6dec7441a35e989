//! Positions of a first run's operations, given as the model's rows arrive.
//!
//! A run against an empty snapshot reads its model straight into the ops
//! table in one pass (every keyed row is added), so each row's position is
//! handed out while the statement runs instead of by a second pass: keyed
//! rows take 1, 2, 3… in the model's order, rows with a NULL key take −1,
//! −2, … (they are logged as invalid, never delivered). A rerun that diffs
//! its model's keys as it reads them counts the model's rows the same way
//! (`handed_out`). Only this backend's counters move: another session
//! calling the function moves its own.

use std::cell::Cell;

thread_local! {
    /// The last positions handed out: (keyed rows, rows with a NULL key).
    static LAST: Cell<(i64, i64)> = const { Cell::new((0, 0)) };
}

/// Start numbering again, before a run's statement.
pub fn restart() {
    LAST.with(|last| last.set((0, 0)));
}

/// How many positions were handed out since the last `restart`.
pub fn handed_out() -> i64 {
    LAST.with(|last| {
        let (keyed, null_keys) = last.get();
        keyed + null_keys
    })
}

/// The next position for a row (`invalid`: its key is NULL).
pub fn next(invalid: bool) -> i64 {
    LAST.with(|last| {
        let (keyed, null_keys) = last.get();
        if invalid {
            last.set((keyed, null_keys + 1));
            -(null_keys + 1)
        } else {
            last.set((keyed + 1, null_keys));
            keyed + 1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_rows_count_up_from_one_and_invalid_ones_down_from_minus_one() {
        restart();
        assert_eq!(
            [
                next(false),
                next(true),
                next(false),
                next(true),
                next(false)
            ],
            [1, -1, 2, -2, 3]
        );
        assert_eq!(handed_out(), 5);
        restart();
        assert_eq!(next(false), 1);
        assert_eq!(handed_out(), 1);
    }
}
