//! `/api/v1/orders` and `/api/v1/mailboxes`: activation over HTTP, through
//! [`crate::activation`], the functions `pecwatch orders` and `pecwatch mailboxes` call.
//! An order's JSON is `pecwatch orders show --format json`'s (the order, its domain's
//! state and its activation steps).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use clap::ValueEnum;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::domains::{domain_name, registered};
use super::{Body, json, query};
use crate::Lang;
use crate::activation::{self, ActivationError, OrderRequest};
use crate::clock::parse_instant;
use crate::registry::{Holder, Order, OrderKind, OrderState};
use crate::view::{
    MailboxCreated, MailboxLink, MailboxList, MailboxRemoved, MailboxView, OrderDetail, OrderList,
};
use crate::web::AppState;
use crate::web::auth::{Operator, Reader};
use crate::web::problem::{Problem, ReadProblems, WriteProblems};

/// An activation error as a problem.
pub(crate) fn activation_problem(lang: Lang, error: ActivationError) -> Problem {
    let message = error.message(lang);
    match error {
        ActivationError::Registry(error) => Problem::registry(lang, error),
        ActivationError::Contact(error) => Problem::invalid_contact(lang, &error),
        ActivationError::Name(_) => Problem::invalid_domain(lang, "", message),
        ActivationError::UnknownDomain(domain) => Problem::unknown_domain(lang, &domain),
        ActivationError::NoOrder(_) | ActivationError::NoMailbox(_) => {
            Problem::not_found(lang, message)
        }
        ActivationError::Taken(_)
        | ActivationError::Decided { .. }
        | ActivationError::NotCertified { .. }
        | ActivationError::MailboxExists(_)
        | ActivationError::Action(_) => Problem::conflict(lang, message),
        _ => Problem::bad_request(lang, message),
    }
}

/// The view of an order.
async fn order_value(state: &AppState, lang: Lang, order: &Order) -> Result<OrderDetail, Problem> {
    OrderDetail::load(&state.registry, order)
        .await
        .map_err(|error| Problem::registry(lang, error))
}

/// An order identifier from the path.
fn order_id(lang: Lang, text: &str) -> Result<i64, Problem> {
    text.parse().map_err(|_| {
        Problem::bad_request(
            lang,
            format!(
                "{text:?}: {}",
                lang.pick("non è il numero di un ordine", "not an order number")
            ),
        )
    })
}

/// The query of `GET /api/v1/orders`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only orders in this state: received, approved, rejected.
    #[param(value_type = Option<OrderState>)]
    pub state: Option<String>,
    /// How many, newest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u64>,
}

/// `GET /api/v1/orders`.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    operation_id = "listOrders",
    tag = "orders",
    summary = "The latest orders, newest first",
    description = "Each as `pecwatch orders show --format json`: the order, its domain's state, its activation steps.\n\nNeeds any token (read-only or operator).",
    params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The orders.", body = OrderList), ReadProblems)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(lang, params)?;
    let limit = super::page_size(lang, params.limit)?;
    let order_state = params
        .state
        .as_deref()
        .map(|text| {
            OrderState::from_str(text, true).map_err(|_| {
                Problem::bad_request(
                    lang,
                    format!("state {text:?}: received, approved, rejected"),
                )
            })
        })
        .transpose()?;
    let orders = state
        .registry
        .orders(order_state, limit)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let mut list = OrderList {
        orders: Vec::with_capacity(orders.len()),
    };
    for order in &orders {
        list.orders.push(order_value(&state, lang, order).await?);
    }
    Ok(json(StatusCode::OK, &list))
}

/// `GET /api/v1/orders/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    operation_id = "showOrder",
    tag = "orders",
    summary = "One order with its activation steps",
    description = "As `pecwatch orders show --format json`.\n\nNeeds any token (read-only or operator).",
    params(("id" = i64, Path, description = "The order's number.")),
    security(("bearer" = [])),
    responses((status = 200, description = "The order.", body = OrderDetail), ReadProblems)
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = order_id(lang, &id)?;
    let order = state
        .registry
        .order(id)
        .await
        .map_err(|error| Problem::registry(lang, error))?
        .ok_or_else(|| activation_problem(lang, ActivationError::NoOrder(id)))?;
    Ok(json(
        StatusCode::OK,
        &order_value(&state, lang, &order).await?,
    ))
}

/// The body of `POST /api/v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderBody {
    /// `own` (default) or `internal`.
    #[schema(value_type = Option<OrderKind>)]
    pub kind: Option<String>,
    /// The domain (own) or the label of the internal subdomain.
    pub name: String,
    /// Where the holder's notices go.
    #[schema(format = Email)]
    pub holder_email: String,
    /// The holder's name.
    pub holder_name: Option<String>,
    /// `it` (default) or `en`.
    #[schema(value_type = Option<Lang>)]
    pub lang: Option<String>,
    /// The reseller.
    pub reseller: Option<String>,
    /// A profile of the configuration (default `[check] profile`).
    pub profile: Option<String>,
    /// The expiry: a date or an RFC 3339 instant.
    pub expires: Option<String>,
}

/// `POST /api/v1/orders`: records an order (`pecwatch orders add`). `201 Created`.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    operation_id = "placeOrder",
    tag = "orders",
    summary = "Record an order of PEC on a domain",
    description = "As `pecwatch orders add`: own domains are approved at once (unless review_own_domains is set), internal subdomains wait for an operator.\n\nNeeds an operator token.",
    request_body(content = OrderBody, description = "The order."),
    security(("bearer" = [])),
    responses((status = 201, description = "Recorded.", body = OrderDetail), WriteProblems)
)]
pub(crate) async fn place(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Body(body): Body<OrderBody>,
) -> Result<Response, Problem> {
    let kind = match body.kind.as_deref() {
        None => OrderKind::Own,
        Some(text) => OrderKind::from_str(text, true)
            .map_err(|_| Problem::bad_request(lang, format!("kind {text:?}: own, internal")))?,
    };
    let holder_lang = match body.lang.as_deref().map(str::trim) {
        None | Some("it") => Lang::It,
        Some("en") => Lang::En,
        Some(other) => {
            return Err(Problem::bad_request(
                lang,
                format!("lang {other:?}: it, en"),
            ));
        }
    };
    let profile = body
        .profile
        .clone()
        .unwrap_or_else(|| state.site.profiles.default.clone());
    state
        .site
        .profiles
        .get(&profile)
        .map_err(|error| Problem::bad_request(lang, error))?;
    let request = OrderRequest {
        kind,
        name: body.name,
        holder: Holder {
            name: body.holder_name.filter(|name| !name.trim().is_empty()),
            email: body.holder_email,
            lang: holder_lang,
        },
        reseller: body.reseller,
        profile,
        expires: body
            .expires
            .as_deref()
            .map(|text| parse_instant(text, &state.zone))
            .transpose()
            .map_err(|error| Problem::bad_request(lang, error.to_string()))?,
    };
    let order = activation::place(
        &state.registry,
        &state.activation,
        &request,
        state.clock.now(),
    )
    .await
    .map_err(|error| activation_problem(lang, error))?;
    Ok(json(
        StatusCode::CREATED,
        &order_value(&state, lang, &order).await?,
    ))
}

/// The body of `approve`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {
    /// The person the call acts for.
    pub actor: Option<String>,
}

/// `POST /api/v1/orders/{id}/approve`.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/approve",
    operation_id = "approveOrder",
    tag = "orders",
    summary = "Approve a received order",
    description = "Registers the domain (pending_dns); the sweep activates it when its DNS is right.\n\nNeeds an operator token.",
    params(("id" = i64, Path, description = "The order's number.")),
    request_body(content = Option<ApproveBody>, description = "Who the call acts for."),
    security(("bearer" = [])),
    responses((status = 200, description = "The order.", body = OrderDetail), WriteProblems)
)]
pub(crate) async fn approve(
    State(state): State<AppState>,
    Operator(caller): Operator,
    lang: Lang,
    Path(id): Path<String>,
    Body(body): Body<ApproveBody>,
) -> Result<Response, Problem> {
    let id = order_id(lang, &id)?;
    let order = activation::approve(
        &state.registry,
        &state.activation,
        id,
        &caller.actor(body.actor.as_deref()),
        state.clock.now(),
    )
    .await
    .map_err(|error| activation_problem(lang, error))?;
    Ok(json(
        StatusCode::OK,
        &order_value(&state, lang, &order).await?,
    ))
}

/// The body of `reject`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    /// Why.
    pub reason: Option<String>,
    /// The person the call acts for.
    pub actor: Option<String>,
}

/// `POST /api/v1/orders/{id}/reject`.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/reject",
    operation_id = "rejectOrder",
    tag = "orders",
    summary = "Reject a received order",
    description = "Final.\n\nNeeds an operator token.",
    params(("id" = i64, Path, description = "The order's number.")),
    request_body(content = Option<RejectBody>, description = "Why, and who the call acts for."),
    security(("bearer" = [])),
    responses((status = 200, description = "The order.", body = OrderDetail), WriteProblems)
)]
pub(crate) async fn reject(
    State(state): State<AppState>,
    Operator(caller): Operator,
    lang: Lang,
    Path(id): Path<String>,
    Body(body): Body<RejectBody>,
) -> Result<Response, Problem> {
    let id = order_id(lang, &id)?;
    let order = activation::reject(
        &state.registry,
        id,
        &caller.actor(body.actor.as_deref()),
        body.reason.as_deref().unwrap_or(""),
        state.clock.now(),
    )
    .await
    .map_err(|error| activation_problem(lang, error))?;
    Ok(json(
        StatusCode::OK,
        &order_value(&state, lang, &order).await?,
    ))
}

/// The query of `GET /api/v1/mailboxes`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MailboxQuery {
    /// Only the mailboxes of this domain.
    pub domain: Option<String>,
}

/// `GET /api/v1/mailboxes`.
#[utoipa::path(
    get,
    path = "/api/v1/mailboxes",
    operation_id = "listMailboxes",
    tag = "orders",
    summary = "Mailboxes, of one domain or all",
    description = "As `pecwatch mailboxes list --format json`.\n\nNeeds any token (read-only or operator).",
    params(MailboxQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The mailboxes.", body = MailboxList), ReadProblems)
)]
pub(crate) async fn mailboxes(
    State(state): State<AppState>,
    _reader: Reader,
    lang: Lang,
    params: Result<Query<MailboxQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(lang, params)?;
    let domain_id = match &params.domain {
        None => None,
        Some(name) => {
            let name = domain_name(lang, name)?;
            Some(registered(&state.registry, lang, &name).await?.id)
        }
    };
    let list = state
        .registry
        .mailboxes(domain_id)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let list = MailboxList {
        mailboxes: list.iter().map(MailboxView::from).collect(),
    };
    Ok(json(StatusCode::OK, &list))
}

/// The body of `POST /api/v1/mailboxes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailboxBody {
    /// `local@domain`, in a certified domain.
    #[schema(format = Email)]
    pub address: String,
}

/// `POST /api/v1/mailboxes`: creates a mailbox and its set-password link (`pecwatch
/// mailboxes add`). `201 Created` with `{"mailbox", "link"}`.
#[utoipa::path(
    post,
    path = "/api/v1/mailboxes",
    operation_id = "addMailbox",
    tag = "orders",
    summary = "Create a mailbox in a certified domain, with its set-password link",
    description = "As `pecwatch mailboxes add`.\n\nNeeds an operator token.",
    request_body(content = MailboxBody, description = "The address."),
    security(("bearer" = [])),
    responses((status = 201, description = "Created.", body = MailboxCreated), WriteProblems)
)]
pub(crate) async fn add_mailbox(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Body(body): Body<MailboxBody>,
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let mailbox = activation::add_mailbox(&state.registry, &body.address, now)
        .await
        .map_err(|error| activation_problem(lang, error))?;
    let link = activation::issue_link(&state.registry, &state.activation, &mailbox, now)
        .await
        .map_err(|error| activation_problem(lang, error))?;
    Ok(json(
        StatusCode::CREATED,
        &MailboxCreated {
            link,
            mailbox: MailboxView::from(&mailbox),
        },
    ))
}

/// `POST /api/v1/mailboxes/{address}/link`: a new set-password link (older ones stop
/// working).
#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/{address}/link",
    operation_id = "mailboxLink",
    tag = "orders",
    summary = "A new set-password link for a mailbox",
    description = "Older links stop working.\n\nNeeds an operator token.",
    params(("address" = String, Path, description = "The mailbox's address (local@domain).")),
    security(("bearer" = [])),
    responses((status = 200, description = "The link.", body = MailboxLink), WriteProblems)
)]
pub(crate) async fn link(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Path(address): Path<String>,
) -> Result<Response, Problem> {
    let link = activation::reissue_link(
        &state.registry,
        &state.activation,
        &address,
        state.clock.now(),
    )
    .await
    .map_err(|error| activation_problem(lang, error))?;
    Ok(json(StatusCode::OK, &MailboxLink { address, link }))
}

/// `DELETE /api/v1/mailboxes/{address}`.
#[utoipa::path(
    delete,
    path = "/api/v1/mailboxes/{address}",
    operation_id = "removeMailbox",
    tag = "orders",
    summary = "Delete a mailbox",
    description = "As `pecwatch mailboxes remove`.\n\nNeeds an operator token.",
    params(("address" = String, Path, description = "The mailbox's address (local@domain).")),
    security(("bearer" = [])),
    responses((status = 200, description = "Deleted.", body = MailboxRemoved), WriteProblems)
)]
pub(crate) async fn remove_mailbox(
    State(state): State<AppState>,
    _operator: Operator,
    lang: Lang,
    Path(address): Path<String>,
) -> Result<Response, Problem> {
    let (local, domain) =
        activation::parse_address(&address).map_err(|error| activation_problem(lang, error))?;
    let address = format!("{local}@{domain}");
    let removed = state
        .registry
        .remove_mailbox(&address)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    if !removed {
        return Err(activation_problem(
            lang,
            ActivationError::NoMailbox(address),
        ));
    }
    Ok(json(StatusCode::OK, &MailboxRemoved { removed: address }))
}
