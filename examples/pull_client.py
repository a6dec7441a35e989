"""The benchmark's "pull the rows out" client in Python, the way open-source
reverse-ETL tools written in interpreted languages do it: a server-side
cursor fetched 10,000 rows at a time, each row made a JSON object and its
SHA-1 compared with the hash kept from the pass before, and the changed
rows written back with COPY into a staging table and one upsert.

Protocol (driven by examples/bench.rs): the first pass runs at once and
prints "ready"; a line on stdin starts the timed pass, which prints its
seconds. Arguments: a libpq connection string, the model's columns.
Between the passes the hashes wait in a file, as they would on the
client's own machine: held here (~1.5 GB at 10M rows) they would take
page cache from the server whose runs are measured meanwhile. Loading
them back is not timed.
"""

import gc
import hashlib
import io
import json
import pickle
import sys
import tempfile
import time

import psycopg2


def changed_rows(connection, columns, hashes):
    changed = []
    with connection.cursor(name="pull") as cursor:
        cursor.itersize = 10000
        cursor.execute(f"SELECT {', '.join(columns)} FROM src")
        for row in cursor:
            record = dict(zip(columns, row))
            digest = hashlib.sha1(
                json.dumps(record, default=str, sort_keys=True).encode()
            ).digest()
            if hashes.get(row[0]) != digest:
                hashes[row[0]] = digest
                changed.append(row)
    connection.commit()
    return changed


def copy_text(value):
    if value is None:
        return "\\N"
    text = str(value)
    if isinstance(value, bool):
        text = "t" if value else "f"
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write_back(connection, columns, rows):
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(copy_text(v) for v in row) + "\n")
    buffer.seek(0)
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE pull_stage (LIKE pull_dest) ON COMMIT DROP")
        cursor.copy_expert("COPY pull_stage FROM STDIN", buffer)
        cursor.execute(
            "INSERT INTO pull_dest SELECT * FROM pull_stage "
            f"ON CONFLICT (id) DO UPDATE SET {assignments}"
        )
    connection.commit()


def main():
    dsn, columns = sys.argv[1], sys.argv[2].split(", ")
    connection = psycopg2.connect(dsn)
    hashes = {}
    changed_rows(connection, columns, hashes)
    with tempfile.TemporaryFile() as stored:
        pickle.dump(hashes, stored, protocol=pickle.HIGHEST_PROTOCOL)
        del hashes
        gc.collect()
        print("ready", flush=True)
        sys.stdin.readline()
        stored.seek(0)
        hashes = pickle.load(stored)
    start = time.monotonic()
    rows = changed_rows(connection, columns, hashes)
    write_back(connection, columns, rows)
    print(f"{time.monotonic() - start:.3f}", flush=True)


if __name__ == "__main__":
    main()
