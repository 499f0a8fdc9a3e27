-- Small named blobs crest keeps for itself: ACME account credentials and
-- certificates with their keys, keyed by directory URL + domain set.
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT NOT NULL PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
