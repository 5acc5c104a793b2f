//! The providers' index over HTTP: `GET /index.ldif`, the URL other providers fetch and
//! `[index] ldif_url` names.
//!
//! The body is exactly what `pecwatch index export` writes ([`crate::index::render`] of
//! `[index]` and the registry's published domains). It is sent as `text/plain;
//! charset=utf-8`: LDIF (RFC 2849) has no registered media type (`application/ldif` and
//! `text/x-ldif` are unregistered names that some tools send and none requires), it is
//! text, every non-ASCII value is base64-encoded so the body is plain ASCII, and
//! `text/plain` is what fetchers (`curl`, `wget`, `ldapmodify -f` after a download) and
//! browsers handle without surprise. `X-Content-Type-Options: nosniff` keeps browsers
//! from guessing otherwise.
//!
//! Caching: the strong `ETag` is the SHA-256 of the LDIF ([`crate::index::ldif_hash`],
//! the hash `index export` prints and publications record). `Last-Modified` is the later
//! of the registry's last change of the listed set ([`Registry::index_changed_at`]: a
//! transition into or out of a published state, or the registration of a published
//! domain) and the moment this process first served the current LDIF, which covers what
//! the registry cannot date (a renewed certificate or an edited `[index]`, picked up at a
//! restart): it may be later than needed, never earlier. `If-None-Match` (weak comparison,
//! `*` too) takes precedence over `If-Modified-Since`, as RFC 9110 §13.2.2 says; either
//! gives `304 Not Modified`. `HEAD` gives the headers alone. `Cache-Control: no-cache`
//! makes caches revalidate, which costs a 304.
//!
//! Without a complete `[index]` the answer is `503` problem+json naming the missing keys.
//!
//! [`Registry::index_changed_at`]: crate::registry::Registry::index_changed_at

use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::problem::Problem;
use super::{AppState, IndexSource};
use crate::Lang;
use crate::index;

/// The media type of `/index.ldif`.
pub(super) const LDIF_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The LDIF this process served last and when it first served it.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    seen: Mutex<Option<(String, Timestamp)>>,
}

impl Tracker {
    /// When this process first served the LDIF with `hash`, taking `now` if it is new.
    pub(super) fn first_served(&self, hash: &str, now: Timestamp) -> Timestamp {
        let Ok(mut seen) = self.seen.lock() else {
            return now;
        };
        match &*seen {
            Some((known, at)) if known == hash => *at,
            _ => {
                *seen = Some((hash.to_owned(), now));
                now
            }
        }
    }
}

/// The index entry as it is now.
#[derive(Clone, Debug)]
pub(super) struct Current {
    /// The LDIF.
    pub ldif: String,
    /// Its SHA-256, lower-case hexadecimal.
    pub hash: String,
    /// The domains it lists, sorted.
    pub domains: Vec<String>,
}

/// The provider's entry from `[index]`, or the 503 problem saying what is missing.
pub(super) fn provider(source: &IndexSource, lang: Lang) -> Result<index::Provider, Problem> {
    let unconfigured = |detail: String| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "index-not-configured",
            lang,
            ("Indice non configurato", "Index not configured"),
            detail,
        )
    };
    if !source.missing.is_empty() {
        let keys: Vec<String> = source
            .missing
            .iter()
            .map(|(key, variable)| format!("[index] {key} ({variable})"))
            .collect();
        let missing: Vec<&str> = source.missing.iter().map(|(key, _)| *key).collect();
        return Err(unconfigured(format!(
            "{}: {}",
            lang.pick(
                "l'indice non è pubblicato finché non sono impostate",
                "the index is not published until these are set"
            ),
            keys.join(", ")
        ))
        .with("missing", missing));
    }
    (source.provider)().map_err(|error| unconfigured(error).with("missing", Vec::<String>::new()))
}

/// The entry as `pecwatch index export` writes it now.
pub(super) async fn current(state: &AppState, lang: Lang) -> Result<Current, Problem> {
    let provider = provider(&state.site.index, lang)?;
    let domains = state
        .registry
        .published_domains()
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let ldif = index::render(&provider, domains.iter().map(String::as_str));
    let hash = index::ldif_hash(&ldif);
    Ok(Current {
        ldif,
        hash,
        domains,
    })
}

/// `GET /index.ldif` (and `HEAD`).
#[utoipa::path(
    get,
    path = "/index.ldif",
    operation_id = "indexLdif",
    tag = "index",
    summary = "This provider's entry of the providers' index (RFC 6109), as LDIF",
    description = "Exactly what `pecwatch index export` writes. Strong ETag (the SHA-256 of the LDIF) and Last-Modified (the last change of the listed domains, or when this process first served this LDIF); If-None-Match and If-Modified-Since give 304. HEAD gives the headers. Rate-limited per client address.",
    params(
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the client's copy."),
        ("If-Modified-Since" = Option<String>, Header, description = "The Last-Modified of the client's copy.")
    ),
    security(()),
    responses(
        (status = 200, description = "The LDIF.", body = String, content_type = "text/plain",
            headers(("ETag" = String), ("Last-Modified" = String))),
        (status = 304, description = "Not modified since the client's copy."),
        super::problem::LdifProblems
    )
)]
pub(super) async fn ldif(
    State(state): State<AppState>,
    Extension(tracker): Extension<Arc<Tracker>>,
    lang: Lang,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let current = current(&state, lang).await?;
    let changed = state
        .registry
        .index_changed_at()
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    let served = tracker.first_served(&current.hash, state.clock.now());
    let modified = changed.map_or(served, |changed| changed.max(served));
    let modified = Timestamp::from_second(modified.as_second()).unwrap_or(modified);
    let etag = format!("\"{}\"", current.hash);

    let not_modified = match headers.get(header::IF_NONE_MATCH) {
        Some(value) => etag_matches(value.to_str().unwrap_or(""), &current.hash),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_http_date)
            .is_some_and(|since| modified <= since),
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        current.ldif.into_response()
    };
    let out = response.headers_mut();
    if !not_modified {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(LDIF_CONTENT_TYPE),
        );
        out.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline; filename=\"provider.ldif\""),
        );
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&http_date(modified)) {
        out.insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// Whether an `If-None-Match` list names the entity tag `"hash"` (weak comparison: a
/// `W/` prefix is ignored) or is `*`.
pub(super) fn etag_matches(list: &str, hash: &str) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == hash && tag.ends_with('"')
    })
}

/// An instant as an HTTP date (IMF-fixdate, RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37
/// GMT`.
pub(super) fn http_date(at: Timestamp) -> String {
    at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an HTTP date in any of the three formats RFC 9110 §5.6.7 says recipients
/// accept: IMF-fixdate, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov
/// 6 08:49:37 1994`). `None` for anything else (the header is then ignored).
pub fn parse_http_date(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let civil = |format: &str, text: &str| {
        jiff::civil::DateTime::strptime(format, text)
            .ok()
            .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
    };
    if let Some(rest) = text.strip_suffix(" GMT") {
        if let Some(at) = civil("%a, %d %b %Y %H:%M:%S", rest) {
            return Some(at);
        }
        // RFC 850: two-digit year, taken in 1970–2069.
        let (_, date_time) = rest.split_once(", ")?;
        let (date, time) = date_time.split_once(' ')?;
        let mut parts = date.split('-');
        let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
        let year: i32 = year.parse().ok()?;
        let year = if year < 70 { 2000 + year } else { 1900 + year };
        return civil("%d %b %Y %H:%M:%S", &format!("{day} {month} {year} {time}"));
    }
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    civil("%a %b %d %H:%M:%S %Y", &squeezed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_in_every_format() {
        let at: Timestamp = "1994-11-06T08:49:37Z".parse().unwrap();
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(at), "{text}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[test]
    fn entity_tags_compare_weakly() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("W/\"abc\"", "abc"));
        assert!(etag_matches("\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abcd\"", "abc"));
        assert!(!etag_matches("abc", "abc"));
    }

    #[test]
    fn the_tracker_keeps_the_first_time_a_hash_was_served() {
        let tracker = Tracker::default();
        let t0: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        assert_eq!(tracker.first_served("a", t0), t0);
        assert_eq!(tracker.first_served("a", t1), t0);
        assert_eq!(tracker.first_served("b", t1), t1);
    }

    #[test]
    fn missing_index_keys_are_named() {
        let source = IndexSource {
            missing: vec![("certificate", "PECWATCH_INDEX_CERTIFICATE".to_owned())],
            provider: std::sync::Arc::new(|| Err("unreachable".to_owned())),
        };
        let problem = provider(&source, Lang::En).unwrap_err();
        assert_eq!(problem.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            problem
                .detail
                .contains("[index] certificate (PECWATCH_INDEX_CERTIFICATE)"),
            "{}",
            problem.detail
        );
        let broken = IndexSource {
            missing: Vec::new(),
            provider: std::sync::Arc::new(|| Err("cannot read it".to_owned())),
        };
        let problem = provider(&broken, Lang::En).unwrap_err();
        assert_eq!(problem.detail, "cannot read it");
    }
}
