-- The history without its index by time. Every change wrote one more page
-- for it (a frame in the WAL, two `pwrite`s), and the writer's age trim was
-- its only user. That trim now finds the oldest entry it keeps
-- by the primary key, in revision order (reads already hide any entry
-- older than the age kept).
DROP INDEX history_at;
