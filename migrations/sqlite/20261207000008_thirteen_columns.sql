-- The dimensions without `updated_at`: it held, as text, what `changed_at`
-- holds in Unix ms (when the dimension was last stored), and nothing read
-- it. Thirteen columns let SQLite compare ids in the table's B-tree with
-- its string comparison instead of the general record comparison it uses
-- for records of more than thirteen fields, and each row is shorter: a
-- read of a dimension not in crest's memory cache costs about 1,200
-- instructions less with 1,000,000 dimensions (bench/README.md). A row
-- stored before `changed_at` existed (0: unknown) keeps its time: it is
-- taken from `updated_at`. Same other columns, same constraints.
CREATE TABLE dimensions_13 (
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
    status_since     INTEGER NOT NULL DEFAULT 0,
    min_capacity     REAL    CHECK (min_capacity >= 0),
    max_capacity     REAL    CHECK (max_capacity >= 0),
    changed_at       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO dimensions_13 (id, revision, version, resource_name, dimension_name, desired_capacity,
    actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity, changed_at)
SELECT id, revision, version, resource_name, dimension_name, desired_capacity,
    actual_capacity, scaling_status, failure_reason, status_since, min_capacity, max_capacity,
    CASE WHEN changed_at > 0 THEN changed_at
         ELSE max(0, coalesce(CAST(round((julianday(updated_at) - 2440587.5) * 86400000) AS INTEGER), 0)) END
FROM dimensions;
DROP TABLE dimensions;
ALTER TABLE dimensions_13 RENAME TO dimensions;
CREATE INDEX dimensions_status ON dimensions (scaling_status, id);
