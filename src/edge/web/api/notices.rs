//! `/api/v1/notices`: the outbox (notices to holders, resellers and operators, and
//! alerts), as `pecwatch notices list|show|resend` shows it: each item as stored, with
//! its domain's name.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::domains::{domain_name, registered};
use super::{json, link, page_size, paged, query};
use crate::Lang;
use crate::registry::{OutboxFilter, OutboxItem, OutboxState, Registry};
use crate::view::{Notice, NoticePage};
use crate::web::AppState;
use crate::web::auth::{Operator, Reader};
use crate::web::problem::{Problem, ReadProblems, WriteProblems};

/// The query of `GET /api/v1/notices`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only items in this state: pending, sent or failed.
    #[param(value_type = Option<OutboxState>)]
    pub state: Option<String>,
    /// Only items about this domain.
    pub domain: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u64>,
    /// Only items with a larger identifier: the `cursor` of the previous page's `next`.
    pub cursor: Option<i64>,
}

/// The names of the domains of `items`.
async fn names(
    registry: &Registry,
    lang: Lang,
    items: &[OutboxItem],
) -> Result<HashMap<i64, String>, Problem> {
    let mut names = HashMap::new();
    for id in items.iter().filter_map(|item| item.domain_id) {
        if names.contains_key(&id) {
            continue;
        }
        let name = registry
            .domain_by_id(id)
            .await
            .map_err(|error| Problem::registry(lang, error))?
            .map_or_else(|| format!("#{id}"), |domain| domain.name.to_string());
        names.insert(id, name);
    }
    Ok(names)
}

/// `GET /api/v1/notices`: a page of outbox items, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/notices",
    operation_id = "listNotices",
    tag = "notices",
    summary = "List notices and alerts (the outbox), oldest first, a page at a time",
    description = "Follow `next` (or the Link header) for the following page.\n\nNeeds any token (read-only or operator).",
    params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of notices.", body = NoticePage), ReadProblems)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(lang, params)?;
    let size = page_size(lang, params.limit)?;
    let item_state = params
        .state
        .as_deref()
        .map(str::parse::<OutboxState>)
        .transpose()
        .map_err(|error| Problem::bad_request(lang, error.to_string()))?;
    let domain_id = match &params.domain {
        None => None,
        Some(name) => {
            let name = domain_name(lang, name)?;
            Some(registered(&state.registry, lang, &name).await?.id)
        }
    };
    let mut items = state
        .registry
        .outbox(&OutboxFilter {
            state: item_state,
            domain_id,
            after_id: params.cursor,
            limit: Some(size + 1),
        })
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let more = items.len() as u64 > size;
    items.truncate(size as usize);
    let names = names(&state.registry, lang, &items).await?;
    let next = match items.last() {
        Some(last) if more => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(value) = &params.state {
                query.push(("state", value.clone()));
            }
            if let Some(value) = &params.domain {
                query.push(("domain", value.clone()));
            }
            query.push(("limit", size.to_string()));
            query.push(("cursor", last.id.to_string()));
            Some(link(&state, "/api/v1/notices", &query))
        }
        _ => None,
    };
    let notices = items
        .iter()
        .map(|item| {
            let domain = item.domain_id.and_then(|id| names.get(&id));
            Notice::new(item, domain.map(String::as_str))
        })
        .collect();
    let page = NoticePage {
        next: next.clone(),
        notices,
    };
    Ok(paged(&page, next))
}

/// An item identifier from the path, or a 400 problem.
fn item_id(lang: Lang, text: &str) -> Result<i64, Problem> {
    text.parse::<i64>().map_err(|_| {
        Problem::bad_request(
            lang,
            format!(
                "{text:?}: {}",
                lang.pick(
                    "non è l'identificativo di una comunicazione",
                    "not a notice identifier"
                )
            ),
        )
    })
}

/// The item with its domain's name, or a 404 problem.
async fn item(state: &AppState, lang: Lang, id: i64) -> Result<Notice, Problem> {
    let item = state
        .registry
        .outbox_item(id)
        .await
        .map_err(|error| Problem::registry(lang, error))?
        .ok_or_else(|| {
            Problem::not_found(
                lang,
                format!("{} {id}", lang.pick("nessuna comunicazione", "no notice")),
            )
        })?;
    let names = names(&state.registry, lang, std::slice::from_ref(&item)).await?;
    let domain = item.domain_id.and_then(|id| names.get(&id));
    Ok(Notice::new(&item, domain.map(String::as_str)))
}

/// `GET /api/v1/notices/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/notices/{id}",
    operation_id = "showNotice",
    tag = "notices",
    summary = "One notice: recipient, state, attempts, the mail server's reply",
    description = "As `pecwatch notices show --format json`.\n\nNeeds any token (read-only or operator).",
    params(("id" = i64, Path, description = "The notice's identifier.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The notice.", body = Notice), ReadProblems)
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = item_id(lang, &id)?;
    Ok(json(StatusCode::OK, &item(&state, lang, id).await?))
}

/// `POST /api/v1/notices/{id}/resend`: queues the notice again, as a new message
/// (`pecwatch notices resend`).
#[utoipa::path(
    post,
    path = "/api/v1/notices/{id}/resend",
    operation_id = "resendNotice",
    tag = "notices",
    summary = "Send a notice again, as a new message",
    description = "As `pecwatch notices resend`.\n\nNeeds an operator token.",
    params(("id" = i64, Path, description = "The notice's identifier.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The notice, queued again.", body = Notice), WriteProblems)
)]
pub(crate) async fn resend(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = item_id(lang, &id)?;
    state
        .registry
        .requeue_outbox(id, state.clock.now())
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    Ok(json(StatusCode::OK, &item(&state, lang, id).await?))
}
