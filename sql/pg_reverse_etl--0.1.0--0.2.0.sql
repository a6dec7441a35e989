-- pg_reverse_etl 0.1.0 → 0.2.0 (in development: this script may change
-- until 0.2.0 is released; after that it is frozen like the others).
-- Every schema change since 0.1.0 is here, in order; tests/upgrade.rs checks
-- that 0.1.0 plus this script equals a fresh 0.2.0 install.

-- set_sync_labels(sync, NULL) takes every label off instead of doing
-- nothing: the functions are no longer STRICT.
ALTER FUNCTION reverse_etl.set_sync_labels(text, text[]) CALLED ON NULL INPUT;
ALTER FUNCTION reverse_etl.set_sync_labels(bigint, text[]) CALLED ON NULL INPUT;
