//! `POST /api/v1/check`: checks names now, as `pecwatch check --format json` does, and
//! records nothing.
//!
//! The body is `{"names": [...], "profile": "aruba", "lang": "en"}` (`profile`: a name
//! from the configuration, default `[check] profile`; `lang`: the language of messages,
//! default by `Accept-Language`), with at most `[web] check_max_names` names. The answer
//! is `{"ok": …, "results": [...]}`, one result per name in the order given, each exactly
//! one line of `pecwatch check --format json` (a name that is not a domain gives its
//! `{"input", "ok": false, "error"}` line, as on the command line).
//!
//! Without a token the call is rate-limited per client address, like the public page,
//! and costs one token per name (a request of more names than a bucket holds is refused
//! with 413 `too-many-names`); with any valid token it is not limited.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use futures::{StreamExt, stream};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Body, json};
use crate::Lang;
use crate::check::evaluate;
use crate::name::DomainName;
use crate::report::{InputError, Report};
use crate::view::{CheckLine, CheckResponse};
use crate::web::AppState;
use crate::web::auth::MaybeCaller;
use crate::web::limit;
use crate::web::problem::{CheckProblems, Problem};

/// The body of `POST /api/v1/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    /// Names (or e-mail addresses) to check.
    pub names: Vec<String>,
    /// A provider profile of the configuration (default `[check] profile`).
    pub profile: Option<String>,
    /// The language of messages, `it` or `en` (default by `Accept-Language`).
    #[schema(value_type = Option<Lang>)]
    pub lang: Option<String>,
}

/// Checks `names` against the configuration's profile `profile` (default `[check]
/// profile`): one `pecwatch check --format json` line per name, in order. The
/// self-service page can call it too.
pub(crate) async fn run_checks(
    state: &AppState,
    names: &[String],
    profile: Option<&str>,
    lang: Lang,
) -> Result<Vec<CheckLine>, Problem> {
    let profile_name = profile.unwrap_or(&state.site.profiles.default);
    // Only the configuration's profiles: a request must not name files on the server.
    let profile = state
        .site
        .profiles
        .get(profile_name)
        .map_err(|error| Problem::bad_request(lang, error))?;
    let profile = state
        .prober
        .resolve_profile(&profile)
        .await
        .map_err(|error| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dns-unavailable",
                lang,
                ("DNS non disponibile", "DNS unavailable"),
                error.to_string(),
            )
        })?;
    let profile = Arc::new(profile);
    let concurrency = state.site.check_concurrency.clamp(1, 64);
    let results = stream::iter(names.iter().cloned())
        .map(|input| {
            let prober = state.prober.clone();
            let profile = profile.clone();
            async move {
                match DomainName::parse(&input) {
                    Err(error) => {
                        CheckLine::InputError(InputError::new(&input, &error.message(lang)))
                    }
                    Ok(domain) => {
                        let observation = prober.observe(&domain).await;
                        let findings = evaluate(&observation, &profile);
                        let report = Report::new(&input, &observation, &profile.name, findings)
                            .with_provider(&profile.display_name);
                        CheckLine::Result(Box::new(report.view(lang)))
                    }
                }
            }
        })
        .buffered(concurrency)
        .collect::<Vec<CheckLine>>()
        .await;
    Ok(results)
}

/// `POST /api/v1/check`.
#[utoipa::path(
    post,
    path = "/api/v1/check",
    operation_id = "check",
    tag = "check",
    summary = "Check names now (nothing is recorded)",
    description = "One result per name, in order, each exactly a line of `pecwatch check --format json`. Without a token the call is rate-limited per client address.",
    request_body(content = CheckRequest, description = "The names and the profile."),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The results.", body = CheckResponse), CheckProblems)
)]
pub(crate) async fn check(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    lang: Lang,
    headers: HeaderMap,
    extensions: Extensions,
    Body(request): Body<CheckRequest>,
) -> Result<Response, Problem> {
    if caller.is_none() {
        // One token per name (at least one, at most the most a request may hold): a check
        // of 100 names costs what 100 checks of one cost.
        let most = state.site.web.check_max_names.max(1);
        let cost = u32::try_from(request.names.len()).map_or(most, |n| n.clamp(1, most));
        limit::enforce_cost(&extensions, &headers, cost)?;
    }
    let lang = match request.lang.as_deref().map(str::trim) {
        None => lang,
        Some("it") => Lang::It,
        Some("en") => Lang::En,
        Some(other) => {
            return Err(Problem::bad_request(
                lang,
                format!(
                    "lang {other:?}: {}",
                    lang.pick("serve it o en", "expected it or en")
                ),
            ));
        }
    };
    let max = state.site.web.check_max_names as usize;
    if request.names.is_empty() {
        return Err(Problem::bad_request(
            lang,
            lang.pick(
                "names è vuoto: indicare almeno un nome",
                "names is empty: give at least one name",
            ),
        ));
    }
    if request.names.len() > max {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-names",
            lang,
            ("Troppi nomi", "Too many names"),
            match lang {
                Lang::It => format!(
                    "{} nomi: al massimo {max} per richiesta",
                    request.names.len()
                ),
                Lang::En => format!("{} names: at most {max} per request", request.names.len()),
            },
        )
        .with("limit", max));
    }
    let results = run_checks(&state, &request.names, request.profile.as_deref(), lang).await?;
    let ok = results.iter().all(CheckLine::ok);
    Ok(json(StatusCode::OK, &CheckResponse { ok, results }))
}
