//! `/api/v1/domains`: the registry of certified domains and the operators' actions.
//!
//! The JSON of a domain is the command line's (`domains list --format json` for lists,
//! `domains show --format json` for one domain, with the domain's notices added), and
//! the actions are [`crate::actions`], the same functions `pecwatch domains approve|…`
//! calls. The actor recorded in the history is the token (`api:NAME`), or `PERSON
//! (api:NAME)` when the request names the person in `actor`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Body, json, link, page_size, paged, query};
use crate::Lang;
use crate::actions::{self, ActionError, Command, ExceptionChange};
use crate::clock::parse_instant;
use crate::contact::Contact;
use crate::finding::Code;
use crate::lifecycle::{DomainStatus, State as LifecycleState};
use crate::name::DomainName;
use crate::registry::{
    Domain, DomainFilter, Holder, NewDomain, OutboxFilter, Registry, RegistryError,
};
use crate::view::{
    ActedDomain, Action, DomainDetail, DomainPage, DomainSummary, Exception, HISTORY_CHECKS,
    Notice, Recheck, RecheckedDomain, TransitionView,
};
use crate::web::AppState;
use crate::web::auth::{Operator, Reader};
use crate::web::problem::{Problem, ReadProblems, WriteProblems};

/// How many of a domain's notices `show` lists (the latest).
const SHOWN_NOTICES: u64 = 100;

/// The query of `GET /api/v1/domains`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only domains in this state.
    #[param(value_type = Option<crate::lifecycle::State>)]
    pub state: Option<String>,
    /// Only domains whose name contains this text.
    pub search: Option<String>,
    /// Only domains whose last check reported this error code.
    pub code: Option<String>,
    /// Only domains with a deadline before this date (YYYY-MM-DD) or RFC 3339 instant.
    pub deadline_before: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u64>,
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
}

/// A domain name from the path, or a 400 problem.
pub(crate) fn domain_name(lang: Lang, text: &str) -> Result<DomainName, Problem> {
    DomainName::parse(text)
        .map_err(|error| Problem::invalid_domain(lang, text, error.message(lang)))
}

/// The registered domain `name`, or a 404 problem.
pub(crate) async fn registered(
    registry: &Registry,
    lang: Lang,
    name: &DomainName,
) -> Result<Domain, Problem> {
    registry
        .domain(name)
        .await
        .map_err(|error| Problem::registry(lang, error))?
        .ok_or_else(|| Problem::unknown_domain(lang, name.as_str()))
}

/// An action's error as a problem.
pub(crate) fn action_problem(lang: Lang, error: ActionError) -> Problem {
    let message = error.message(lang);
    match error {
        ActionError::UnknownDomain(name) => Problem::unknown_domain(lang, name.as_str()),
        ActionError::Refused { .. } | ActionError::NotInException { .. } => {
            Problem::conflict(lang, message)
        }
        ActionError::BadAddress(_) | ActionError::TooWide(_) => Problem::bad_request(lang, message),
        ActionError::Registry(RegistryError::Conflict) => Problem::conflict(lang, message),
        ActionError::Registry(error) => Problem::registry(lang, error),
    }
}

/// The cursor after `name`, and back.
fn cursor_of(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

fn name_of_cursor(lang: Lang, cursor: &str) -> Result<String, Problem> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            Problem::bad_request(
                lang,
                lang.pick(
                    "cursor non valido: usare il link next della pagina precedente",
                    "invalid cursor: use the previous page's next link",
                ),
            )
        })
}

/// `GET /api/v1/domains`: a page of domains, by name.
#[utoipa::path(
    get,
    path = "/api/v1/domains",
    operation_id = "listDomains",
    tag = "domains",
    summary = "List domains, by name, a page at a time",
    description = "Follow `next` (or the `Link: rel=\"next\"` header) for the following page; each domain appears once in the walk.\n\nNeeds any token (read-only or operator).",
    params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of domains.", body = DomainPage), ReadProblems)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(lang, params)?;
    let size = page_size(lang, params.limit)?;
    let filter = DomainFilter {
        state: params
            .state
            .as_deref()
            .map(|text| {
                text.parse::<LifecycleState>()
                    .map_err(|error| Problem::bad_request(lang, error.to_string()))
            })
            .transpose()?,
        code: params
            .code
            .as_deref()
            .map(|text| {
                text.parse::<Code>()
                    .map_err(|error| Problem::bad_request(lang, error.to_string()))
            })
            .transpose()?,
        deadline_before: params
            .deadline_before
            .as_deref()
            .map(|text| parse_instant(text, &state.zone))
            .transpose()
            .map_err(|error| Problem::bad_request(lang, error.to_string()))?,
        name_contains: params.search.clone(),
        after_name: params
            .cursor
            .as_deref()
            .map(|cursor| name_of_cursor(lang, cursor))
            .transpose()?,
        limit: Some(size + 1),
        offset: 0,
    };
    let mut found = state
        .registry
        .domains(&filter)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let more = found.len() as u64 > size;
    found.truncate(size as usize);
    let next = match found.last() {
        Some(last) if more => {
            let mut query: Vec<(&str, String)> = Vec::new();
            for (key, value) in [
                ("state", &params.state),
                ("search", &params.search),
                ("code", &params.code),
                ("deadline_before", &params.deadline_before),
            ] {
                if let Some(value) = value {
                    query.push((key, value.clone()));
                }
            }
            query.push(("limit", size.to_string()));
            query.push(("cursor", cursor_of(last.name.as_str())));
            Some(link(&state, "/api/v1/domains", &query))
        }
        _ => None,
    };
    let page = DomainPage {
        domains: found.iter().map(DomainSummary::from).collect(),
        next: next.clone(),
    };
    Ok(paged(&page, next))
}

/// The view of one domain: `domains show --format json`'s, with its latest notices.
pub(crate) async fn detail(
    state: &AppState,
    lang: Lang,
    domain: &Domain,
) -> Result<DomainDetail, Problem> {
    let mut detail = DomainDetail::load(&state.registry, domain)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let mut notices = state
        .registry
        .outbox(&OutboxFilter {
            domain_id: Some(domain.id),
            ..OutboxFilter::default()
        })
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let skip = notices.len().saturating_sub(SHOWN_NOTICES as usize);
    notices.drain(..skip);
    let name = domain.name.as_str();
    detail.history.notices = Some(
        notices
            .iter()
            .map(|item| Notice::new(item, Some(name)))
            .collect(),
    );
    detail.history.checks_shown = Some(HISTORY_CHECKS);
    Ok(detail)
}

/// `GET /api/v1/domains/{domain}`.
#[utoipa::path(
    get,
    path = "/api/v1/domains/{domain}",
    operation_id = "showDomain",
    tag = "domains",
    summary = "One domain with its history",
    description = "As `pecwatch domains show --format json`, with the domain's latest notices in `history.notices`.\n\nNeeds any token (read-only or operator).",
    params(("domain" = String, Path, description = "The domain name.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The domain.", body = DomainDetail), ReadProblems)
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let name = domain_name(lang, &name)?;
    let domain = registered(&state.registry, lang, &name).await?;
    Ok(json(StatusCode::OK, &detail(&state, lang, &domain).await?))
}

/// The body of `POST /api/v1/domains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddRequest {
    /// The certified domain.
    pub domain: String,
    /// Where the holder's notices go.
    #[schema(format = Email)]
    pub holder_email: String,
    /// The holder's name.
    pub holder_name: Option<String>,
    /// The language of the holder's notices: `it` (default) or `en`.
    #[schema(value_type = Option<Lang>)]
    pub lang: Option<String>,
    /// The reseller that sold the domain.
    pub reseller: Option<String>,
    /// The provider profile (a name from the configuration; default `[check] profile`).
    pub profile: Option<String>,
    /// The expiry: a date (end of that day, Europe/Rome) or an RFC 3339 instant.
    pub expires: Option<String>,
}

/// A language code of a request body.
fn lang_code(lang: Lang, code: Option<&str>) -> Result<Lang, Problem> {
    match code.map(str::trim) {
        None | Some("it") => Ok(Lang::It),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(Problem::bad_request(
            lang,
            format!(
                "lang {other:?}: {}",
                lang.pick("serve it o en", "expected it or en")
            ),
        )),
    }
}

/// `POST /api/v1/domains`: registers an already certified domain, as `pecwatch domains
/// add` does. `201 Created` with the domain and its `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/domains",
    operation_id = "addDomain",
    tag = "domains",
    summary = "Register an already certified domain",
    description = "As `pecwatch domains add`: the domain is `certified` and due for a check now.\n\nNeeds an operator token.",
    request_body(content = AddRequest, description = "The domain and its holder."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered.", body = DomainDetail,
            headers(("Location" = String, description = "The domain's URL."))),
        WriteProblems
    )
)]
pub(crate) async fn add(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Body(request): Body<AddRequest>,
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let name = domain_name(lang, &request.domain)?;
    let profile = request
        .profile
        .clone()
        .unwrap_or_else(|| state.site.profiles.default.clone());
    // Only the configuration's profiles: a request must not name files on the server.
    state
        .site
        .profiles
        .get(&profile)
        .map_err(|error| Problem::bad_request(lang, error))?;
    let expires = request
        .expires
        .as_deref()
        .map(|text| parse_instant(text, &state.zone))
        .transpose()
        .map_err(|error| Problem::bad_request(lang, error.to_string()))?;
    let (holder, reseller) = Contact::check(
        &Holder {
            name: request.holder_name,
            email: request.holder_email,
            lang: lang_code(lang, request.lang.as_deref())?,
        },
        request.reseller.as_deref(),
    )
    .map_err(|error| Problem::invalid_contact(lang, &error))?;
    let domain = state
        .registry
        .add_domain(
            NewDomain {
                name,
                holder,
                reseller,
                profile,
                exception: Vec::new(),
                status: DomainStatus::new(LifecycleState::Certified, now, expires),
                next_check: now,
            },
            now,
        )
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let mut response = json(StatusCode::CREATED, &detail(&state, lang, &domain).await?);
    let location = link(&state, &format!("/api/v1/domains/{}", domain.name), &[]);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The body of `approve`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActorRequest {
    /// The person the call acts for, recorded with the token's name.
    pub actor: Option<String>,
}

/// The body of `reject` and `remove`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonRequest {
    /// Why, for the history.
    pub reason: Option<String>,
    /// The person the call acts for.
    pub actor: Option<String>,
}

/// The body of `renew`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewRequest {
    /// The new expiry: a date (end of that day, Europe/Rome) or an RFC 3339 instant.
    pub expires: Option<String>,
    /// The person the call acts for.
    pub actor: Option<String>,
}

/// Runs a lifecycle command and answers with the domain and what happened.
async fn act(
    state: &AppState,
    lang: Lang,
    operator: &Operator,
    name: &str,
    command: Command,
    on_behalf_of: Option<&str>,
) -> Result<Response, Problem> {
    let name = domain_name(lang, name)?;
    let actor = operator.0.actor(on_behalf_of);
    let acted = actions::act(
        &state.registry,
        &state.activation.policy,
        &name,
        &command,
        &actor,
        state.clock.now(),
    )
    .await
    .map_err(|error| action_problem(lang, error))?;
    let acted_domain = ActedDomain {
        action: Action {
            actor,
            after: acted.domain.status.state,
            before: acted.before,
            recorded: acted.recorded.iter().map(TransitionView::from).collect(),
        },
        domain: detail(state, lang, &acted.domain).await?,
    };
    Ok(json(StatusCode::OK, &acted_domain))
}

/// `POST /api/v1/domains/{domain}/approve`.
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/approve",
    operation_id = "approveDomain",
    tag = "domains",
    summary = "Reinstate a domain under review",
    description = "under_review → certified; the holder is notified.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    request_body(content = Option<ActorRequest>, description = "Who the call acts for."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain after the action, and what it did.", body = ActedDomain),
        WriteProblems
    )
)]
pub(crate) async fn approve(
    State(state): State<AppState>,
    operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
    Body(request): Body<ActorRequest>,
) -> Result<Response, Problem> {
    act(
        &state,
        lang,
        &operator,
        &name,
        Command::Approve,
        request.actor.as_deref(),
    )
    .await
}

/// `POST /api/v1/domains/{domain}/reject`.
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/reject",
    operation_id = "rejectDomain",
    tag = "domains",
    summary = "Refuse to reinstate a domain under review",
    description = "under_review → removed; the holder is notified.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    request_body(content = Option<ReasonRequest>, description = "Why, and who the call acts for."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain after the action, and what it did.", body = ActedDomain),
        WriteProblems
    )
)]
pub(crate) async fn reject(
    State(state): State<AppState>,
    operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
    Body(request): Body<ReasonRequest>,
) -> Result<Response, Problem> {
    let command = Command::Reject {
        reason: request.reason.unwrap_or_default(),
    };
    act(
        &state,
        lang,
        &operator,
        &name,
        command,
        request.actor.as_deref(),
    )
    .await
}

/// `POST /api/v1/domains/{domain}/remove`.
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/remove",
    operation_id = "removeDomain",
    tag = "domains",
    summary = "Remove a domain from the certified list",
    description = "certified, in_error or under_review → removed; the holder is notified.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    request_body(content = Option<ReasonRequest>, description = "Why, and who the call acts for."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain after the action, and what it did.", body = ActedDomain),
        WriteProblems
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
    Body(request): Body<ReasonRequest>,
) -> Result<Response, Problem> {
    let command = Command::Remove {
        reason: request.reason.unwrap_or_default(),
    };
    act(
        &state,
        lang,
        &operator,
        &name,
        command,
        request.actor.as_deref(),
    )
    .await
}

/// `POST /api/v1/domains/{domain}/renew`.
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/renew",
    operation_id = "renewDomain",
    tag = "domains",
    summary = "Renew the certification until a new expiry",
    description = "The state does not change; the renewal is recorded in the history.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    request_body(content = RenewRequest, description = "The new expiry."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The domain after the action, and what it did.", body = ActedDomain),
        WriteProblems
    )
)]
pub(crate) async fn renew(
    State(state): State<AppState>,
    operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
    Body(request): Body<RenewRequest>,
) -> Result<Response, Problem> {
    let Some(expires) = request.expires.as_deref() else {
        return Err(Problem::bad_request(
            lang,
            lang.pick(
                "manca expires: la nuova scadenza (AAAA-MM-GG o un istante RFC 3339)",
                "expires is missing: the new expiry (YYYY-MM-DD or an RFC 3339 instant)",
            ),
        ));
    };
    let command = Command::Renew {
        expires: parse_instant(expires, &state.zone)
            .map_err(|error| Problem::bad_request(lang, error.to_string()))?,
    };
    act(
        &state,
        lang,
        &operator,
        &name,
        command,
        request.actor.as_deref(),
    )
    .await
}

/// `POST /api/v1/domains/{domain}/recheck`: the domain is due for a check now. The check
/// itself is the sweep's (`pecwatch serve` runs it within 30 seconds, a cron `pecwatch
/// sweep` at its next run), so that it is recorded, and its lifecycle effects decided,
/// like every other check. Answers `202 Accepted` with the domain.
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/recheck",
    operation_id = "recheckDomain",
    tag = "domains",
    summary = "Make the domain due for a check now",
    description = "The sweep checks it (`pecwatch serve` within 30 seconds), records the check and applies its lifecycle effects like any other.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    security(("bearer" = [])),
    responses((status = 202, description = "Due now.", body = RecheckedDomain), WriteProblems)
)]
pub(crate) async fn recheck(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let name = domain_name(lang, &name)?;
    let now = state.clock.now();
    let domain = match crate::actions::recheck(&state.registry, &name, now).await {
        Ok(Some(domain)) => domain,
        // Unknown: the same problem as every other route of a domain.
        Ok(None) => registered(&state.registry, lang, &name).await?,
        Err(error) => return Err(Problem::registry(lang, error)),
    };
    let rechecked = RecheckedDomain {
        recheck: Recheck {
            due: domain.next_check,
        },
        domain: detail(&state, lang, &domain).await?,
    };
    Ok(json(StatusCode::ACCEPTED, &rechecked))
}

/// `GET /api/v1/domains/{domain}/exception`.
#[utoipa::path(
    get,
    path = "/api/v1/domains/{domain}/exception",
    operation_id = "showException",
    tag = "domains",
    summary = "The hybrid exception of a domain",
    description = "Extra mail server addresses allowed for this domain only.\n\nNeeds any token (read-only or operator).",
    params(("domain" = String, Path, description = "The domain name.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The exception.", body = Exception), ReadProblems)
)]
pub(crate) async fn exception(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let name = domain_name(lang, &name)?;
    let domain = registered(&state.registry, lang, &name).await?;
    Ok(json(StatusCode::OK, &Exception::from(&domain)))
}

/// The body of `POST /api/v1/domains/{domain}/exception`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionRequest {
    /// Empty the list first.
    #[serde(default)]
    pub clear: bool,
    /// Addresses or networks to allow.
    #[serde(default)]
    pub add: Vec<String>,
    /// Addresses or networks to stop allowing (each must be listed).
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `POST /api/v1/domains/{domain}/exception`: changes the hybrid exception as `pecwatch
/// domains exception` does (clear, then remove, then add).
#[utoipa::path(
    post,
    path = "/api/v1/domains/{domain}/exception",
    operation_id = "changeException",
    tag = "domains",
    summary = "Change the hybrid exception of a domain",
    description = "First clear (if asked), then remove, then add, as `pecwatch domains exception`.\n\nNeeds an operator token.",
    params(("domain" = String, Path, description = "The domain name.")),
    request_body(content = ExceptionRequest, description = "The change."),
    security(("bearer" = [])),
    responses((status = 200, description = "The exception after the change.", body = Exception), WriteProblems)
)]
pub(crate) async fn change_exception(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Path(name): Path<String>,
    Body(request): Body<ExceptionRequest>,
) -> Result<Response, Problem> {
    let name = domain_name(lang, &name)?;
    let networks = |texts: &[String]| {
        texts
            .iter()
            .map(|text| actions::parse_network(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| action_problem(lang, error))
    };
    let change = ExceptionChange {
        clear: request.clear,
        add: networks(&request.add)?,
        remove: networks(&request.remove)?,
    };
    let domain = actions::change_exception(&state.registry, &name, &change, state.clock.now())
        .await
        .map_err(|error| action_problem(lang, error))?;
    Ok(json(StatusCode::OK, &Exception::from(&domain)))
}
