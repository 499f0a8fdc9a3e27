"""Seeds a migrated crest SQLite store with IDS dimensions bench-1..bench-IDS
(the ids bench/lua/*.lua ask for), each at revision ENTRIES with ENTRIES
history entries, then checkpoints its WAL. The entries are one per
dimension per second up to now (all within history_max_age, 30 days),
inserted in time order, as crest would have written them.

    python3 bench/seed_history.py PATH IDS ENTRIES

Used by bench/history.sh and bench/history_read.sh, and for the upgrade's
cost in bench/README.md (eighth round); run `crest migrate --store
sqlite:PATH` first. Works on files of crest builds from before migration
20261207000008 (which dropped `updated_at`).
"""
import sqlite3
import sys
import time

db = sqlite3.connect(sys.argv[1])
ids, entries = int(sys.argv[2]), int(sys.argv[3])
columns = ["id", "revision", "version", "resource_name", "dimension_name", "desired_capacity",
           "actual_capacity", "scaling_status"]
values = [1.0, 1.0, "Successful"]
if "updated_at" in [r[1] for r in db.execute("PRAGMA table_info(dimensions)")]:
    columns.append("updated_at")  # a crest from before migration 20261207000008
    values.append("2026-11-22T00:00:00.000Z")
now = int(time.time() * 1000)
change = '[{"field":"desiredCapacity","old":1.0,"new":2.0}]'
with db:
    db.executemany(f"INSERT INTO dimensions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   ([f"bench-{i}", entries, "MyVersion", "MyService", "MyDimension", *values]
                    for i in range(1, ids + 1)))
    db.executemany("INSERT INTO history (dimension_id, revision, at, created, method, client, request_id, changes)"
                   " VALUES (?, ?, ?, ?, 'PATCH', NULL, NULL, ?)",
                   ((f"bench-{i}", r, now - (entries - r) * 1000, r == 1, change)
                    for r in range(1, entries + 1) for i in range(1, ids + 1)))
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
