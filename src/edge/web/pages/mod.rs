//! The public self-service check: anyone can see whether a certified domain is
//! configured as its PEC provider requires, in plain Italian or English, with the exact
//! zone lines that fix it. No login, no JavaScript.
//!
//! - `GET /`: the form (domain, provider profile).
//! - `GET /check?domain=…&profile=…`: what the form sends; redirects to the result's
//!   own address, or shows the form again with what is wrong in the input.
//! - `GET /check/{domain}?profile=…`: the result, at an address that can be shared and
//!   bookmarked. The check runs on demand through the shared prober; a result is kept
//!   for [`CACHE_FOR`], so a shared link does not hammer the DNS. Each request costs
//!   the client a token of the interface's shared rate limit ([`super::limit`],
//!   `[web] rate_limit_per_minute`); without tokens: a 429 page in both languages.
//! - `GET /assets/pecwatch.css`: the one stylesheet of every page.
//!
//! [`ui`] holds what the console's pages share with these (templates, language, errors).

pub(super) mod ui;
pub(super) mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use minijinja::context;

use self::ui::{Page, Peer, build_query, encode_component, query_param};
use super::AppState;
use super::limit::RateLimiter;
use crate::check::evaluate;
use crate::name::DomainName;
use crate::probe::ProbeError;
use crate::report::Report;

/// How long a check's result is shown again instead of checking anew.
pub(super) const CACHE_FOR: Duration = Duration::from_secs(60);
/// Most results kept at once.
const CACHE_ENTRIES: usize = 2_000;
/// Most characters of a hostile input echoed back in a message.
const ECHO_MAX: usize = 200;

/// The routes of this part.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/check", get(check_form))
        .route("/check/{domain}", get(check))
        .route(ui::CSS_PATH, get(ui::stylesheet))
        .layer(Extension(Arc::new(Public::default())))
}

/// What the public pages keep between requests: the recent results.
#[derive(Default)]
struct Public {
    cache: CheckCache,
}

/// One result being computed or computed, shared by the requests that want it.
type Slot = Arc<tokio::sync::OnceCell<(Instant, Result<Arc<Report>, String>)>>;

/// The recent results, by domain and profile: concurrent requests for the same result
/// wait for one check.
#[derive(Default)]
struct CheckCache {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl CheckCache {
    /// The result for `key` (at most [`CACHE_FOR`] old), computed by `run` if needed,
    /// and its age.
    async fn get<F, Fut>(
        &self,
        key: (String, String),
        run: F,
    ) -> (Result<Arc<Report>, String>, Duration)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Report, String>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = |slot: &Slot| slot.get().is_none_or(|(at, _)| at.elapsed() < CACHE_FOR);
            if slots.len() >= CACHE_ENTRIES {
                slots.retain(|_, slot| slot.get().is_some_and(|(at, _)| at.elapsed() < CACHE_FOR));
                if slots.len() >= CACHE_ENTRIES {
                    slots.clear();
                }
            }
            match slots.get(&key) {
                Some(slot) if fresh(slot) => slot.clone(),
                _ => {
                    let slot = Slot::default();
                    slots.insert(key, slot.clone());
                    slot
                }
            }
        };
        let (at, result) = slot
            .get_or_init(|| async {
                let result = run().await.map(Arc::new);
                (Instant::now(), result)
            })
            .await;
        (result.clone(), at.elapsed())
    }
}

/// `GET /`: the form.
async fn home(State(state): State<AppState>, page: Page) -> Response {
    let profile = query_param(&page.uri, "profile").unwrap_or_default();
    form(&state, &page, StatusCode::OK, "", &profile, None)
}

/// The form, with the input kept and what is wrong with it.
fn form(
    state: &AppState,
    page: &Page,
    status: StatusCode,
    domain: &str,
    profile: &str,
    problem: Option<String>,
) -> Response {
    let profiles = state.site.profiles.names.clone();
    let chosen = if profiles.iter().any(|p| p == profile) {
        profile.to_owned()
    } else {
        state.site.profiles.default.clone()
    };
    page.render(
        status,
        "home.html",
        context! {
            domain => echo(domain),
            profiles => profiles,
            profile => chosen,
            problem => problem,
        },
    )
}

/// At most [`ECHO_MAX`] characters of an input, to show it back.
fn echo(input: &str) -> String {
    input.chars().take(ECHO_MAX).collect()
}

/// What is wrong with the form's input, or the domain and profile to check.
fn validate(
    state: &AppState,
    page: &Page,
    domain: &str,
    profile: Option<&str>,
) -> Result<(DomainName, String), String> {
    let lang = page.lang;
    let profile = profile
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map_or_else(
            || state.site.profiles.default.clone(),
            str::to_ascii_lowercase,
        );
    if domain.trim().is_empty() {
        return Err(lang
            .pick(
                "Scrivi il nome del dominio certificato da controllare, per esempio pec.esempio.it.",
                "Enter the name of the certified domain to check, for example pec.example.it.",
            )
            .to_owned());
    }
    let name = DomainName::parse(domain).map_err(|e| {
        let message = e.message(lang);
        if message.chars().count() > ECHO_MAX + 100 {
            format!(
                "{}…",
                message.chars().take(ECHO_MAX + 100).collect::<String>()
            )
        } else {
            message
        }
    })?;
    if !state.site.profiles.names.contains(&profile) {
        return Err(match lang {
            crate::Lang::It => format!(
                "Il gestore {:?} non è tra quelli previsti: scegline uno dall'elenco.",
                echo(&profile)
            ),
            crate::Lang::En => format!(
                "The provider {:?} is not one of those offered: pick one from the list.",
                echo(&profile)
            ),
        });
    }
    Ok((name, profile))
}

/// The result's own address.
fn result_href(domain: &DomainName, profile: &str, page: &Page) -> String {
    let mut pairs = vec![("profile".to_owned(), profile.to_owned())];
    if let Some(lang) = query_param(&page.uri, "lang") {
        pairs.push(("lang".to_owned(), lang));
    }
    format!(
        "/check/{}?{}",
        encode_component(domain.as_str()),
        build_query(&pairs)
    )
}

/// `GET /check?domain=…&profile=…`: what the form sends.
async fn check_form(State(state): State<AppState>, page: Page) -> Response {
    let domain = query_param(&page.uri, "domain").unwrap_or_default();
    let profile = query_param(&page.uri, "profile");
    match validate(&state, &page, &domain, profile.as_deref()) {
        Ok((name, profile)) => Redirect::to(&result_href(&name, &profile, &page)).into_response(),
        Err(problem) => form(
            &state,
            &page,
            StatusCode::BAD_REQUEST,
            &domain,
            profile.as_deref().unwrap_or(""),
            Some(problem),
        ),
    }
}

/// `GET /check/{domain}?profile=…`: the result.
async fn check(
    State(state): State<AppState>,
    Extension(public): Extension<Arc<Public>>,
    limiter: Option<Extension<Arc<RateLimiter>>>,
    peer: Peer,
    headers: HeaderMap,
    page: Page,
    domain: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(Extension(limiter)) = limiter {
        let client = limiter.client(peer.0, &headers);
        if let Err(wait) = limiter.take(client) {
            return page.too_many(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
    }
    let profile = query_param(&page.uri, "profile");
    let raw = match domain {
        Ok(Path(raw)) => raw,
        Err(_) => String::new(),
    };
    let (name, profile) = match validate(&state, &page, &raw, profile.as_deref()) {
        Ok(valid) => valid,
        Err(problem) => {
            return form(
                &state,
                &page,
                StatusCode::BAD_REQUEST,
                &raw,
                profile.as_deref().unwrap_or(""),
                Some(problem),
            );
        }
    };
    // One address per result: `PEC.Example.IT.` and `pec.example.it` share theirs.
    if raw != name.as_str() || query_param(&page.uri, "profile").as_deref() != Some(&profile) {
        return Redirect::to(&result_href(&name, &profile, &page)).into_response();
    }
    let key = (name.to_string(), profile.clone());
    let (result, age) = public
        .cache
        .get(key, || {
            run_check(state.clone(), name.clone(), profile.clone())
        })
        .await;
    match result {
        Ok(report) => page.render(
            StatusCode::OK,
            "check.html",
            context! {
                report => view::report(&report, page.lang),
                age => age.as_secs(),
                cache_for => CACHE_FOR.as_secs(),
                profiles => state.site.profiles.names.clone(),
                profile => &profile,
                domain => name.as_str(),
            },
        ),
        Err(problem) => {
            let mut response = page.error(
                StatusCode::SERVICE_UNAVAILABLE,
                page.lang
                    .pick("Controllo non disponibile", "Check unavailable"),
                &problem,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            response
        }
    }
}

/// Runs one check through the shared prober. Fails only when the provider's own mail
/// host cannot be resolved (then no domain can be judged): the message says so.
pub(super) async fn run_check(
    state: AppState,
    name: DomainName,
    profile: String,
) -> Result<Report, String> {
    let profile = state.site.profiles.get(&profile)?;
    let profile = state
        .prober
        .resolve_profile(&profile)
        .await
        .map_err(|error| match error {
            ProbeError::ProfileUnresolved { host, .. } => format!(
                "Il server di posta del gestore ({host}) non risulta nel DNS in questo momento: riprova più tardi. / The provider's mail host ({host}) cannot be resolved right now: try again later."
            ),
            other => other.to_string(),
        })?;
    let observation = state.prober.observe(&name).await;
    let findings = evaluate(&observation, &profile);
    Ok(
        Report::new(name.as_str(), &observation, &profile.name, findings)
            .with_provider(&profile.display_name),
    )
}
