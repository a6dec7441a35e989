//! The decisions a run makes from numbers alone, as plain functions: does
//! the diff hold duplicate keys, may this run remove what it plans to, and
//! how delivery is cut into windows.

use crate::error::{Error, Result, SqlState};
use crate::plan::Op;
use std::collections::HashMap;

/// The numbers `RunPlan::duplicate_check` reads from a fresh diff.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiffCounts {
    pub null_keys: i64,
    pub added: i64,
    pub snapshot_rows: i64,
    /// Removed rows that were in the snapshot (not mirror removals).
    pub removed: i64,
    pub new_keys_repeated: bool,
}

impl DiffCounts {
    /// Exact, without grouping the result: the keyed rows that matched the
    /// snapshot equal the snapshot rows still present only when no snapshot
    /// row was matched twice; repeated new keys show among the added.
    pub fn has_duplicates(&self, rows_queried: i64) -> bool {
        self.new_keys_repeated
            || rows_queried - self.null_keys - self.added != self.snapshot_rows - self.removed
    }
}

/// Whether the rows a keyed diff found to send are few enough to read from
/// the model again by key: up to a tenth of the model's rows. Beyond
/// that, reading them by key costs more than copying every row's fields,
/// and the run copies the model as any other run does.
pub fn worth_reading_by_key(rows_to_send: i64, rows_queried: i64) -> bool {
    rows_to_send.saturating_mul(10) <= rows_queried
}

/// Whether a rerun reads its keys first, given what the sync's latest run
/// that planned its operations sent (added, changed, rows the model
/// returned): not when it sent more than a tenth of its rows, since a
/// model that changes that much each run would read its keys for nothing
/// and then be copied anyway. A run that found every row new (a first
/// run, a full resync) says nothing about how much changes.
pub fn reads_keys_first_after(latest: Option<(i64, i64, i64)>) -> bool {
    match latest {
        Some((added, changed, rows_queried)) if added < rows_queried => {
            worth_reading_by_key(added.saturating_add(changed), rows_queried)
        }
        _ => true,
    }
}

/// Whether positions handed out while the model was read (a first run's)
/// are 1 to their count, as delivery windows need: with the primary key
/// on them (unique), a count equal to the span means no gap.
pub fn positions_are_whole(added: Option<&OpRange>) -> bool {
    added.is_none_or(|range| range.first == 1 && range.last == range.count)
}

/// The guard against accidental mass removal, as the sync configures it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RemovalGuard {
    pub max_removed_share: f64,
    pub allow_empty_model: bool,
    /// Removed rows act on the destination (delete behavior is not "nothing").
    pub removes_records: bool,
}

/// What a run would remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    pub removed: i64,
    pub snapshot_rows: i64,
    pub rows_queried: i64,
}

impl RemovalGuard {
    /// Refuse a run that would remove more than the allowed share of what
    /// was synced, or everything because the model suddenly returns nothing.
    /// `waived`: this run may remove anything (allow_mass_removal, or a full
    /// resync, which removes nothing).
    pub fn check(&self, removal: Removal, waived: bool) -> Result<()> {
        let Removal {
            removed,
            snapshot_rows,
            rows_queried,
        } = removal;
        if waived || !self.removes_records || snapshot_rows == 0 || removed == 0 {
            return Ok(());
        }
        let hint = "if this is intended, run once with sync_run(…, allow_mass_removal => true), \
                    or change the sync's max_removed_share / allow_empty_model";
        if rows_queried == 0 && !self.allow_empty_model {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "removal guard: the model returned no rows, which would remove all {snapshot_rows} rows synced so far; nothing was sent"
                ),
            )
            .with_hint(hint));
        }
        let share = removed as f64 / snapshot_rows as f64;
        if share > self.max_removed_share {
            return Err(Error::new(
                SqlState::ObjectNotInPrerequisiteState,
                format!(
                    "removal guard: this run would remove {removed} of the {snapshot_rows} rows synced so far ({:.0}%, more than max_removed_share {:.0}%); nothing was sent",
                    share * 100.0,
                    self.max_removed_share * 100.0
                ),
            )
            .with_hint(hint));
        }
        Ok(())
    }
}

/// First position, last position and count of one kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpRange {
    pub first: i64,
    pub last: i64,
    pub count: i64,
}

/// Operations `after < pos <= upto`, all of one kind: delivered and
/// recorded in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub op: Op,
    pub after: i64,
    pub upto: i64,
}

/// Delivery in windows of at most `step` operations, kind by kind in
/// delivery order (a window never mixes kinds).
pub fn windows(ranges: &HashMap<Op, OpRange>, step: i64) -> Vec<Window> {
    let step = step.max(1);
    let mut windows = Vec::new();
    for op in Op::DELIVERY_ORDER {
        let Some(range) = ranges.get(&op) else {
            continue;
        };
        let mut after = range.first - 1;
        while after < range.last {
            let upto = after.saturating_add(step).min(range.last);
            windows.push(Window { op, after, upto });
            after = upto;
        }
    }
    windows
}

/// The ranges the current configuration delivers: the removals of rows
/// delivered under earlier configurations (`earlier`, which follow the other
/// removals in position order) are left out, for their own destinations.
pub fn without_earlier_removals(
    mut ranges: HashMap<Op, OpRange>,
    earlier: &[OpRange],
) -> HashMap<Op, OpRange> {
    let Some(first_earlier) = earlier.iter().map(|r| r.first).min() else {
        return ranges;
    };
    if let Some(removed) = ranges.get_mut(&Op::Removed) {
        removed.count -= earlier.iter().map(|r| r.count).sum::<i64>();
        removed.last = first_earlier - 1;
        if removed.count <= 0 {
            ranges.remove(&Op::Removed);
        }
    }
    ranges
}

/// How a sync's snapshot hashes compare with what this server computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// Same server major and probe: nothing to do.
    Unchanged,
    /// Not recorded yet, or a new major that hashes the same: record it.
    Record,
    /// The hash function changed (a major upgrade): the stored hashes
    /// cannot be compared, so rows present in both are taken as unchanged.
    Rebaseline,
}

/// A sync's recorded hashing beside this server's, each (server major,
/// probe hash): looked up once per run, when the model is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingState {
    pub stored: Option<(i32, i64)>,
    pub current: (i32, i64),
}

impl HashingState {
    pub fn decision(&self) -> Hashing {
        hashing(self.stored, self.current)
    }
}

/// `stored` and `current` are (server major, probe hash).
pub fn hashing(stored: Option<(i32, i64)>, current: (i32, i64)) -> Hashing {
    match stored {
        Some(stored) if stored == current => Hashing::Unchanged,
        Some((_, probe)) if probe != current.1 => Hashing::Rebaseline,
        _ => Hashing::Record,
    }
}

/// Windows delivered one after another: the row-count windows of
/// `windows`, each cut shorter where a byte bound applies (`cut` says where
/// a window starting after a position must end, within the given one).
pub struct WindowCursor {
    windows: Vec<Window>,
    index: usize,
    after: Option<i64>,
    cuts_by_bytes: bool,
}

impl WindowCursor {
    pub fn new(windows: Vec<Window>, cuts_by_bytes: bool) -> WindowCursor {
        WindowCursor {
            windows,
            index: 0,
            after: None,
            cuts_by_bytes,
        }
    }

    pub fn next<E>(
        &mut self,
        mut cut: impl FnMut(Window) -> Result<Option<i64>, E>,
    ) -> Result<Option<Window>, E> {
        while let Some(&whole) = self.windows.get(self.index) {
            let after = self.after.unwrap_or(whole.after);
            if after >= whole.upto {
                self.index += 1;
                self.after = None;
                continue;
            }
            let rest = Window { after, ..whole };
            let upto = if self.cuts_by_bytes {
                // Always at least one position forward, never past the window.
                cut(rest)?
                    .unwrap_or(whole.upto)
                    .clamp(after + 1, whole.upto)
            } else {
                whole.upto
            };
            self.after = Some(upto);
            return Ok(Some(Window { upto, ..rest }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_rows_are_read_by_key_up_to_a_tenth_of_the_model() {
        assert!(worth_reading_by_key(0, 1_000_000));
        assert!(worth_reading_by_key(10_000, 1_000_000));
        assert!(worth_reading_by_key(100_000, 1_000_000));
        assert!(!worth_reading_by_key(100_001, 1_000_000));
        assert!(!worth_reading_by_key(1, 0));
        assert!(worth_reading_by_key(0, 0));
    }

    #[test]
    fn a_sync_that_sent_much_last_time_copies_its_model_this_time() {
        assert!(reads_keys_first_after(None));
        assert!(
            reads_keys_first_after(Some((1_000_000, 0, 1_000_000))),
            "a first run"
        );
        assert!(reads_keys_first_after(Some((0, 10_000, 1_000_000))));
        assert!(reads_keys_first_after(Some((500, 500, 10_000))));
        assert!(
            !reads_keys_first_after(Some((0, 1_000_000, 1_000_000))),
            "all changed"
        );
        assert!(!reads_keys_first_after(Some((200_000, 0, 1_000_000))));
        assert!(!reads_keys_first_after(Some((600, 500, 10_000))));
    }

    #[test]
    fn a_first_runs_positions_are_whole_from_one_to_their_count() {
        let range = |first, last, count| OpRange { first, last, count };
        assert!(positions_are_whole(None));
        assert!(positions_are_whole(Some(&range(1, 3, 3))));
        assert!(!positions_are_whole(Some(&range(1, 4, 3))), "a gap");
        assert!(!positions_are_whole(Some(&range(2, 4, 3))), "not from 1");
    }

    #[test]
    fn earlier_removals_are_left_out_of_the_current_ranges() {
        let range = |first, last| OpRange {
            first,
            last,
            count: last - first + 1,
        };
        let ranges = HashMap::from([(Op::Removed, range(1, 10)), (Op::Added, range(11, 20))]);
        let current = without_earlier_removals(ranges.clone(), &[range(8, 9), range(10, 10)]);
        assert_eq!(current[&Op::Removed], range(1, 7));
        assert_eq!(current[&Op::Added], range(11, 20));
        let current = without_earlier_removals(ranges.clone(), &[range(1, 10)]);
        assert!(!current.contains_key(&Op::Removed));
        assert_eq!(without_earlier_removals(ranges.clone(), &[]), ranges);
    }

    #[test]
    fn hashes_are_rebaselined_only_when_the_probe_changed() {
        assert_eq!(hashing(Some((15, 7)), (15, 7)), Hashing::Unchanged);
        assert_eq!(hashing(None, (15, 7)), Hashing::Record);
        assert_eq!(hashing(Some((14, 7)), (15, 7)), Hashing::Record);
        assert_eq!(hashing(Some((14, 6)), (15, 7)), Hashing::Rebaseline);
    }

    #[test]
    fn windows_are_cut_by_bytes_within_their_row_bound() {
        let ranges = HashMap::from([
            (
                Op::Removed,
                OpRange {
                    first: 1,
                    last: 3,
                    count: 3,
                },
            ),
            (
                Op::Added,
                OpRange {
                    first: 4,
                    last: 10,
                    count: 7,
                },
            ),
        ]);
        let all = |cursor: &mut WindowCursor, cut: &dyn Fn(Window) -> Option<i64>| {
            let mut out = Vec::new();
            while let Some(w) = cursor.next(|w| Ok::<_, ()>(cut(w))).unwrap() {
                out.push((w.op, w.after, w.upto));
            }
            out
        };
        let mut by_rows = WindowCursor::new(windows(&ranges, 4), false);
        assert_eq!(
            all(&mut by_rows, &|_| unreachable!()),
            vec![(Op::Removed, 0, 3), (Op::Added, 3, 7), (Op::Added, 7, 10)]
        );
        // Two rows' worth of bytes per window; a cut that goes nowhere or
        // too far is kept inside the window.
        let mut by_bytes = WindowCursor::new(windows(&ranges, 4), true);
        assert_eq!(
            all(&mut by_bytes, &|w| Some(if w.after == 7 {
                7
            } else {
                w.after + 2
            })),
            vec![
                (Op::Removed, 0, 2),
                (Op::Removed, 2, 3),
                (Op::Added, 3, 5),
                (Op::Added, 5, 7),
                (Op::Added, 7, 8),
                (Op::Added, 8, 10)
            ]
        );
    }

    #[test]
    fn duplicates_show_in_the_counts() {
        let clean = DiffCounts {
            null_keys: 1,
            added: 10,
            snapshot_rows: 90,
            removed: 5,
            new_keys_repeated: false,
        };
        // 96 rows: 1 null key, 10 new, 85 matched = 90 - 5 snapshot rows still there.
        assert!(!clean.has_duplicates(96));
        // One more row matching a snapshot row that is already matched.
        assert!(clean.has_duplicates(97));
        let repeated = DiffCounts {
            new_keys_repeated: true,
            ..clean
        };
        assert!(repeated.has_duplicates(96));
    }

    fn guard(share: f64) -> RemovalGuard {
        RemovalGuard {
            max_removed_share: share,
            allow_empty_model: false,
            removes_records: true,
        }
    }

    #[test]
    fn the_removal_guard_stops_mass_removal() {
        let removal = Removal {
            removed: 60,
            snapshot_rows: 100,
            rows_queried: 40,
        };
        let error = guard(0.5).check(removal, false).unwrap_err();
        assert_eq!(error.state.code(), "55000");
        assert!(error
            .message
            .starts_with("removal guard: this run would remove 60 of the 100 rows synced so far (60%, more than max_removed_share 50%)"));
        assert!(guard(0.6).check(removal, false).is_ok());
        assert!(guard(0.5).check(removal, true).is_ok(), "waived once");
        let keeps = RemovalGuard {
            removes_records: false,
            ..guard(0.5)
        };
        assert!(
            keeps.check(removal, false).is_ok(),
            "delete behavior nothing"
        );
    }

    #[test]
    fn an_empty_model_may_not_remove_everything() {
        let empty = Removal {
            removed: 100,
            snapshot_rows: 100,
            rows_queried: 0,
        };
        let error = guard(1.0).check(empty, false).unwrap_err();
        assert!(error.message.contains("the model returned no rows"));
        let allowed = RemovalGuard {
            allow_empty_model: true,
            ..guard(1.0)
        };
        assert!(allowed.check(empty, false).is_ok());
        let first_run = Removal {
            snapshot_rows: 0,
            ..empty
        };
        assert!(guard(0.0).check(first_run, false).is_ok());
    }

    #[test]
    fn windows_follow_delivery_order_and_never_mix_kinds() {
        let ranges = HashMap::from([
            (
                Op::Added,
                OpRange {
                    first: 4,
                    last: 8,
                    count: 5,
                },
            ),
            (
                Op::Removed,
                OpRange {
                    first: 1,
                    last: 3,
                    count: 3,
                },
            ),
        ]);
        let cut = windows(&ranges, 2);
        let expected = [
            (Op::Removed, 0, 2),
            (Op::Removed, 2, 3),
            (Op::Added, 3, 5),
            (Op::Added, 5, 7),
            (Op::Added, 7, 8),
        ];
        assert_eq!(
            cut.iter()
                .map(|w| (w.op, w.after, w.upto))
                .collect::<Vec<_>>(),
            expected
        );
        assert_eq!(windows(&ranges, i64::MAX).len(), 2, "one window per kind");
    }
}
