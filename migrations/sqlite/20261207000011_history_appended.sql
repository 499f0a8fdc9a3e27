-- The history as a table with rowids again, each new entry appended at its
-- end, beside the unique index on (dimension_id, revision) that reads and
-- the trim seek by. As a WITHOUT ROWID table (migration 9) keyed by
-- (dimension_id, revision), every change inserted its entry (a hundred
-- bytes or more) into the middle of the table's B-tree, in its dimension's
-- leaf: changes spread over many dimensions dirtied a different leaf each,
-- split them, and made the writer's commits and the checkpoints copy
-- scattered pages; the durable PATCH's p99 doubled (bench/README.md,
-- seventh and eighth rounds). Appended entries share the table's last leaf,
-- and the index's entries are small. Same columns, same constraints.
CREATE TABLE history_appended (
    dimension_id TEXT    NOT NULL,
    revision     INTEGER NOT NULL CHECK (revision >= 1),
    at           INTEGER NOT NULL,
    created      INTEGER NOT NULL DEFAULT 0,
    method       TEXT    NOT NULL,
    client       TEXT,
    request_id   TEXT,
    changes      TEXT    NOT NULL,
    PRIMARY KEY (dimension_id, revision)
);
INSERT INTO history_appended (dimension_id, revision, at, created, method, client, request_id, changes)
SELECT dimension_id, revision, at, created, method, client, request_id, changes FROM history ORDER BY at, dimension_id, revision;
DROP TABLE history;
ALTER TABLE history_appended RENAME TO history;
