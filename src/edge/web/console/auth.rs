//! Signing in to the console: passwords (argon2id), sessions, cookies, CSRF tokens and
//! the throttling of sign-ins.
//!
//! - A password is checked against its argon2id hash off the async threads. A name that
//!   does not exist costs the same hash, so timing does not tell which names exist.
//! - Failed sign-ins slow down the pair (user name, client address) that made them
//!   ([`SignInBackoff`]): after [`FREE_FAILURES`] in a row that pair waits 30 seconds,
//!   then twice as long after each further failure, up to [`MAX_WAIT`]. The user
//!   signs in from anywhere else meanwhile (nobody can lock a user out from afar), and a
//!   name that does not exist gets the same answer, the same status and the same hashing
//!   time as one that does, so the answers do not tell which names exist. Each client
//!   address also has a small budget of sign-ins (a token bucket), so nobody can make
//!   the server hash passwords all day.
//! - A session is a random 256-bit identifier in a cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/console`, `Secure` unless `[web] insecure_cookies`); the
//!   registry keeps only its SHA-256. It lasts [`SESSION_FOR`].
//! - Every POST form carries the session's CSRF token (random, per session), compared in
//!   constant time; the sign-in form, which has no session yet, carries a token that must
//!   match a short-lived cookie (double submit).

use crate::web::auth::token_hash;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use minijinja::context;

use super::{Console, FormFields};
use crate::Lang;
use crate::registry::users::{NewSession, Role, Session};
use crate::web::AppState;
use crate::web::pages::ui::{Page, Peer, cookie, encode_component, query_param};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "pecwatch_session";
/// The sign-in form's cookie (double-submit CSRF token).
pub(crate) const LOGIN_COOKIE: &str = "pecwatch_login";
/// How long a session lasts.
pub(crate) const SESSION_FOR: SignedDuration = SignedDuration::from_hours(8);
/// Failed sign-ins in a row from one client address for one user name before it must
/// wait.
pub(crate) const FREE_FAILURES: u32 = 5;
/// The first wait, doubled at each further failure.
pub(crate) const FIRST_WAIT: SignedDuration = SignedDuration::from_secs(30);
/// The longest wait.
pub(crate) const MAX_WAIT: SignedDuration = SignedDuration::from_mins(15);
/// Most (user name, client address) pairs remembered; past it, those whose latest
/// failure is older than a day are forgotten, then all.
const MAX_PAIRS: usize = 100_000;
/// How long the failures of a pair are remembered.
const REMEMBER: SignedDuration = SignedDuration::from_hours(24);

/// How long a pair must wait after `failures` failures in a row (`None`: not at all).
pub(crate) fn backoff(failures: u32) -> Option<SignedDuration> {
    let beyond = failures.checked_sub(FREE_FAILURES)?;
    let factor = 1_i32.checked_shl(beyond.min(20)).unwrap_or(i32::MAX);
    Some(
        FIRST_WAIT
            .checked_mul(factor)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT),
    )
}

/// The failed sign-ins of each (user name, client address) pair, in this process.
#[derive(Debug, Default)]
pub(crate) struct SignInBackoff {
    pairs: std::sync::Mutex<std::collections::HashMap<(String, std::net::IpAddr), Failures>>,
}

/// Failures in a row, and the latest.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    latest: Timestamp,
}

/// The key of a user name: as the registry matches it (case-insensitive), bounded.
fn pair_key(name: &str, client: std::net::IpAddr) -> (String, std::net::IpAddr) {
    (
        name.trim().to_lowercase().chars().take(64).collect(),
        client,
    )
}

impl SignInBackoff {
    /// How long `name` must still wait from `client` at `now`, if it must.
    pub(crate) fn wait(
        &self,
        name: &str,
        client: std::net::IpAddr,
        now: Timestamp,
    ) -> Option<std::time::Duration> {
        let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let failures = pairs.get(&pair_key(name, client))?;
        let until = failures
            .latest
            .saturating_add(backoff(failures.count)?)
            .ok()?;
        (until > now).then(|| until.duration_since(now).unsigned_abs())
    }

    /// Records a failed sign-in.
    pub(crate) fn failed(&self, name: &str, client: std::net::IpAddr, now: Timestamp) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        if pairs.len() >= MAX_PAIRS {
            pairs.retain(|_, f| f.latest.saturating_add(REMEMBER).is_ok_and(|t| t > now));
            if pairs.len() >= MAX_PAIRS {
                pairs.clear();
            }
        }
        let entry = pairs.entry(pair_key(name, client)).or_insert(Failures {
            count: 0,
            latest: now,
        });
        if entry
            .latest
            .saturating_add(REMEMBER)
            .is_ok_and(|t| t <= now)
        {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.latest = now;
    }

    /// Forgets the failures of a pair that signed in.
    pub(crate) fn succeeded(&self, name: &str, client: std::net::IpAddr) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.remove(&pair_key(name, client));
    }
}

/// A random token: 32 bytes, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hashes a new password with argon2id (the same hashing as the mailboxes' passwords).
pub fn hash_password(password: &str) -> Result<String, String> {
    crate::activation::hash_password(password).map_err(|e| e.message(Lang::En))
}

/// Checks a new password against the rules (at least
/// [`crate::activation::MIN_PASSWORD`] characters, two kinds of characters, not the
/// user's name); the message is in `lang`.
pub fn check_new_password(password: &str, user: &str, lang: Lang) -> Result<(), String> {
    crate::activation::check_password(password, &user.to_lowercase())
        .map_err(|problem| problem.message(lang).to_owned())
}

/// Whether `password` matches the argon2 PHC string `hash`. CPU-heavy: call it off the
/// async threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a random password, verified when the name does not exist so that a failed
/// sign-in costs the same either way (made once, when the sign-in form is first shown:
/// every sign-in starts there, for its form token).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// A `Set-Cookie` value.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if state.site.web.insecure_cookies {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// A signed-in user, from the session cookie. Pages that need one take it as an
/// argument; without a valid session the browser is sent to the sign-in page.
#[derive(Clone, Debug)]
pub(crate) struct SignedIn {
    /// The session (its user, its CSRF token).
    pub session: Session,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let page = Page::from_parts(&parts.uri, &parts.headers);
        let token = cookie(&parts.headers, SESSION_COOKIE).unwrap_or_default();
        if !token.is_empty() {
            match state
                .registry
                .session(&token_hash(&token), state.clock.now())
                .await
            {
                Ok(Some(session)) => return Ok(SignedIn { session }),
                Ok(None) => {}
                Err(error) => return Err(page.internal(&error)),
            }
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/console".to_owned());
        let mut target = format!("/console/login?next={}", encode_component(&next));
        if parts.method != axum::http::Method::GET {
            target.push_str("&expired=1");
        }
        Err(Redirect::to(&target).into_response())
    }
}

impl SignedIn {
    /// The user's role.
    pub(crate) fn role(&self) -> Role {
        self.session.user.role
    }

    /// What every console template needs about the user.
    pub(crate) fn context(&self) -> minijinja::Value {
        let user = &self.session.user;
        context! {
            user => context! {
                name => &user.name,
                role => user.role.as_str(),
                can_act => user.role.can_act(),
            },
            csrf => &self.session.csrf,
        }
    }

    /// The refusal (403) of a form without this session's CSRF token, or of a user who
    /// may not act; `None` when the form may be acted upon.
    pub(crate) fn refusal(&self, page: &Page, form: &FormFields) -> Option<Response> {
        let token = form.get("csrf").unwrap_or_default();
        if !same_secret(token, &self.session.csrf) {
            return Some(page.error(
                StatusCode::FORBIDDEN,
                page.lang.pick("Richiesta rifiutata", "Request refused"),
                page.lang.pick(
                    "Il modulo non porta il codice di sicurezza di questa sessione (è stato aperto altrove o è scaduto). Ricarica la pagina e riprova.",
                    "The form does not carry this session's security code (it was opened elsewhere or has expired). Reload the page and try again.",
                ),
            ));
        }
        if !self.role().can_act() {
            return Some(page.error(
                StatusCode::FORBIDDEN,
                page.lang.pick("Azione non consentita", "Action not allowed"),
                page.lang.pick(
                    "Il tuo ruolo è di sola lettura: puoi consultare la console ma non modificare nulla.",
                    "Your role is read-only: you can look at the console but not change anything.",
                ),
            ));
        }
        None
    }
}

/// Where to go after signing in: a console page, never another site. Anything else —
/// control characters (a `Location` header cannot carry them), spaces, non-ASCII,
/// dot-segments (`/console/../api`, also percent-encoded) — goes to the dashboard.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if (path == "/console"
                || path.starts_with("/console/")
                || path.starts_with("/console?"))
                && path.chars().all(|c| c.is_ascii_graphic())
                && !path.contains("//")
                && !path.contains('\\')
                && !has_dot_segment(path)
                && !path.starts_with("/console/login")
                && !path.starts_with("/console/logout") =>
        {
            path.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

/// Whether the path of `target` (before `?` or `#`) has a `.` or `..` segment, plain or
/// percent-encoded.
fn has_dot_segment(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// The sign-in page, with a fresh form token (and its cookie).
fn login_page(
    state: &AppState,
    page: &Page,
    status: StatusCode,
    name: &str,
    next: &str,
    problem: Option<&str>,
    info: Option<&str>,
) -> Response {
    let token = random_token();
    let mut response = page.render(
        status,
        "console/login.html",
        context! {
            name => name.chars().take(64).collect::<String>(),
            next => next,
            csrf => &token,
            problem => problem,
            info => info,
        },
    );
    if let Some(value) = set_cookie(state, LOGIN_COOKIE, &token, 3600) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console/login`.
pub(crate) async fn login_form(State(state): State<AppState>, page: Page) -> Response {
    // The decoy hash made ahead, off the async threads, so that the first sign-in with
    // an unknown name does not take one hashing more than the others.
    tokio::task::spawn_blocking(|| {
        decoy_hash();
    });
    let next = safe_next(query_param(&page.uri, "next").as_deref());
    let info = if query_param(&page.uri, "bye").is_some() {
        Some(
            page.lang
                .pick("Sei uscito dalla console.", "You have signed out."),
        )
    } else if query_param(&page.uri, "expired").is_some() {
        Some(page.lang.pick(
            "La sessione è scaduta: accedi di nuovo e ripeti l'operazione.",
            "Your session has expired: sign in again and repeat the action.",
        ))
    } else {
        None
    };
    login_page(&state, &page, StatusCode::OK, "", &next, None, info)
}

/// `POST /console/login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    axum::Extension(console): axum::Extension<std::sync::Arc<Console>>,
    peer: Peer,
    page: Page,
    headers: HeaderMap,
    form: FormFields,
) -> Response {
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    let next = safe_next(form.get("next"));
    let lang = page.lang;
    let limiter = console.login_limiter(&state);
    let client = limiter.client(peer.0, &headers);
    if let Err(wait) = limiter.take(client) {
        return page.too_many(wait.as_secs_f64().ceil().max(1.0) as u64);
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let sent = form.get("csrf").unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, sent) {
        return login_page(
            &state,
            &page,
            StatusCode::FORBIDDEN,
            &name,
            &next,
            Some(lang.pick(
                "Il modulo di accesso è scaduto o non è stato aperto da questa pagina: riprova.",
                "The sign-in form has expired or was not opened from this page: try again.",
            )),
            None,
        );
    }
    let password = form.get("password").unwrap_or_default().to_owned();
    let refused = |problem: &str| {
        login_page(
            &state,
            &page,
            StatusCode::UNAUTHORIZED,
            &name,
            &next,
            Some(problem),
            None,
        )
    };
    let wrong = lang.pick(
        "Nome utente o password non corretti.",
        "Wrong user name or password.",
    );
    let now = state.clock.now();
    let credentials = match state.registry.credentials(&name).await {
        Ok(credentials) => credentials,
        Err(error) => return page.internal(&error),
    };
    // The same for names that exist and names that do not: decided before the hashing.
    if let Some(wait) = console.backoff.wait(&name, client, now) {
        let seconds = u64::try_from(wait.as_millis().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1);
        tracing::info!(user = %name.chars().take(64).collect::<String>(), client = %client, seconds, "console sign-in held back");
        return refused(&match lang {
            Lang::It => format!(
                "Troppi tentativi non riusciti per questo utente da questo indirizzo: \
                 riprova tra {seconds} secondi."
            ),
            Lang::En => format!(
                "Too many failed attempts for this user from this address: try again in \
                 {seconds} seconds."
            ),
        });
    }
    let hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || {
        verify_password(&password, hash.as_deref().unwrap_or_else(|| decoy_hash()))
    })
    .await
    .unwrap_or(false);
    let known = credentials.as_ref().map(|c| c.user.id);
    let Some(credentials) = credentials.filter(|_| matches) else {
        console.backoff.failed(&name, client, now);
        if let Some(id) = known
            && let Err(error) = state.registry.record_login_failure(id, now).await
        {
            return page.internal(&error);
        }
        tracing::info!(user = %name.chars().take(64).collect::<String>(), client = %client, "console sign-in refused");
        return refused(wrong);
    };
    let token = random_token();
    let session = NewSession {
        id_hash: token_hash(&token),
        user_id: credentials.user.id,
        csrf: random_token(),
        created: now,
        expires: now.saturating_add(SESSION_FOR).unwrap_or(now),
    };
    let opened = async {
        state
            .registry
            .record_login(credentials.user.id, now)
            .await?;
        state.registry.open_session(&session).await
    };
    if let Err(error) = opened.await {
        return page.internal(&error);
    }
    console.backoff.succeeded(&name, client);
    tracing::info!(user = %credentials.user.name, client = %client, "console sign-in");
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    if let Some(value) = set_cookie(&state, SESSION_COOKIE, &token, SESSION_FOR.as_secs()) {
        headers.append(header::SET_COOKIE, value);
    }
    if let Some(value) = set_cookie(&state, LOGIN_COOKIE, "", 0) {
        headers.append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /console/logout`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    signed: SignedIn,
    page: Page,
    form: FormFields,
) -> Response {
    let token = form.get("csrf").unwrap_or_default();
    if !same_secret(token, &signed.session.csrf) {
        return page.error(
            StatusCode::FORBIDDEN,
            page.lang.pick("Richiesta rifiutata", "Request refused"),
            page.lang.pick(
                "Il modulo non porta il codice di sicurezza di questa sessione.",
                "The form does not carry this session's security code.",
            ),
        );
    }
    if let Err(error) = state.registry.close_session(&signed.session.id_hash).await {
        return page.internal(&error);
    }
    let mut response = Redirect::to("/console/login?bye=1").into_response();
    if let Some(value) = set_cookie(&state, SESSION_COOKIE, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_secrets() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(token_hash("abc").len(), 64);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn passwords_round_trip() {
        let hash = hash_password("correct horse 42").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse 42", &hash));
        assert!(!verify_password("correct horse 43", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn failures_slow_down_the_pair_that_made_them() {
        let secs = |n| backoff(n).map(|d| d.as_secs());
        assert_eq!(
            (1..=12).map(secs).collect::<Vec<_>>(),
            [
                None,
                None,
                None,
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900),
                Some(900)
            ]
        );
        assert_eq!(backoff(u32::MAX), Some(MAX_WAIT));
        let pairs = SignInBackoff::default();
        let (here, there) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(pairs.wait("mario", here, t0), None);
            pairs.failed("Mario ", here, t0);
        }
        assert_eq!(pairs.wait("MARIO", here, t0).map(|w| w.as_secs()), Some(30));
        assert_eq!(pairs.wait("mario", there, t0), None, "another address");
        assert_eq!(pairs.wait("lucia", here, t0), None, "another user");
        let later = t0 + SignedDuration::from_secs(31);
        assert_eq!(pairs.wait("mario", here, later), None, "waited enough");
        pairs.failed("mario", here, later);
        assert_eq!(
            pairs.wait("mario", here, later).map(|w| w.as_secs()),
            Some(60)
        );
        pairs.succeeded("mario", here);
        assert_eq!(pairs.wait("mario", here, later), None);
        // Forgotten after a day.
        for _ in 0..FREE_FAILURES {
            pairs.failed("nessuno", here, t0);
        }
        let tomorrow = t0 + SignedDuration::from_hours(25);
        pairs.failed("nessuno", here, tomorrow);
        assert_eq!(pairs.wait("nessuno", here, tomorrow), None);
    }

    #[test]
    fn only_console_pages_come_next() {
        assert_eq!(
            safe_next(Some("/console/domains?state=in_error")),
            "/console/domains?state=in_error"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/console//evil",
            "/consolex",
            "/console/login",
            "/\\evil",
            "/console\r\nSet-Cookie: x=1",
            "/console/domains\n",
            "/console/\u{7f}",
            "/console/dominio è",
            "/console/../api/v1/tokens",
            "/console/domains/..",
            "/console/./domains",
            "/console/%2e%2e/metrics",
            "/console/.%2E/metrics",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_next(None), "/console");
        assert_eq!(
            safe_next(Some("/console/domains/pec.x.it?from=..")),
            "/console/domains/pec.x.it?from=..",
            "dots in the query are not segments"
        );
    }
}
