//! Registering, reading and listing domains.

use std::collections::HashSet;

use futures::{Stream, StreamExt, TryStreamExt, stream};
use ipnet::IpNet;
use jiff::Timestamp;
use sqlx::types::Json;
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::lifecycle::State;
use crate::name::DomainName;

use super::error::{Result, is_unique_violation};
use super::rows::{StateCount, domain_columns, lang_code, secs};
use super::{
    Backend, Domain, DomainFilter, NewDomain, Registry, RegistryError, builder, with_pool,
};

/// Most rows in one multi-row `INSERT`, to stay well within both databases' limits on
/// bound parameters (SQLite 32,766, PostgreSQL 65,535).
pub(super) const MAX_PARAMS: usize = 16_000;

/// The columns of a new domain, in the order [`push_new_domain`] binds them.
const NEW_DOMAIN_COLUMNS: &str = "(name, holder_name, holder_email, holder_lang, reseller, \
     profile, exception, status, state, deadline, expires, next_check, created, updated) ";
const NEW_DOMAIN_PARAMS: usize = 14;

impl Registry {
    /// Registers a domain. Fails with [`RegistryError::Duplicate`] if its name is taken.
    pub async fn add_domain(&self, domain: NewDomain, now: Timestamp) -> Result<Domain> {
        validate(&domain)?;
        let name = domain.name.to_string();
        let added = with_pool!(self, |pool| {
            let mut query = builder(pool);
            query.push("INSERT INTO domains ");
            query.push(NEW_DOMAIN_COLUMNS);
            query.push_values([&domain], |row, domain| push_new_domain(row, domain, now));
            query.push(concat!(" RETURNING ", domain_columns!()));
            query.build_query_as().fetch_one(pool).await
        });
        added.map_err(|e| {
            if is_unique_violation(&e) {
                RegistryError::Duplicate(name)
            } else {
                e.into()
            }
        })
    }

    /// Registers many domains at once, in one transaction (an import): all of them, or
    /// none if any name is taken ([`RegistryError::Duplicate`] names the first one).
    /// Returns how many were added.
    pub async fn add_domains(&self, domains: &[NewDomain], now: Timestamp) -> Result<u64> {
        let mut seen = HashSet::new();
        for domain in domains {
            validate(domain)?;
            if !seen.insert(&domain.name) {
                return Err(RegistryError::Duplicate(domain.name.to_string()));
            }
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in domains.chunks(MAX_PARAMS / NEW_DOMAIN_PARAMS) {
                let mut query = builder(pool);
                query.push("INSERT INTO domains ");
                query.push(NEW_DOMAIN_COLUMNS);
                query.push_values(chunk, |row, domain| push_new_domain(row, domain, now));
                query.push(" ON CONFLICT (name) DO NOTHING RETURNING name");
                let added: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
                if added.len() < chunk.len() {
                    // Dropping the transaction rolls the whole import back.
                    let added: HashSet<&str> = added.iter().map(String::as_str).collect();
                    let taken = chunk
                        .iter()
                        .find(|domain| !added.contains(domain.name.as_str()))
                        .map(|domain| domain.name.to_string())
                        .unwrap_or_default();
                    return Err(RegistryError::Duplicate(taken));
                }
            }
            tx.commit().await?;
            Ok(domains.len() as u64)
        })
    }

    /// The domain with this name, if registered.
    pub async fn domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        const SQL: &str = concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE name = $1"
        );
        let found = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(name.as_str())
                .fetch_optional(pool)
                .await
        });
        Ok(found?)
    }

    /// The domain with this identifier, if registered.
    pub async fn domain_by_id(&self, id: i64) -> Result<Option<Domain>> {
        const SQL: &str = concat!("SELECT ", domain_columns!(), " FROM domains WHERE id = $1");
        let found = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await
        });
        Ok(found?)
    }

    /// The domains that match `filter`, by name. Use [`DomainFilter::limit`] and
    /// [`DomainFilter::after_name`] (or [`stream_domains`](Self::stream_domains)) for
    /// large registries.
    pub async fn domains(&self, filter: &DomainFilter) -> Result<Vec<Domain>> {
        let backend = self.backend();
        let found = with_pool!(self, |pool| {
            let mut query = builder(pool);
            query.push(concat!("SELECT ", domain_columns!(), " FROM domains"));
            push_filter(&mut query, filter, backend);
            query.build_query_as().fetch_all(pool).await
        });
        Ok(found?)
    }

    /// Every domain that matches `filter` (its `limit` and `offset` are ignored), by
    /// name, read `page_size` at a time: memory stays bounded however many there are.
    pub fn stream_domains(
        &self,
        filter: DomainFilter,
        page_size: u64,
    ) -> impl Stream<Item = Result<Domain>> + '_ {
        let first = DomainFilter {
            limit: Some(page_size.max(1)),
            offset: 0,
            ..filter
        };
        stream::try_unfold(Some(first), move |next| async move {
            let Some(filter) = next else {
                return Ok::<_, RegistryError>(None);
            };
            let page = self.domains(&filter).await?;
            let following = match page.last() {
                Some(last) if page.len() as u64 == filter.limit.unwrap_or(u64::MAX) => {
                    Some(DomainFilter {
                        after_name: Some(last.name.to_string()),
                        ..filter
                    })
                }
                _ => None,
            };
            Ok(Some((page, following)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// Every domain's name and state (for the mail servers' snapshot).
    pub async fn domain_states(&self) -> Result<Vec<(String, State)>> {
        const SQL: &str = "SELECT name, state FROM domains";
        let rows: Vec<(String, String)> =
            with_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(name, state)| {
                let state = state
                    .parse()
                    .map_err(|e| RegistryError::Database(format!("bad stored state: {e}")))?;
                Ok((name, state))
            })
            .collect()
    }

    /// A number that changes whenever any domain is added, removed or changed (every
    /// change bumps a version): cheap to poll for changes.
    pub async fn domains_fingerprint(&self) -> Result<(i64, i64)> {
        const SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM domains";
        let fingerprint: (i64, i64) =
            with_pool!(self, |pool| sqlx::query_as(SQL).fetch_one(pool).await)?;
        Ok(fingerprint)
    }

    /// How many domains are in each state, for every state in lifecycle order.
    pub async fn count_by_state(&self) -> Result<Vec<(State, u64)>> {
        const SQL: &str = "SELECT state, COUNT(*) AS count FROM domains GROUP BY state";
        let rows: Vec<StateCount> =
            with_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(State::ALL
            .into_iter()
            .map(|state| {
                let count = rows
                    .iter()
                    .find(|row| row.0 == state)
                    .map_or(0, |row| row.1);
                (state, count)
            })
            .collect())
    }

    /// Replaces a domain's hybrid exception (extra allowed addresses). Bumps its version,
    /// so results computed with the old exception are not committed.
    pub async fn set_exception(
        &self,
        name: &DomainName,
        exception: Vec<IpNet>,
        now: Timestamp,
    ) -> Result<Domain> {
        const SQL: &str = concat!(
            "UPDATE domains SET exception = $2, version = version + 1, updated = $3 ",
            "WHERE name = $1 RETURNING ",
            domain_columns!()
        );
        let updated = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(name.as_str())
                .bind(Json(&exception))
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        updated.ok_or_else(|| RegistryError::NotFound(format!("domain {name}")))
    }
}

/// Checks what the database cannot.
fn validate(domain: &NewDomain) -> Result<()> {
    crate::contact::Contact::check(&domain.holder, domain.reseller.as_deref())
        .map_err(|error| RegistryError::Invalid(format!("{}: {error}", domain.name)))?;
    if domain.profile.trim().is_empty() {
        return Err(RegistryError::Invalid(format!(
            "no provider profile for {}",
            domain.name
        )));
    }
    Ok(())
}

/// Binds a new domain's values in [`NEW_DOMAIN_COLUMNS`] order.
fn push_new_domain<DB>(
    mut row: sqlx::query_builder::Separated<'_, DB, &'static str>,
    domain: &NewDomain,
    now: Timestamp,
) where
    DB: Database,
    String: for<'e> Encode<'e, DB> + Type<DB>,
    Option<String>: for<'e> Encode<'e, DB> + Type<DB>,
    i64: for<'e> Encode<'e, DB> + Type<DB>,
    Option<i64>: for<'e> Encode<'e, DB> + Type<DB>,
    Json<serde_json::Value>: for<'e> Encode<'e, DB> + Type<DB>,
{
    let status = &domain.status;
    row.push_bind(domain.name.to_string())
        .push_bind(domain.holder.name.clone())
        .push_bind(domain.holder.email.trim().to_owned())
        .push_bind(lang_code(domain.holder.lang).to_owned())
        .push_bind(domain.reseller.clone())
        .push_bind(domain.profile.clone())
        .push_bind(Json(serde_json::json!(domain.exception)))
        .push_bind(Json(serde_json::json!(status)))
        .push_bind(status.state.as_str().to_owned())
        .push_bind(status.deadline.map(secs))
        .push_bind(status.expires.map(secs))
        .push_bind(secs(domain.next_check))
        .push_bind(secs(now))
        .push_bind(secs(now));
}

/// Appends `WHERE …`, `ORDER BY name`, `LIMIT` and `OFFSET` for a domain filter.
fn push_filter<DB>(query: &mut QueryBuilder<DB>, filter: &DomainFilter, backend: Backend)
where
    DB: Database,
    String: for<'e> Encode<'e, DB> + Type<DB>,
    i64: for<'e> Encode<'e, DB> + Type<DB>,
{
    let mut conditions = 0;
    let mut and = |query: &mut QueryBuilder<DB>| {
        query.push(if conditions == 0 { " WHERE " } else { " AND " });
        conditions += 1;
    };
    if let Some(state) = filter.state {
        and(query);
        query.push("state = ").push_bind(state.as_str().to_owned());
    }
    if let Some(code) = &filter.code {
        and(query);
        match backend {
            Backend::Sqlite => query.push(
                "EXISTS (SELECT 1 FROM json_each(domains.last_check_codes) \
                 WHERE json_each.value = ",
            ),
            Backend::Postgres => query.push("jsonb_exists(last_check_codes, "),
        };
        query.push_bind(code.as_str().to_owned()).push(")");
    }
    if let Some(before) = filter.deadline_before {
        and(query);
        query.push("deadline < ").push_bind(secs(before));
    }
    if let Some(text) = &filter.name_contains {
        and(query);
        query
            .push("name LIKE ")
            .push_bind(format!("%{}%", escape_like(&text.trim().to_lowercase())))
            .push(" ESCAPE '\\'");
    }
    if let Some(after) = &filter.after_name {
        and(query);
        query.push("name > ").push_bind(after.clone());
    }
    query.push(" ORDER BY name LIMIT ");
    query.push_bind(filter.limit.map_or(i64::MAX, saturating_i64));
    query.push(" OFFSET ");
    query.push_bind(saturating_i64(filter.offset));
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A count or limit as the `BIGINT` databases take.
pub(super) fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
