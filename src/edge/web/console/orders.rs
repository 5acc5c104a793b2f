//! The orders queue (approve or reject, through [`crate::activation`]) and the
//! mailboxes of the certified domains.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use minijinja::{Value, context};

use super::auth::SignedIn;
use super::{FormFields, day, when};
use crate::Lang;
use crate::activation;
use crate::registry::{Order, OrderState};
use crate::web::AppState;
use crate::web::pages::ui::{Page, encode_component, query_param};

/// Orders and mailboxes shown at most.
const SHOWN: u64 = 500;

fn order_state_label(state: OrderState, lang: Lang) -> &'static str {
    match (state, lang) {
        (OrderState::Received, Lang::It) => "da decidere",
        (OrderState::Received, Lang::En) => "to decide",
        (OrderState::Approved, Lang::It) => "approvato",
        (OrderState::Approved, Lang::En) => "approved",
        (OrderState::Rejected, Lang::It) => "respinto",
        (OrderState::Rejected, Lang::En) => "rejected",
    }
}

/// `GET /console/orders?state=received|approved|rejected|all`.
pub(super) async fn list(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
) -> Response {
    orders_page(&state, &signed, &page, StatusCode::OK, None).await
}

async fn orders_page(
    state: &AppState,
    signed: &SignedIn,
    page: &Page,
    status: StatusCode,
    problem: Option<String>,
) -> Response {
    let lang = page.lang;
    let filter = match query_param(&page.uri, "state").as_deref() {
        Some("approved") => Some(OrderState::Approved),
        Some("rejected") => Some(OrderState::Rejected),
        Some("all") => None,
        _ => Some(OrderState::Received),
    };
    let orders = match state.registry.orders(filter, SHOWN).await {
        Ok(orders) => orders,
        Err(error) => return page.internal(&error),
    };
    let mut rows = Vec::with_capacity(orders.len());
    for order in &orders {
        let domain_state = match order.domain_id {
            Some(id) => match state.registry.domain_by_id(id).await {
                Ok(found) => found.map(|d| d.status.state),
                Err(error) => return page.internal(&error),
            },
            None => None,
        };
        rows.push(order_row(order, domain_state, lang, &state.zone));
    }
    let done = match query_param(&page.uri, "done").as_deref() {
        Some("approve") => Some(lang.pick(
            "Ordine approvato: il dominio è registrato e attende la verifica del DNS.",
            "Order approved: the domain is registered and waits for its DNS to be verified.",
        )),
        Some("reject") => Some(lang.pick("Ordine respinto.", "Order rejected.")),
        _ => None,
    };
    page.render(
        status,
        "console/orders.html",
        context! {
            nav => "orders",
            rows => rows,
            filter => filter.map_or("all", OrderState::as_str),
            done => done,
            problem => problem,
            ..signed.context(),
        },
    )
}

fn order_row(
    order: &Order,
    domain_state: Option<crate::lifecycle::State>,
    lang: Lang,
    zone: &TimeZone,
) -> Value {
    context! {
        id => order.id,
        name => order.name.as_str(),
        href => format!("/console/domains/{}", encode_component(order.name.as_str())),
        kind => order.kind.as_str(),
        kind_label => match (order.kind, lang) {
            (crate::registry::OrderKind::Own, Lang::It) => "dominio proprio",
            (crate::registry::OrderKind::Own, Lang::En) => "own domain",
            (crate::registry::OrderKind::Internal, Lang::It) => "sottodominio interno",
            (crate::registry::OrderKind::Internal, Lang::En) => "internal subdomain",
        },
        holder => &order.holder.email,
        holder_name => &order.holder.name,
        reseller => &order.reseller,
        profile => &order.profile,
        expires => order.expires.map(|e| day(e, lang, zone)),
        state => order.state.as_str(),
        state_label => order_state_label(order.state, lang),
        reason => &order.reason,
        actor => &order.actor,
        created => when(order.created, lang, zone),
        open => order.state == OrderState::Received,
        domain_state => domain_state.map(|s| s.as_str()),
        domain_state_label => domain_state.map(|s| s.label(lang)),
    }
}

/// `POST /console/orders/{id}/{approve|reject}`.
pub(super) async fn decide(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
    Path((id, action)): Path<(String, String)>,
    form: FormFields,
) -> Response {
    if let Some(refused) = signed.refusal(&page, &form) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return page.not_found();
    };
    let now = state.clock.now();
    let actor = signed.session.user.name.clone();
    let result = match action.as_str() {
        "approve" => activation::approve(&state.registry, &state.activation, id, &actor, now).await,
        "reject" => {
            let reason = form.get("reason").unwrap_or_default().trim();
            if reason.is_empty() {
                let problem = page.lang.pick(
                    "Per respingere un ordine scrivi il motivo: lo legge il cliente.",
                    "To reject an order, write the reason: the customer reads it.",
                );
                return orders_page(
                    &state,
                    &signed,
                    &page,
                    StatusCode::BAD_REQUEST,
                    Some(problem.to_owned()),
                )
                .await;
            }
            activation::reject(&state.registry, id, &actor, reason, now).await
        }
        _ => return page.not_found(),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/orders?done={action}")).into_response(),
        Err(error) => {
            let message = error.message(page.lang);
            orders_page(&state, &signed, &page, StatusCode::CONFLICT, Some(message)).await
        }
    }
}

/// `GET /console/mailboxes`.
pub(super) async fn mailboxes(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
) -> Response {
    let lang = page.lang;
    let zone = &state.zone;
    let boxes = match state.registry.mailboxes(None).await {
        Ok(boxes) => boxes,
        Err(error) => return page.internal(&error),
    };
    let mut domains: HashMap<i64, Option<(String, crate::lifecycle::State)>> = HashMap::new();
    let mut rows = Vec::new();
    for mailbox in boxes.iter().take(SHOWN as usize) {
        if let Entry::Vacant(slot) = domains.entry(mailbox.domain_id) {
            let found = match state.registry.domain_by_id(mailbox.domain_id).await {
                Ok(found) => found.map(|d| (d.name.to_string(), d.status.state)),
                Err(error) => return page.internal(&error),
            };
            slot.insert(found);
        }
        let domain = domains.get(&mailbox.domain_id).cloned().flatten();
        rows.push(context! {
            address => &mailbox.address,
            has_password => mailbox.has_password,
            created => when(mailbox.created, lang, zone),
            domain => domain.as_ref().map(|(name, _)| name.clone()),
            domain_href => domain.as_ref().map(|(name, _)| format!("/console/domains/{}", encode_component(name))),
            domain_state => domain.as_ref().map(|(_, s)| s.as_str()),
            domain_state_label => domain.as_ref().map(|(_, s)| s.label(lang)),
        });
    }
    page.render(
        StatusCode::OK,
        "console/mailboxes.html",
        context! {
            nav => "mailboxes",
            shown => rows.len(),
            rows => rows,
            total => boxes.len(),
        ..signed.context(),
        },
    )
}
