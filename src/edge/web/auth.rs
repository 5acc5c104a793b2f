//! API tokens: how machines authenticate to the JSON API.
//!
//! A client sends `Authorization: Bearer pw_…`. The token is 32 random bytes from the
//! operating system's CSPRNG-seeded generator, written as `pw_` and 43 base64url
//! characters; `pecwatch tokens add NAME --role operator|read-only` prints it once and
//! the registry keeps only its SHA-256 ([`token_hash`]). A fast hash is right here, unlike
//! for passwords: a token has 256 bits of entropy, so no guess list or brute force can
//! reach it and a slow hash (argon2) would only slow every request down; a stolen table
//! of hashes does not give the tokens back.
//!
//! Roles: `operator` may do everything; `read-only` may only read (`GET`, `HEAD`), plus
//! the check (`POST /api/v1/check`), which changes nothing and is open to anonymous
//! clients too. Handlers say what they need with the extractors [`Reader`] (any valid
//! token), [`Operator`] (an operator token) and [`MaybeCaller`] (a token if one is sent).
//! A missing or unknown token is `401` with `WWW-Authenticate: Bearer`, a read-only token
//! on an operator's call `403`, both as problem+json.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::{Problem, lang_of};
use crate::Lang;
use crate::registry::tokens::Role;

/// What every token starts with (so that it is recognisable in a leaked file or a
/// secret scanner).
pub(super) const TOKEN_PREFIX: &str = "pw_";

/// How often this process records that a token was used: at most once a minute per
/// token, so that busy clients do not write to the database on every request.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A new token: `pw_` and 32 random bytes in base64url.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 of a token, lower-case hexadecimal: what the registry stores.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Who is calling: the token's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Caller {
    /// The token's identifier.
    pub token_id: i64,
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Caller {
    /// The actor recorded in the history for this caller's actions: `api:NAME`, or
    /// `PERSON (api:NAME)` when the request names the person it acts for.
    pub(super) fn actor(&self, on_behalf_of: Option<&str>) -> String {
        match on_behalf_of
            .map(str::trim)
            .filter(|person| !person.is_empty())
        {
            Some(person) => format!("{person} (api:{})", self.name),
            None => format!("api:{}", self.name),
        }
    }
}

/// 401: no token, or one that does not work.
pub(super) fn unauthorized(lang: Lang, detail: &str, invalid: bool) -> Problem {
    let challenge = if invalid {
        "Bearer realm=\"pecwatch\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"pecwatch\""
    };
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        lang,
        ("Autenticazione necessaria", "Authentication required"),
        detail,
    )
    .header(header::WWW_AUTHENTICATE, challenge)
}

/// 403: a read-only token on an operator's call.
pub(super) fn forbidden(lang: Lang, caller: &Caller) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        lang,
        (
            "Operazione non consentita a questo token",
            "Not allowed with this token",
        ),
        match lang {
            Lang::It => format!(
                "il token {:?} è di sola lettura: questa operazione richiede un token operator",
                caller.name
            ),
            Lang::En => format!(
                "the token {:?} is read-only: this call needs an operator token",
                caller.name
            ),
        },
    )
    .with("role", caller.role.as_str())
}

/// The caller of a request: `Ok(None)` without an `Authorization` header, the caller for
/// a working token, a 401 problem for a malformed or unknown token, 503 when the
/// database cannot say.
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Problem> {
    let lang = lang_of(headers);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            unauthorized(
                lang,
                lang.pick(
                    "intestazione Authorization non valida: serve \"Bearer TOKEN\"",
                    "invalid Authorization header: expected \"Bearer TOKEN\"",
                ),
                true,
            )
        })?;
    let found = state
        .registry
        .token_by_hash(&token_hash(token))
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let Some(found) = found else {
        return Err(unauthorized(
            lang,
            lang.pick("token sconosciuto o revocato", "unknown or revoked token"),
            true,
        ));
    };
    if should_touch(found.id, Instant::now())
        && let Err(error) = state
            .registry
            .touch_token(found.id, state.clock.now())
            .await
    {
        tracing::warn!(%error, token = found.name, "cannot record the token's use");
    }
    Ok(Some(Caller {
        token_id: found.id,
        name: found.name,
        role: found.role,
    }))
}

/// Whether this process should record a use of token `id` now (at most once a minute).
fn should_touch(id: i64, now: Instant) -> bool {
    static TOUCHED: Mutex<Option<HashMap<i64, Instant>>> = Mutex::new(None);
    let Ok(mut touched) = TOUCHED.lock() else {
        return true;
    };
    let touched = touched.get_or_insert_with(HashMap::new);
    match touched.get(&id) {
        Some(at) if now.saturating_duration_since(*at) < TOUCH_EVERY => false,
        _ => {
            if touched.len() > 10_000 {
                touched.clear();
            }
            touched.insert(id, now);
            true
        }
    }
}

/// Any working token (read-only or operator): for reading.
#[derive(Clone, Debug)]
pub(super) struct Reader;

/// An operator token: for changing things.
#[derive(Clone, Debug)]
pub(super) struct Operator(pub Caller);

/// The caller if a token was sent (a bad token is still refused).
#[derive(Clone, Debug)]
pub(super) struct MaybeCaller(pub Option<Caller>);

/// The caller of a request, authenticated once per request (extractors may run more than
/// once: the result is kept in the request's extensions).
async fn caller(parts: &mut Parts, state: &AppState) -> Result<Option<Caller>, Problem> {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return Ok(Some(caller.clone()));
    }
    let caller = authenticate(state, &parts.headers).await?;
    if let Some(caller) = &caller {
        parts.extensions.insert(caller.clone());
    }
    Ok(caller)
}

fn required(lang: Lang) -> Problem {
    unauthorized(
        lang,
        lang.pick(
            "serve un token API: Authorization: Bearer TOKEN (pecwatch tokens add)",
            "an API token is needed: Authorization: Bearer TOKEN (pecwatch tokens add)",
        ),
        false,
    )
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let lang = lang_of(&parts.headers);
        caller(parts, state)
            .await?
            .map(|_caller| Reader)
            .ok_or_else(|| required(lang))
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let lang = lang_of(&parts.headers);
        let caller = caller(parts, state).await?.ok_or_else(|| required(lang))?;
        if caller.role != Role::Operator {
            return Err(forbidden(lang, &caller));
        }
        Ok(Operator(caller))
    }
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(MaybeCaller(caller(parts, state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_and_hashed_with_sha256() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        let bytes = URL_SAFE_NO_PAD.decode(&a[TOKEN_PREFIX.len()..]).unwrap();
        assert_eq!(bytes.len(), 32);
        // SHA-256 of "abc" (FIPS 180-2 test vector).
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn uses_are_recorded_once_a_minute() {
        let now = Instant::now();
        assert!(should_touch(-7, now));
        assert!(!should_touch(-7, now + Duration::from_secs(59)));
        assert!(should_touch(-7, now + Duration::from_secs(61)));
        assert!(should_touch(-8, now));
    }
}
