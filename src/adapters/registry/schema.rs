//! The schema's state (which migrations a database has) and SQLite's online backup: for
//! `pecwatch db status`, `db migrate`, `db backup` and `pecwatch doctor`.

use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;

use super::{Backend, POSTGRES_MIGRATIONS, Registry, RegistryError, Result, SQLITE_MIGRATIONS};

/// One migration: known to this program, applied to the database, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    /// Its number (`8`).
    pub version: i64,
    /// Its name (`workers`).
    pub description: String,
    /// When it was applied; `None`: pending.
    pub applied_at: Option<Timestamp>,
    /// Whether this program knows it (a database written by a newer pecwatch has
    /// migrations this one does not).
    pub known: bool,
}

/// The schema of a database compared with this program's migrations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    /// Every migration, by version.
    pub migrations: Vec<MigrationState>,
}

impl SchemaStatus {
    /// The migrations this program would apply.
    pub fn pending(&self) -> impl Iterator<Item = &MigrationState> {
        self.migrations.iter().filter(|m| m.applied_at.is_none())
    }

    /// The migrations applied to the database that this program does not know (the
    /// database was written by a newer version).
    pub fn unknown(&self) -> impl Iterator<Item = &MigrationState> {
        self.migrations.iter().filter(|m| !m.known)
    }

    /// Whether the schema is exactly this program's.
    pub fn up_to_date(&self) -> bool {
        self.pending().next().is_none() && self.unknown().next().is_none()
    }
}

/// Combines the known migrations with the applied ones (`version`, `description`,
/// applied at).
fn combine(known: &[(i64, &str, &str)], applied: Vec<(i64, String, Timestamp)>) -> SchemaStatus {
    let mut migrations: Vec<MigrationState> = known
        .iter()
        .map(|&(version, description, _)| MigrationState {
            version,
            description: description.to_owned(),
            applied_at: applied
                .iter()
                .find(|(v, _, _)| *v == version)
                .map(|(_, _, at)| *at),
            known: true,
        })
        .collect();
    for (version, description, at) in applied {
        if !known.iter().any(|&(v, _, _)| v == version) {
            migrations.push(MigrationState {
                version,
                description,
                applied_at: Some(at),
                known: false,
            });
        }
    }
    migrations.sort_by_key(|m| m.version);
    SchemaStatus { migrations }
}

/// `2026-12-05 10:00:00` (UTC, as both databases are asked to write it) as an instant.
fn parse_applied(text: &str) -> Result<Timestamp> {
    let text = text.trim();
    let civil: jiff::civil::DateTime = text
        .get(..19)
        .unwrap_or(text)
        .replace(' ', "T")
        .parse()
        .map_err(|e| RegistryError::Database(format!("bad migration time {text:?}: {e}")))?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(civil)
        .map_err(|e| RegistryError::Database(format!("bad migration time {text:?}: {e}")))
}

impl Registry {
    /// This program's migrations for this database: `(version, name, SQL)`.
    pub(super) fn known_migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        match self.backend() {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// Which migrations the database has and which it lacks. Reads only.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let rows: Vec<(i64, String, String)> = match self {
            Registry::Sqlite(pool) => {
                let exists: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name = '_sqlx_migrations'",
                )
                .fetch_optional(pool)
                .await?;
                if exists.is_none() {
                    Vec::new()
                } else {
                    sqlx::query_as(
                        "SELECT version, description, CAST(installed_on AS TEXT) \
                         FROM _sqlx_migrations WHERE success ORDER BY version",
                    )
                    .fetch_all(pool)
                    .await?
                }
            }
            Registry::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if !exists {
                    Vec::new()
                } else {
                    sqlx::query_as(
                        "SELECT version, description, \
                         to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
                         FROM _sqlx_migrations WHERE success ORDER BY version",
                    )
                    .fetch_all(pool)
                    .await?
                }
            }
        };
        let applied = rows
            .into_iter()
            .map(|(version, description, at)| Ok((version, description, parse_applied(&at)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(combine(self.known_migrations(), applied))
    }

    /// Copies a SQLite registry, while it is in use, into a new file `path` (`VACUUM
    /// INTO`: a consistent snapshot, readers and writers go on). Refuses an existing file,
    /// and PostgreSQL (whose backups are `pg_dump`'s job).
    pub async fn backup_to(&self, path: &Path) -> Result<()> {
        let Registry::Sqlite(pool) = self else {
            return Err(RegistryError::Invalid(
                "the database is PostgreSQL: back it up with pg_dump \
                 (pg_dump -Fc -f pecwatch.dump DATABASE; restore with pg_restore -d DATABASE \
                 pecwatch.dump)"
                    .into(),
            ));
        };
        if path.exists() {
            return Err(RegistryError::Invalid(format!(
                "{} already exists: choose a new file (a backup never overwrites one)",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(RegistryError::Invalid(format!(
                "the directory {} does not exist",
                dir.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            RegistryError::Invalid(format!("{} is not a UTF-8 path", path.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await
            .map_err(|e| {
                RegistryError::Database(format!(
                    "cannot back up into {}: {}",
                    path.display(),
                    super::error::describe(&e)
                ))
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_pending_and_unknown_migrations() {
        let known = [(1, "registry", ""), (2, "sweeps", ""), (3, "notices", "")];
        let at = parse_applied("2026-12-05 10:00:00").unwrap();
        assert_eq!(at.to_string(), "2026-12-05T10:00:00Z");
        let status = combine(&known, vec![(1, "registry".into(), at)]);
        let pending: Vec<i64> = status.pending().map(|m| m.version).collect();
        assert_eq!(pending, [2, 3]);
        assert!(!status.up_to_date());

        let newer = combine(
            &known[..1],
            vec![(1, "registry".into(), at), (2, "future".into(), at)],
        );
        let unknown: Vec<&str> = newer.unknown().map(|m| m.description.as_str()).collect();
        assert_eq!(unknown, ["future"]);
        assert!(!newer.up_to_date());
        let all = combine(&known[..1], vec![(1, "registry".into(), at)]);
        assert!(all.up_to_date());
        assert!(parse_applied("yesterday").is_err());
    }
}
