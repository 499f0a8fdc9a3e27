//! The schema migrations of the SQLite and Postgres stores, embedded in the
//! binary from `migrations/sqlite/` and `migrations/postgres/` (a test checks
//! each list against its directory, so a new file cannot be forgotten).
//! Each file is one migration, named as sqlx names them:
//! `<version>_<description>.sql`, its checksum the SHA-384 of its bytes,
//! so both stores keep sqlx's `_sqlx_migrations` records as they were.

use sha2::{Digest, Sha384};

/// One migration file: its name and its SQL.
#[derive(Clone, Copy)]
pub struct Embedded {
    pub file: &'static str,
    pub sql: &'static str,
}

/// `embed!("dir", "a.sql", "b.sql")`: the files in `dir`, in that order.
macro_rules! embed {
    ($dir:literal, $($file:literal),+ $(,)?) => {
        &[$(Embedded { file: $file, sql: include_str!(concat!("../../", $dir, "/", $file)) }),+]
    };
}

/// `migrations/sqlite/`, oldest first.
pub const SQLITE: &[Embedded] = embed!(
    "migrations/sqlite",
    "20261121000001_dimensions.sql",
    "20261121000002_secrets.sql",
    "20261122000003_history.sql",
    "20261122000004_bounds.sql",
    "20261206000006_without_rowid.sql",
    "20261206000007_status_check.sql",
    "20261207000008_thirteen_columns.sql",
    "20261207000009_history_by_revision.sql",
    "20261207000010_history_without_index.sql",
    "20261207000011_history_appended.sql",
);

/// `migrations/postgres/`, oldest first.
pub const POSTGRES: &[Embedded] = embed!(
    "migrations/postgres",
    "20261121000001_dimensions.sql",
    "20261121000002_secrets.sql",
    "20261122000003_history.sql",
    "20261122000004_bounds.sql",
    "20261206000005_pooler.sql",
);

impl Embedded {
    /// The number before the first `_` (a test checks every file has one).
    pub fn version(&self) -> i64 {
        self.file.split_once('_').and_then(|(v, _)| v.parse().ok()).unwrap_or(-1)
    }

    /// After the first `_`, without `.sql`, `_` read as space (as sqlx reads it).
    pub fn description(&self) -> String {
        let rest = self.file.split_once('_').map_or(self.file, |(_, d)| d);
        rest.trim_end_matches(".sql").replace('_', " ")
    }

    /// SHA-384 of the SQL: what sqlx records in `_sqlx_migrations.checksum`.
    pub fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// The migrations of `known` (from `migrations/<dir>/`) that a database
/// whose `_sqlx_migrations` holds `applied` (version, checksum, success)
/// still lacks, oldest first; or why crest must not touch its schema: a
/// migration recorded as failed, one this binary does not know (a newer
/// crest migrated it), or one applied from other SQL (another checksum).
///
/// # Errors
/// The refusal, in words that say what to do.
pub fn pending<'a>(
    known: &'a [Embedded],
    applied: &[(i64, Vec<u8>, bool)],
    dir: &str,
) -> Result<Vec<&'a Embedded>, String> {
    if let Some((version, ..)) = applied.iter().filter(|(.., ok)| !ok).min_by_key(|(v, ..)| *v) {
        return Err(format!(
            "migration {version} is recorded as failed (success = false in _sqlx_migrations), so the schema \
             may be half changed; crest will not serve from it: restore it from a backup"
        ));
    }
    if let Some((unknown, ..)) = applied.iter().find(|(v, ..)| !known.iter().any(|m| m.version() == *v)) {
        let newest = known.last().map_or(0, Embedded::version);
        return Err(format!(
            "this database was migrated by a newer crest (migration {unknown}; this crest knows migrations up to \
             {newest}): run that crest or a newer one, or restore a backup made for this version"
        ));
    }
    let mut missing = Vec::new();
    for m in known {
        match applied.iter().find(|(v, ..)| *v == m.version()) {
            Some((_, checksum, _)) if *checksum != m.checksum() => {
                return Err(format!(
                    "migration {} ({}) was applied from other SQL than this crest's migrations/{dir}/{} \
                     (its checksum in _sqlx_migrations differs); crest will not change a schema it does not \
                     know: use the crest that migrated this database, or restore a backup",
                    m.version(),
                    m.description(),
                    m.file
                ));
            }
            Some(_) => {}
            None => missing.push(m),
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::{Embedded, POSTGRES, SQLITE};

    fn files_in(dir: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        names.sort();
        names
    }

    /// Every file in the directory is embedded, in version order, and each
    /// is a plain (not reversible, not `-- no-transaction`) migration.
    #[test]
    fn each_list_is_its_directory() {
        for (dir, list) in [("migrations/sqlite", SQLITE), ("migrations/postgres", POSTGRES)] {
            let embedded: Vec<String> = list.iter().map(|m| m.file.to_owned()).collect();
            assert_eq!(embedded, files_in(dir), "{dir}: add the new file to the list in src/store/migrations.rs");
            for pair in list.windows(2) {
                assert!(pair[0].version() < pair[1].version(), "{dir}: {} before {}", pair[0].file, pair[1].file);
            }
            for m in list {
                assert!(m.version() > 0 && m.file.ends_with(".sql"), "{dir}/{}: <version>_<description>.sql", m.file);
                assert!(!m.file.ends_with(".up.sql") && !m.file.ends_with(".down.sql"), "{dir}/{}", m.file);
                assert!(
                    !m.sql.starts_with("-- no-transaction"),
                    "{dir}/{}: each migration runs in a transaction",
                    m.file
                );
                let on_disk = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(m.file));
                assert_eq!(on_disk.ok().as_deref(), Some(m.sql.as_bytes()), "{dir}/{}", m.file);
            }
        }
    }

    #[test]
    fn names_read_as_sqlx_reads_them() {
        let m = Embedded { file: "20261122000003_status_since_and_history.sql", sql: "" };
        assert_eq!((m.version(), m.description().as_str()), (20_261_122_000_003, "status since and history"));
        // sqlx 0.8 recorded this for migrations/sqlite/20261121000001_dimensions.sql.
        let first = SQLITE[0];
        assert_eq!((first.version(), first.description().as_str()), (20_261_121_000_001, "dimensions"));
        assert_eq!(
            hex::encode(first.checksum()),
            "1bda3c50bfb88d6eed90a4a5a8cbbedfcaa0523cfbbd7b6fb5d195f003c22b72c4637822f0c83077e45b54b246bdb8a2"
        );
    }
}
