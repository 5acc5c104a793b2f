//! The providers' index entry: what it lists now, what changed, its publications.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use std::collections::BTreeSet;

use crate::index::{Provider, ldif_hash, render};
use crate::registry::index::Publication;
use crate::registry::{Registry, RegistryError};

/// The last recorded publication, as `index diff` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndexSince {
    /// When it was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// How many domains it listed.
    pub domains: usize,
    /// The SHA-256 of its LDIF.
    pub hash: String,
    /// Its identifier.
    pub id: i64,
}

/// What changed since the last recorded publication (`pecwatch index diff --format
/// json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndexDiff {
    /// Domains listed now and not then, sorted.
    pub added: Vec<String>,
    /// How many domains the entry lists now.
    pub domains: usize,
    /// Whether the entry's other attributes changed (null without a publication).
    pub entry_changed: Option<bool>,
    /// Domains listed then and not now, sorted.
    pub removed: Vec<String>,
    /// The last publication (null if none was recorded).
    pub since: Option<IndexSince>,
}

impl IndexDiff {
    /// What changed between the publication `last` (if any) and the domains listed
    /// `now`; `entry_changed` is left unknown.
    pub fn new(last: Option<&Publication>, now: &[String]) -> Self {
        let before: BTreeSet<&String> = last.map_or(&[][..], |p| &p.domains[..]).iter().collect();
        let current: BTreeSet<&String> = now.iter().collect();
        IndexDiff {
            added: current.difference(&before).map(|s| (*s).clone()).collect(),
            domains: now.len(),
            entry_changed: None,
            removed: before.difference(&current).map(|s| (*s).clone()).collect(),
            since: last.map(|p| IndexSince {
                at: p.at,
                domains: p.domains.len(),
                hash: p.hash.clone(),
                id: p.id,
            }),
        }
    }

    /// What changed since the last recorded publication; with the provider's entry
    /// attributes (`[index]` complete), whether the rest of the entry changed too.
    pub async fn load(
        registry: &Registry,
        provider: Option<&Provider>,
    ) -> Result<Self, RegistryError> {
        let current = registry.published_domains().await?;
        let last = registry.last_publication().await?;
        let mut diff = IndexDiff::new(last.as_ref(), &current);
        if let (Some(provider), Some(last)) = (provider, &last) {
            // The entry the publication would have with today's attributes: if its hash
            // differs, something besides the domains changed (a renewed certificate…).
            let with_old_domains = render(provider, last.domains.iter().map(String::as_str));
            diff.entry_changed = Some(ldif_hash(&with_old_domains) != last.hash);
        }
        Ok(diff)
    }

    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty() || self.entry_changed == Some(true)
    }
}

/// The entry as `pecwatch index export` would write it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndexExport {
    /// How many domains it lists.
    pub count: usize,
    /// The domains it lists, sorted.
    pub domains: Vec<String>,
    /// The SHA-256 of the LDIF, lower-case hexadecimal.
    pub hash: String,
    /// The LDIF.
    pub ldif: String,
}

/// A recorded publication of the entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicationView {
    /// When it was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// How many domains it listed.
    pub count: usize,
    /// The domains it listed, sorted.
    pub domains: Vec<String>,
    /// The SHA-256 of its LDIF.
    pub hash: String,
    /// Its identifier, increasing with time.
    pub id: i64,
    /// Its LDIF (only when it is recorded; lists leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldif: Option<String>,
}

impl PublicationView {
    /// The view of `publication`; with `ldif`, its LDIF too.
    pub fn new(publication: &Publication, ldif: bool) -> Self {
        PublicationView {
            at: publication.at,
            count: publication.domains.len(),
            domains: publication.domains.clone(),
            hash: publication.hash.clone(),
            id: publication.id,
            ldif: ldif.then(|| publication.ldif.clone()),
        }
    }
}

/// The latest publications, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Publications {
    /// The publications, without their LDIF.
    pub publications: Vec<PublicationView>,
}
