-- Capacity bounds set by the admin API (PUT): a desiredCapacity outside
-- them is refused. NULL: no bound.
ALTER TABLE dimensions ADD COLUMN min_capacity REAL CHECK (min_capacity >= 0);
ALTER TABLE dimensions ADD COLUMN max_capacity REAL CHECK (max_capacity >= 0);
-- When the dimension was last stored (Unix ms; the timed demo style).
ALTER TABLE dimensions ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS dimensions_status ON dimensions (scaling_status, id);
