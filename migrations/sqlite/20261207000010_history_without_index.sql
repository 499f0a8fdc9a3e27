-- The history without its index by time. Every change wrote one more page
-- for it (the dimension's row, its newest history entry, and this index's
-- entry: three pages in the WAL and two `pwrite`s each), and the writer's
-- age trim was its only user. That trim now finds the oldest entry it keeps
-- by the primary key, in revision order (reads already hide any entry
-- older than the age kept).
DROP INDEX history_at;
