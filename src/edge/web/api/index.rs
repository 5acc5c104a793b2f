//! `/api/v1/index`: the providers' index entry as `pecwatch index export|diff` sees it,
//! and its publications. The LDIF itself is at `/index.ldif` ([`crate::web::index`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{json, query};
use crate::Lang;
use crate::cli::index::{compute_diff, diff_json};
use crate::registry::index::Publication;
use crate::web::AppState;
use crate::web::auth::{Operator, Reader};
use crate::web::index::{current, provider};
use crate::web::problem::Problem;

/// A publication's JSON; with `ldif`, the LDIF too.
fn publication_json(publication: &Publication, ldif: bool) -> Value {
    let mut value = json!({
        "id": publication.id,
        "at": publication.at,
        "hash": publication.hash,
        "count": publication.domains.len(),
        "domains": publication.domains,
    });
    if ldif {
        value["ldif"] = json!(publication.ldif);
    }
    value
}

/// `GET /api/v1/index`: the entry as `index export` would write it now: the LDIF, its
/// SHA-256 and the domains it lists.
pub async fn export(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
) -> Result<Response, Problem> {
    let current = current(&state, lang).await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "hash": current.hash,
            "count": current.domains.len(),
            "domains": current.domains,
            "ldif": current.ldif,
        }),
    ))
}

/// `GET /api/v1/index/diff`: what changed since the last recorded publication, the JSON
/// of `index diff --format json`.
pub async fn diff(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
) -> Result<Response, Problem> {
    // Without a complete [index] only the domains are compared, as on the command line.
    let provider = provider(&state.config, lang).ok();
    let (last, changes, count) = compute_diff(&state.registry, provider.as_ref())
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    Ok(json(
        StatusCode::OK,
        diff_json(last.as_ref(), &changes, count),
    ))
}

/// The query of `GET /api/v1/index/publications`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationsQuery {
    /// How many, newest first (1 to 1000, default 20).
    pub limit: Option<u64>,
}

/// `GET /api/v1/index/publications`: the latest recorded publications, newest first
/// (without their LDIF).
pub async fn publications(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    params: Result<Query<PublicationsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(lang, params)?;
    let limit = match params.limit {
        None => 20,
        Some(limit) => super::page_size(lang, Some(limit))?,
    };
    let list = state
        .registry
        .publications(limit)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let values: Vec<Value> = list.iter().map(|p| publication_json(p, false)).collect();
    Ok(json(StatusCode::OK, json!({ "publications": values })))
}

/// `POST /api/v1/index/publications`: records the entry as it is now as a publication
/// (`index export --record`). `201 Created` with the publication and its LDIF.
pub async fn publish(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
) -> Result<Response, Problem> {
    let current = current(&state, lang).await?;
    let publication = state
        .registry
        .record_publication(state.clock.now(), &current.ldif, &current.domains)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    Ok(json(
        StatusCode::CREATED,
        publication_json(&publication, true),
    ))
}
