//! `GET /api/v1/instructions/{domain}?profile=NAME`: the customer's DNS instructions for
//! activating PEC on a domain, from what the DNS says now, as `pecwatch instructions
//! DOMAIN --format json` prints them (the same functions: [`crate::instructions::decide`]
//! and [`crate::instructions::Instructions::view`]); nothing is recorded.
//!
//! `domain` is a domain name or an e-mail address of it; `profile` is a profile of the
//! configuration (default `[check] profile`: a request must not name files on the
//! server); the text is in Italian or English by `Accept-Language`. The answer is `200`
//! whatever the case, also for the error cases (`parent_not_resolvable`,
//! `servers_failing`) on which the command line exits 1. A name that is not a domain is a
//! `400` problem (`invalid-domain`), an unknown profile a `400` (`bad-request`).
//!
//! Without a token the call is rate-limited per client address, like `POST
//! /api/v1/check`; with any valid token it is not.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::domains::domain_name;
use super::{json, query};
use crate::Lang;
use crate::instructions::{InstructionsView, decide};
use crate::web::AppState;
use crate::web::auth::MaybeCaller;
use crate::web::limit;
use crate::web::problem::{InstructionsProblems, Problem};

/// The query of `GET /api/v1/instructions/{domain}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstructionsQuery {
    /// A provider profile of the configuration (default `[check] profile`).
    pub profile: Option<String>,
}

/// `GET /api/v1/instructions/{domain}`.
#[utoipa::path(
    get,
    path = "/api/v1/instructions/{domain}",
    operation_id = "instructions",
    tag = "check",
    summary = "The customer's DNS instructions for activating PEC on a domain",
    description = "Exactly what `pecwatch instructions DOMAIN --format json` prints, from what the DNS says now (nothing is recorded); the `text` is in Italian or English by Accept-Language. The domain may be an e-mail address of it. 200 whatever the case, also for `parent_not_resolvable` and `servers_failing`. Without a token the call is rate-limited per client address.",
    params(
        ("domain" = String, Path, description = "The domain name, or an e-mail address of it."),
        InstructionsQuery
    ),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The instructions.", body = InstructionsView), InstructionsProblems)
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    lang: Lang,
    headers: HeaderMap,
    extensions: Extensions,
    Path(input): Path<String>,
    parameters: Result<Query<InstructionsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    if caller.is_none() {
        limit::enforce(&extensions, &headers)?;
    }
    let parameters = query(lang, parameters)?;
    let name = domain_name(lang, &input)?;
    let profile_name = parameters
        .profile
        .as_deref()
        .unwrap_or(&state.site.profiles.default);
    // Only the configuration's profiles, as for checks: not files on the server.
    let profile = state
        .site
        .profiles
        .get(profile_name)
        .map_err(|error| Problem::bad_request(lang, error))?;
    let observation = state.prober.observe(&name).await;
    let instructions = decide(&input, &observation, &profile);
    Ok(json(StatusCode::OK, &instructions.view(lang)))
}
