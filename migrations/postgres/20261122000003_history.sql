-- When each dimension's scalingStatus last changed (Unix milliseconds; 0 for
-- rows written before this column existed), for the "stuck" alert.
ALTER TABLE dimensions ADD COLUMN IF NOT EXISTS status_since BIGINT NOT NULL DEFAULT 0;

-- Every stored change: who (method, client, request id), when, and each
-- changed field old -> new as a JSON array. Written in the same transaction
-- as the change; trimmed per dimension by count and age on the next change.
CREATE TABLE IF NOT EXISTS history (
    dimension_id TEXT    NOT NULL,
    revision     BIGINT  NOT NULL CHECK (revision >= 1),
    at           BIGINT  NOT NULL,
    created      BOOLEAN NOT NULL DEFAULT FALSE,
    method       TEXT    NOT NULL,
    client       TEXT,
    request_id   TEXT,
    changes      TEXT    NOT NULL,
    PRIMARY KEY (dimension_id, revision)
);
