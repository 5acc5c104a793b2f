//! Errors as RFC 9457 problem details (`application/problem+json`), in Italian or English
//! by the request's `Accept-Language`.
//!
//! Every error of the machine endpoints is a [`Problem`]: `type` (a `tag:` URI naming the
//! kind of problem, stable: programs switch on it), `title` (the kind, for people),
//! `status` and `detail` (this occurrence, for people), plus members of their own for
//! some kinds (`missing` keys of an unconfigured index, `retry_after` seconds). The
//! language is picked by [`Lang`]'s extractor: English when the client prefers it,
//! Italian otherwise.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Type};

use crate::Lang;
use crate::view::ProblemBody;

/// The media type of problem details.
pub(super) const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of every problem type: a tag URI (RFC 4151), which needs no registration
/// and is never dereferenced.
pub(super) const TYPE_PREFIX: &str = "tag:pecwatch,2026:problem:";

/// An RFC 9457 problem.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The kind, the last part of `type` (`invalid-domain`, `unknown-domain`, …).
    pub kind: &'static str,
    /// The kind, for people, in the request's language.
    pub title: String,
    /// This occurrence, for people, in the request's language.
    pub detail: String,
    /// Members of this kind of problem.
    pub extra: Map<String, Value>,
    /// Headers to send with it (`Retry-After`, `WWW-Authenticate`, `Allow`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The language of `title` and `detail` (`Content-Language`).
    pub lang: Lang,
}

impl Problem {
    /// A problem of `kind` with `status`, its title in both languages and the detail.
    pub(super) fn new(
        status: StatusCode,
        kind: &'static str,
        lang: Lang,
        title: (&str, &str),
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            kind,
            title: lang.pick(title.0, title.1).to_owned(),
            detail: detail.into(),
            extra: Map::new(),
            headers: Vec::new(),
            lang,
        }
    }

    /// Adds a member of this problem's own.
    pub(super) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a header.
    pub(super) fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// The problem's `type` URI.
    pub(super) fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.kind)
    }

    /// The body.
    pub(super) fn body(&self) -> ProblemBody {
        ProblemBody {
            detail: self.detail.clone(),
            extra: self.extra.clone(),
            status: self.status.as_u16(),
            title: self.title.clone(),
            kind: self.type_uri(),
        }
    }

    /// The body as JSON.
    pub(super) fn to_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or_default()
    }

    // -----------------------------------------------------------------------------------
    // The common kinds
    // -----------------------------------------------------------------------------------

    /// 400: the request is malformed (a bad parameter, a value out of range).
    pub(super) fn bad_request(lang: Lang, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            lang,
            ("Richiesta non valida", "Bad request"),
            detail,
        )
    }

    /// 400: a name that is not a domain name.
    pub(super) fn invalid_domain(lang: Lang, input: &str, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-domain",
            lang,
            ("Nome di dominio non valido", "Invalid domain name"),
            detail,
        )
        .with("input", input)
    }

    /// 422: a holder's or reseller's value that cannot be accepted (control characters,
    /// too long, not an address); `field` names it.
    pub(super) fn invalid_contact(lang: Lang, error: &crate::contact::ContactError) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            lang,
            ("Valore non valido", "Invalid value"),
            error.message(lang),
        )
        .with("field", error.field.as_str())
    }

    /// 404: a domain that is not registered.
    pub(super) fn unknown_domain(lang: Lang, domain: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-domain",
            lang,
            ("Dominio non registrato", "Domain not registered"),
            format!(
                "{domain} {}",
                lang.pick("non è registrato", "is not registered")
            ),
        )
        .with("domain", domain)
    }

    /// 404: something else that does not exist.
    pub(super) fn not_found(lang: Lang, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            lang,
            ("Risorsa inesistente", "Not found"),
            detail,
        )
    }

    /// 409: the request conflicts with the state of the resource (an action the
    /// lifecycle does not allow, a name already taken, a domain that kept changing).
    pub(super) fn conflict(lang: Lang, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            lang,
            (
                "Operazione non consentita nello stato attuale",
                "Not allowed in the current state",
            ),
            detail,
        )
    }

    /// 503: the database cannot be reached or failed. The detail names the database
    /// without its password.
    pub(super) fn database(lang: Lang, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database-unavailable",
            lang,
            ("Database non disponibile", "Database unavailable"),
            detail,
        )
    }

    /// 500: a failure of ours.
    pub(super) fn internal(lang: Lang, detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            lang,
            ("Errore interno", "Internal error"),
            detail,
        )
    }

    /// A registry error: 503 for the database, 404, 409 or 400 for the request.
    pub(super) fn registry(lang: Lang, error: crate::registry::RegistryError) -> Self {
        use crate::registry::RegistryError;
        match error {
            RegistryError::Database(detail) => Problem::database(lang, detail),
            RegistryError::NotFound(what) => Problem::not_found(
                lang,
                format!("{}: {what}", lang.pick("inesistente", "not found")),
            ),
            RegistryError::Duplicate(what) => Problem::conflict(
                lang,
                format!("{}: {what}", lang.pick("esiste già", "already exists")),
            ),
            RegistryError::Conflict => Problem::conflict(
                lang,
                lang.pick(
                    "il dominio è stato modificato da altri nel frattempo; riprovare",
                    "the domain was changed by someone else in the meantime; try again",
                ),
            ),
            RegistryError::Invalid(detail) => Problem::bad_request(lang, detail),
            RegistryError::Unreadable(detail) => Problem::internal(lang, detail),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.to_json().to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(self.lang.pick("it", "en")),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

// ---------------------------------------------------------------------------------------
// The problems of each operation, for the OpenAPI document
// ---------------------------------------------------------------------------------------

/// What a problem of `status` means, for the document.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => {
            "Bad request: an invalid parameter, domain name or body (problem types bad-request, invalid-domain, invalid-json)."
        }
        401 => "No token, or a token that does not work (WWW-Authenticate: Bearer).",
        403 => "A read-only token on an operator's call.",
        404 => "No such domain (unknown-domain), notice, order, mailbox or route (not-found).",
        405 => "The route has no such method.",
        409 => {
            "Not allowed in the domain's state, a name already taken, or the domain kept changing."
        }
        413 => {
            "The body is larger than 256 KiB (request-too-large), or too many names (too-many-names)."
        }
        415 => "The body is not JSON.",
        422 => {
            "JSON of the wrong shape (invalid-json), or a holder's name or address or a reseller that cannot be accepted (invalid-field, naming the `field`)."
        }
        429 => "Too many requests from this client address (Retry-After says when to try again).",
        500 => "Something recorded in the registry cannot be read back (internal-error).",
        _ => {
            "The database is unreachable (database-unavailable), the index is not configured (index-not-configured, naming the missing keys), or the DNS does not answer (dns-unavailable)."
        }
    }
}

/// The problem responses of `statuses`, each an `application/problem+json` body.
fn problem_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<ResponseDoc>> {
    statuses
        .iter()
        .map(|&status| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ProblemBody")))
                .build();
            let mut response = ResponseBuilder::new()
                .description(meaning(status))
                .content(PROBLEM_JSON, content);
            let header = match status {
                401 => Some(("WWW-Authenticate", Type::String)),
                429 => Some(("Retry-After", Type::Integer)),
                _ => None,
            };
            if let Some((name, kind)) = header {
                let schema = ObjectBuilder::new().schema_type(kind).build();
                response = response.header(name, HeaderBuilder::new().schema(Some(schema)).build());
            }
            (status.to_string(), response.build().into())
        })
        .collect()
}

/// Marker types naming the problems an operation answers (`responses(ReadProblems)` in
/// a handler's `#[utoipa::path]`).
macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident: [$($status:literal),*];)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
                problem_responses(&[$($status),*])
            }
        }
    )*};
}

problems! {
    /// A read of the registry with a token.
    ReadProblems: [400, 401, 404, 405, 500, 503];
    /// A change with an operator token and a body.
    WriteProblems: [400, 401, 403, 404, 405, 409, 413, 415, 422, 503];
    /// A check of names.
    CheckProblems: [400, 401, 405, 413, 415, 422, 429, 503];
    /// The instructions of a domain.
    InstructionsProblems: [400, 401, 405, 429];
    /// A read of the index with a token.
    IndexProblems: [400, 401, 405, 503];
    /// A record of the index with an operator token.
    PublishProblems: [401, 403, 405, 503];
    /// An open, rate-limited document.
    LimitedProblems: [429];
    /// The open, rate-limited LDIF.
    LdifProblems: [429, 503];
    /// The metrics.
    MetricsProblems: [503];
}

// ---------------------------------------------------------------------------------------
// The request's language
// ---------------------------------------------------------------------------------------

/// The language a client prefers by its `Accept-Language` (RFC 9110 §12.5.4): English if
/// an `en` range has a higher weight than any `it` range (or `it` is absent), else
/// Italian, the default.
pub(super) fn lang_of(headers: &HeaderMap) -> Lang {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
    else {
        return Lang::It;
    };
    let mut best: Option<(f32, Lang)> = None;
    for range in value.split(',') {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                (name.trim() == "q").then(|| value.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let lang = match primary {
            "it" => Lang::It,
            "en" => Lang::En,
            _ => continue,
        };
        if weight <= 0.0 {
            continue;
        }
        // Equal weights: the first listed wins.
        if best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map_or(Lang::It, |(_, lang)| lang)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(lang_of(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(value).unwrap(),
        );
        lang_of(&headers)
    }

    #[test]
    fn accept_language_picks_english_only_when_preferred() {
        assert_eq!(lang_of(&HeaderMap::new()), Lang::It);
        assert_eq!(accept("en"), Lang::En);
        assert_eq!(accept("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(accept("it-IT,it;q=0.9,en;q=0.8"), Lang::It);
        assert_eq!(accept("de, en;q=0.5"), Lang::En);
        assert_eq!(accept("en;q=0.3, it;q=0.7"), Lang::It);
        assert_eq!(accept("en;q=0, fr"), Lang::It);
        assert_eq!(accept("fr, de"), Lang::It);
        assert_eq!(accept("*"), Lang::It);
    }

    #[test]
    fn problems_are_rfc_9457() {
        let problem = Problem::unknown_domain(Lang::En, "pec.x.it");
        let body = problem.to_json();
        assert_eq!(body["type"], "tag:pecwatch,2026:problem:unknown-domain");
        assert_eq!(body["status"], 404);
        assert_eq!(body["title"], "Domain not registered");
        assert_eq!(body["detail"], "pec.x.it is not registered");
        assert_eq!(body["domain"], "pec.x.it");
        let response = problem.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::CONTENT_LANGUAGE], "en");
        let italian = Problem::unknown_domain(Lang::It, "pec.x.it").into_response();
        assert_eq!(italian.headers()[header::CONTENT_LANGUAGE], "it");
    }
}
