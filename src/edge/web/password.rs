//! The set-password page of activation notices (`/password/{token}`): the holder chooses
//! the postmaster mailbox's password (or any mailbox's, from `pecwatch mailboxes link`)
//! through a single-use, expiring link. The rules are [`crate::activation`]'s: the
//! password is checked, hashed with argon2id and the link used up, atomically. Neither
//! the token nor the password is ever logged.
//!
//! The link's token is the only credential: the form posts back to the same URL, so no
//! session or CSRF token is needed (a forged request would have to know the token).
//! Requests are rate-limited per client address, like every public page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::AppState;
use super::pages::ui::Page;
use crate::Lang;
use crate::activation::{self, ActivationError};
use crate::registry::LinkProblem;

/// Where the page lives; the token follows (`activation.password_link_url` must point
/// here on the public address of the web interface).
pub(super) const PREFIX: &str = "/password/";

/// The routes of the page.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/password/{token}", get(form).post(submit))
}

/// The fields of the form.
#[derive(Debug, serde::Deserialize)]
struct Fields {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn limited(page: &Page, request: &axum::http::Extensions, headers: &HeaderMap) -> Option<Response> {
    super::limit::enforce(request, headers)
        .err()
        .map(|problem| {
            let wait = problem
                .headers
                .iter()
                .find(|(name, _)| *name == axum::http::header::RETRY_AFTER)
                .and_then(|(_, value)| value.to_str().ok()?.parse().ok())
                .unwrap_or(60);
            page.too_many(wait)
        })
}

/// `GET /password/{token}`: the form, or why the link cannot be used.
async fn form(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    headers: HeaderMap,
    request: axum::http::Extensions,
) -> Response {
    if let Some(response) = limited(&page, &request, &headers) {
        return response;
    }
    let now = state.clock.now();
    match activation::link_mailbox(&state.registry, &token, now).await {
        Ok(mailbox) => show(&page, StatusCode::OK, &mailbox.address, &state, None),
        Err(error) => refused(&page, &error),
    }
}

/// `POST /password/{token}`: sets the password, or shows the form again with the problem.
async fn submit(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    headers: HeaderMap,
    request: axum::http::Extensions,
    axum::Form(fields): axum::Form<Fields>,
) -> Response {
    if let Some(response) = limited(&page, &request, &headers) {
        return response;
    }
    let now = state.clock.now();
    let mailbox = match activation::link_mailbox(&state.registry, &token, now).await {
        Ok(mailbox) => mailbox,
        Err(error) => return refused(&page, &error),
    };
    if fields.password != fields.confirm {
        let problem = page.lang.pick(
            "le due password non coincidono",
            "the two passwords do not match",
        );
        return show(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            &mailbox.address,
            &state,
            Some(problem),
        );
    }
    match activation::set_password(&state.registry, &token, &fields.password, now).await {
        Ok(mailbox) => page.render(
            StatusCode::OK,
            "password.html",
            context! { done => true, address => mailbox.address, problem => (), expires => "" },
        ),
        Err(ActivationError::Password(problem)) => show(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            &mailbox.address,
            &state,
            Some(problem.message(page.lang)),
        ),
        Err(error) => refused(&page, &error),
    }
}

fn show(
    page: &Page,
    status: StatusCode,
    address: &str,
    state: &AppState,
    problem: Option<&str>,
) -> Response {
    let hours = state.activation.password_link_ttl.as_hours();
    let expires = match page.lang {
        Lang::It => format!("{hours} ore dopo l'invio"),
        Lang::En => format!("{hours} hours after it was sent"),
    };
    page.render(
        status,
        "password.html",
        context! { done => false, address => address, problem => problem, expires => expires },
    )
}

/// A link that cannot be used (unknown, used, expired), or a failure of ours.
fn refused(page: &Page, error: &ActivationError) -> Response {
    let (status, title, message) = match error {
        ActivationError::Link(problem) => {
            let message = match problem {
                LinkProblem::Unknown => page.lang.pick(
                    "Il link non è valido: controlli di averlo copiato per intero, oppure chieda un nuovo link al gestore.",
                    "The link is not valid: check that you copied all of it, or ask the provider for a new link.",
                ),
                LinkProblem::Used => page.lang.pick(
                    "Il link è già stato usato: la password è stata impostata. Per cambiarla chieda un nuovo link al gestore.",
                    "The link was used already: the password has been set. To change it, ask the provider for a new link.",
                ),
                LinkProblem::Expired => page.lang.pick(
                    "Il link è scaduto: chieda un nuovo link al gestore.",
                    "The link has expired: ask the provider for a new link.",
                ),
            };
            (
                StatusCode::GONE,
                page.lang.pick("Link non utilizzabile", "Link not usable"),
                message,
            )
        }
        other => return page.internal(other),
    };
    page.error(status, title, message)
}
