-- The scalingStatus CHECK as comparisons instead of `IN (...)`: SQLite builds
-- a temporary B-tree for an IN list each time a statement checks it, so every
-- INSERT and UPDATE of a dimension opened, filled and closed one (about 8 %
-- of a durable PATCH's instructions; bench/README.md). Same columns, same
-- rules, still WITHOUT ROWID.
CREATE TABLE dimensions_checked (
    id               TEXT    NOT NULL PRIMARY KEY,
    revision         INTEGER NOT NULL CHECK (revision >= 1),
    version          TEXT    NOT NULL,
    resource_name    TEXT    NOT NULL,
    dimension_name   TEXT    NOT NULL,
    desired_capacity REAL    NOT NULL CHECK (desired_capacity >= 0),
    actual_capacity  REAL    NOT NULL CHECK (actual_capacity >= 0),
    scaling_status   TEXT    NOT NULL CHECK (scaling_status = 'Pending' OR scaling_status = 'InProgress'
                                             OR scaling_status = 'Successful' OR scaling_status = 'Failed'),
    failure_reason   TEXT,
    updated_at       TEXT    NOT NULL,
    status_since     INTEGER NOT NULL DEFAULT 0,
    min_capacity     REAL    CHECK (min_capacity >= 0),
    max_capacity     REAL    CHECK (max_capacity >= 0),
    changed_at       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO dimensions_checked (id, revision, version, resource_name, dimension_name, desired_capacity,
    actual_capacity, scaling_status, failure_reason, updated_at, status_since, min_capacity, max_capacity, changed_at)
SELECT id, revision, version, resource_name, dimension_name, desired_capacity,
    actual_capacity, scaling_status, failure_reason, updated_at, status_since, min_capacity, max_capacity, changed_at
FROM dimensions;
DROP TABLE dimensions;
ALTER TABLE dimensions_checked RENAME TO dimensions;
CREATE INDEX dimensions_status ON dimensions (scaling_status, id);
