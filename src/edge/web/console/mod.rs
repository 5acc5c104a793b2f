//! The operators' console, under `/console`: server-rendered pages, no JavaScript.
//!
//! - `GET|POST /console/login`, `POST /console/logout`: signing in and out
//!   ([`auth`]: argon2id passwords, sessions, CSRF tokens, throttling).
//! - `GET /console`: the dashboard (domains by state, deadlines of the next days, the
//!   last sweep and its canaries, errors by code over time as an SVG chart).
//! - `GET /console/domains`: the domains, filtered by state, profile and text, a page
//!   at a time; `GET /console/domains/{name}`: one domain (state, deadline countdown,
//!   checks and what changed between them, transitions, notices) and the actions,
//!   `POST /console/domains/{name}/{action}` (`recheck`, `approve`, `reject`, `renew`,
//!   `remove`, `exception`), carried out by [`crate::actions`].
//! - `GET /console/orders`, `POST /console/orders/{id}/{approve|reject}`: the orders
//!   queue ([`crate::activation`]); `GET /console/mailboxes`: the mailboxes.
//!
//! Users and roles: `pecwatch users add NAME --role operator|read-only`. A `read-only`
//! user sees every page without the action buttons, and gets 403 for any POST but
//! signing out.

pub(super) mod auth;
mod dashboard;
mod domains;
mod orders;

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::AppState;
use super::limit::RateLimiter;
use super::pages::ui::form_pairs;
use crate::Lang;

/// Most bytes of a console form.
const FORM_MAX: usize = 64 * 1024;

/// The routes of this part.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(dashboard::show))
        .route("/console/", get(dashboard::show))
        .route("/console/login", get(auth::login_form).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/domains", get(domains::list))
        .route("/console/domains/{name}", get(domains::show))
        .route("/console/domains/{name}/{action}", post(domains::act))
        .route("/console/orders", get(orders::list))
        .route("/console/orders/{id}/{action}", post(orders::decide))
        .route("/console/mailboxes", get(orders::mailboxes))
        .layer(Extension(Arc::new(Console::default())))
}

/// Sign-ins allowed per client address in a minute (and at once): each one hashes a
/// password.
pub(super) const LOGINS_PER_MINUTE: u32 = 10;

/// What the console keeps between requests.
#[derive(Debug, Default)]
pub(super) struct Console {
    login_limiter: OnceLock<RateLimiter>,
    /// The failed sign-ins of each (user name, client address).
    backoff: auth::SignInBackoff,
}

impl Console {
    /// The sign-in budget of each client address (the interface's token buckets, with
    /// their handling of `[web] trusted_proxies`).
    fn login_limiter(&self, state: &AppState) -> &RateLimiter {
        self.login_limiter
            .get_or_init(|| RateLimiter::new(LOGINS_PER_MINUTE, state.site.web.trusted_proxies()))
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, read leniently: a field
/// that is missing or malformed is the handler's to judge, never a bare error page.
#[derive(Clone, Debug, Default)]
pub(super) struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The first value of a field.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if bytes.len() > FORM_MAX {
            return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
        }
        Ok(FormFields(form_pairs(&String::from_utf8_lossy(&bytes))))
    }
}

/// An instant in `zone` (the configured one, [`AppState::zone`]), for people.
pub(super) fn when(at: Timestamp, lang: Lang, zone: &TimeZone) -> String {
    let format = match lang {
        Lang::It => "%d/%m/%Y %H:%M",
        Lang::En => "%Y-%m-%d %H:%M",
    };
    crate::clock::civil(at, zone, format)
}

/// A date in `zone`, for people.
pub(super) fn day(at: Timestamp, lang: Lang, zone: &TimeZone) -> String {
    let format = match lang {
        Lang::It => "%d/%m/%Y",
        Lang::En => "%Y-%m-%d",
    };
    crate::clock::civil(at, zone, format)
}

/// How long until `at` (or since, when past), in days and hours: `3 giorni e 4 ore`.
pub(super) fn span(from: Timestamp, to: Timestamp, lang: Lang) -> String {
    let seconds = to.as_second().abs_diff(from.as_second());
    let days = seconds / 86_400;
    let hours = (seconds % 86_400) / 3_600;
    let minutes = (seconds % 3_600) / 60;
    let unit = |n: u64, it_one: &str, it_many: &str, en: &str| match lang {
        Lang::It => format!("{n} {}", if n == 1 { it_one } else { it_many }),
        Lang::En => format!("{n} {en}{}", if n == 1 { "" } else { "s" }),
    };
    let and = lang.pick("e", "and");
    if days > 0 {
        format!(
            "{} {and} {}",
            unit(days, "giorno", "giorni", "day"),
            unit(hours, "ora", "ore", "hour")
        )
    } else if hours > 0 {
        format!(
            "{} {and} {}",
            unit(hours, "ora", "ore", "hour"),
            unit(minutes, "minuto", "minuti", "minute")
        )
    } else {
        unit(minutes, "minuto", "minuti", "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        let at: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let later = |s: i64| {
            at.saturating_add(jiff::SignedDuration::from_secs(s))
                .unwrap()
        };
        assert_eq!(
            span(at, later(3 * 86_400 + 4 * 3_600), Lang::It),
            "3 giorni e 4 ore"
        );
        assert_eq!(
            span(at, later(86_400 + 3_600), Lang::En),
            "1 day and 1 hour"
        );
        assert_eq!(span(later(600), at, Lang::It), "10 minuti");
        assert_eq!(span(at, later(7_260), Lang::It), "2 ore e 1 minuto");
        assert_eq!(
            when(at, Lang::It, &crate::clock::default_zone()),
            "23/11/2026 10:00"
        );
        assert_eq!(when(at, Lang::En, &TimeZone::UTC), "2026-11-23 09:00");
    }
}
