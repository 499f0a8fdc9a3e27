-- One row per scalable target dimension (CONTRACT.md, "Resource").
CREATE TABLE IF NOT EXISTS dimensions (
    id               TEXT             NOT NULL PRIMARY KEY,
    revision         BIGINT           NOT NULL CHECK (revision >= 1),
    version          TEXT             NOT NULL,
    resource_name    TEXT             NOT NULL,
    dimension_name   TEXT             NOT NULL,
    desired_capacity DOUBLE PRECISION NOT NULL CHECK (desired_capacity >= 0),
    actual_capacity  DOUBLE PRECISION NOT NULL CHECK (actual_capacity >= 0),
    scaling_status   TEXT             NOT NULL CHECK (scaling_status IN ('Pending', 'InProgress', 'Successful', 'Failed')),
    failure_reason   TEXT,
    updated_at       TIMESTAMPTZ      NOT NULL DEFAULT now()
);
