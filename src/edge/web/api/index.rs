//! `/api/v1/index`: the providers' index entry as `pecwatch index export|diff` sees it,
//! and its publications. The LDIF itself is at `/index.ldif` ([`crate::web::index`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{json, query};
use crate::Lang;
use crate::view::{IndexDiff, IndexExport, PublicationView, Publications};
use crate::web::AppState;
use crate::web::auth::{Operator, Reader};
use crate::web::index::{current, provider};
use crate::web::problem::{IndexProblems, Problem, PublishProblems};

/// `GET /api/v1/index`: the entry as `index export` would write it now: the LDIF, its
/// SHA-256 and the domains it lists.
#[utoipa::path(
    get,
    path = "/api/v1/index",
    operation_id = "exportIndex",
    tag = "index",
    summary = "The index entry as `pecwatch index export` would write it now",
    description = "The LDIF, its SHA-256 and the domains it lists.\n\nNeeds any token (read-only or operator).",
    security(("bearer" = [])),
    responses((status = 200, description = "The entry.", body = IndexExport), IndexProblems)
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
) -> Result<Response, Problem> {
    let current = current(&state, lang).await?;
    let export = IndexExport {
        count: current.domains.len(),
        domains: current.domains,
        hash: current.hash,
        ldif: current.ldif,
    };
    Ok(json(StatusCode::OK, &export))
}

/// `GET /api/v1/index/diff`: what changed since the last recorded publication, the JSON
/// of `index diff --format json`.
#[utoipa::path(
    get,
    path = "/api/v1/index/diff",
    operation_id = "diffIndex",
    tag = "index",
    summary = "What changed since the last recorded publication",
    description = "As `pecwatch index diff --format json`.\n\nNeeds any token (read-only or operator).",
    security(("bearer" = [])),
    responses((status = 200, description = "The changes.", body = IndexDiff), IndexProblems)
)]
pub(crate) async fn diff(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
) -> Result<Response, Problem> {
    // Without a complete [index] only the domains are compared, as on the command line.
    let provider = provider(&state.site.index, lang).ok();
    let diff = IndexDiff::load(&state.registry, provider.as_ref())
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    Ok(json(StatusCode::OK, &diff))
}

/// The query of `GET /api/v1/index/publications`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PublicationsQuery {
    /// How many, newest first (1 to 1000, default 20).
    #[param(minimum = 1, maximum = 1000, default = 20)]
    pub limit: Option<u64>,
}

/// `GET /api/v1/index/publications`: the latest recorded publications, newest first
/// (without their LDIF).
#[utoipa::path(
    get,
    path = "/api/v1/index/publications",
    operation_id = "listPublications",
    tag = "index",
    summary = "The latest recorded publications, newest first",
    description = "Without their LDIF.\n\nNeeds any token (read-only or operator).",
    params(PublicationsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The publications.", body = Publications), IndexProblems)
)]
pub(crate) async fn publications(
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
    let publications = Publications {
        publications: list
            .iter()
            .map(|p| PublicationView::new(p, false))
            .collect(),
    };
    Ok(json(StatusCode::OK, &publications))
}

/// `POST /api/v1/index/publications`: records the entry as it is now as a publication
/// (`index export --record`). `201 Created` with the publication and its LDIF.
#[utoipa::path(
    post,
    path = "/api/v1/index/publications",
    operation_id = "publishIndex",
    tag = "index",
    summary = "Record the entry as it is now as a publication",
    description = "As `pecwatch index export --record`.\n\nNeeds an operator token.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The publication, with its LDIF.", body = PublicationView),
        PublishProblems
    )
)]
pub(crate) async fn publish(
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
        &PublicationView::new(&publication, true),
    ))
}
