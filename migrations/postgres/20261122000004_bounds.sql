-- Capacity bounds set by the admin API (PUT): a desiredCapacity outside
-- them is refused. NULL: no bound.
ALTER TABLE dimensions ADD COLUMN IF NOT EXISTS min_capacity DOUBLE PRECISION CHECK (min_capacity >= 0);
ALTER TABLE dimensions ADD COLUMN IF NOT EXISTS max_capacity DOUBLE PRECISION CHECK (max_capacity >= 0);
-- When the dimension was last stored (Unix ms; the timed demo style).
ALTER TABLE dimensions ADD COLUMN IF NOT EXISTS changed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS dimensions_status ON dimensions (scaling_status, id);
