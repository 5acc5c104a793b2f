//! The providers' index: the domains it lists, and the record of its publications.
//!
//! A *publication* is one export of the index that was recorded (`pecwatch index export
//! --record`): when, the SHA-256 of the LDIF, the domains it listed and the LDIF itself.
//! `pecwatch index diff` compares the domains the index lists now with the last
//! publication's.

use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

use crate::lifecycle::State;

use super::domains::saturating_i64;
use super::error::Result;
use super::rows::secs;
use super::{Registry, RegistryError, builder, with_pool};

/// The SHA-256 of an LDIF text, lower-case hexadecimal: how publications are identified
/// and compared.
pub fn ldif_hash(ldif: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(ldif.as_bytes()))
}

/// One recorded publication of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// Its identifier, increasing with time.
    pub id: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The SHA-256 of the LDIF, lower-case hexadecimal ([`ldif_hash`]).
    pub hash: String,
    /// The domains it listed (`managedDomains`), sorted.
    pub domains: Vec<String>,
    /// The LDIF as published.
    pub ldif: String,
}

/// The columns a [`Publication`] is read from, in [`PublicationRow`]'s order.
const PUBLICATION_COLUMNS: &str = "id, at, hash, domain_count, domains, ldif";

/// A publication as stored: `(id, at, hash, domain_count, domains, ldif)`.
type PublicationRow = (i64, i64, String, i64, String, String);

/// A stored row back to a [`Publication`], checking that its count matches its list.
fn publication((id, at, hash, count, domains, ldif): PublicationRow) -> Result<Publication> {
    let at = Timestamp::from_second(at)
        .map_err(|e| RegistryError::Database(format!("publication {id}: bad time {at}: {e}")))?;
    let domains: Vec<String> = domains
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if i64::try_from(domains.len()).ok() != Some(count) {
        return Err(RegistryError::Database(format!(
            "publication {id}: it counts {count} domains but lists {}",
            domains.len()
        )));
    }
    Ok(Publication {
        id,
        at,
        hash,
        domains,
        ldif,
    })
}

impl Registry {
    /// The names of the domains the index lists now: those in a state that is
    /// [`State::is_published`] (`certified`, `in_error`), sorted byte-wise (the same on
    /// both databases, whatever their collation).
    pub async fn published_domains(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = with_pool!(self, |pool| {
            let mut query = builder(pool);
            query.push("SELECT name FROM domains WHERE state IN (");
            let mut states = query.separated(", ");
            for state in State::ALL.into_iter().filter(|state| state.is_published()) {
                states.push_bind(state.as_str());
            }
            query.push(")");
            query.build_query_scalar().fetch_all(pool).await
        })?;
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Records a publication of `ldif`, which lists `domains`, at `at`. The domains are
    /// stored sorted; the hash is computed here.
    pub async fn record_publication(
        &self,
        at: Timestamp,
        ldif: &str,
        domains: &[String],
    ) -> Result<Publication> {
        let mut sorted: Vec<&str> = domains.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some(bad) = sorted
            .iter()
            .find(|name| name.is_empty() || name.contains('\n'))
        {
            return Err(RegistryError::Invalid(format!(
                "not a domain name for a publication: {bad:?}"
            )));
        }
        let count = saturating_i64(sorted.len() as u64);
        let list = sorted.join("\n");
        let hash = ldif_hash(ldif);
        let sql = format!(
            "INSERT INTO publications (at, hash, domain_count, domains, ldif) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {PUBLICATION_COLUMNS}"
        );
        let row: PublicationRow = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(secs(at))
                .bind(&hash)
                .bind(count)
                .bind(&list)
                .bind(ldif)
                .fetch_one(pool)
                .await
        })?;
        publication(row)
    }

    /// The latest recorded publication, if any.
    pub async fn last_publication(&self) -> Result<Option<Publication>> {
        Ok(self.publications(1).await?.into_iter().next())
    }

    /// The latest `limit` publications, newest first.
    pub async fn publications(&self, limit: u64) -> Result<Vec<Publication>> {
        let sql =
            format!("SELECT {PUBLICATION_COLUMNS} FROM publications ORDER BY id DESC LIMIT $1");
        let rows: Vec<PublicationRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(publication).collect()
    }
}
