"""Seeds a migrated crest SQLite store with N dimensions bench-1..bench-N
(the ids bench/lua/*.lua ask for), then checkpoints its WAL.

    python3 bench/seed_sqlite.py PATH N

Used by bench/callgrind.sh and bench/wal_growth.sh (run `crest migrate
--store sqlite:PATH` first).
"""
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
rows = ((f"bench-{i}", 1, "MyVersion", "MyService", "MyDimension", 1.0, 1.0, "Successful", None) for i in range(1, int(sys.argv[2]) + 1))
with db:
    db.executemany("INSERT INTO dimensions (id, revision, version, resource_name, dimension_name,"
                   " desired_capacity, actual_capacity, scaling_status, failure_reason)"
                   " VALUES (?,?,?,?,?,?,?,?,?)", rows)
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
