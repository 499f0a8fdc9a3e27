-- Behind a transaction pooler (PgBouncer, RDS Proxy) nothing may need a
-- session of its own, so two things that used one are tables now.
--
-- Exclusive locks across replicas (the ACME order): a lease row, taken when
-- free or expired, renewed by its holder, deleted on release.
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT        NOT NULL PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The feed of changes the other replicas poll instead of LISTEN: one row per
-- change, with the id of the transaction that made it (a poll asks for the
-- transactions its previous snapshot did not see). Trimmed by age.
CREATE TABLE IF NOT EXISTS changes (
    xid          XID8        NOT NULL DEFAULT pg_current_xact_id(),
    dimension_id TEXT        NOT NULL,
    at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS changes_xid ON changes (xid);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);

-- Trimming history by age (on every change) is an index range scan, not a
-- scan of all of the dimension's kept entries.
CREATE INDEX IF NOT EXISTS history_age ON history (dimension_id, at);
