//! The machine side of the web interface: the JSON API under `/api/v1`, the providers'
//! index (`/index.ldif`), `/healthz`, `/metrics` and the OpenAPI document
//! (`/openapi.json`).
//!
//! Every route is listed once, in [`table`], which builds the router and the OpenAPI
//! document ([`super::openapi`]) together from the handlers' `#[utoipa::path]`
//! descriptions (utoipa-axum): a route cannot be served without being documented, and the
//! document's schemas are the views' types ([`crate::view`]).
//!
//! Conventions:
//!
//! - JSON in and out; request bodies are objects, checked strictly (unknown members are
//!   refused), at most [`MAX_BODY`] bytes.
//! - Errors are RFC 9457 problems ([`super::problem`]), in Italian or English by
//!   `Accept-Language`, also for unknown routes under `/api/v1` and wrong methods.
//! - Authentication: `Authorization: Bearer TOKEN` ([`super::auth`]); reading needs any
//!   token, changing needs an operator token. `POST /api/v1/check` and `GET
//!   /api/v1/instructions/{domain}` work without a token, rate-limited per client address
//!   ([`super::limit`]), as do `/index.ldif` and `/openapi.json`. `/healthz` and
//!   `/metrics` are open and not limited: expose them to the monitoring network only.
//! - Lists are paged by a cursor: `limit` and `cursor`, the next page's URL in the `next`
//!   member and in a `Link: <…>; rel="next"` header. Pages follow a stable order (domains
//!   by name, notices by identifier) and the cursor is the last item's key, so a walk
//!   through every page sees every item once, even while items are added.
//! - The JSON of domains, checks, instructions, orders, notices and the index diff is the
//!   command line's `--format json`: the same views ([`crate::view`]) make it.

pub(super) mod check;
pub(super) mod domains;
pub(super) mod index;
pub(super) mod instructions;
pub(super) mod notices;
pub(super) mod orders;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequest, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::{Problem, lang_of};
use crate::Lang;

/// The largest request body accepted (a check of `[web] check_max_names` names fits).
pub(super) const MAX_BODY: usize = 256 * 1024;

/// The routes and the OpenAPI document that describes them, built together.
pub(super) struct Table {
    /// The routes.
    pub router: Router<AppState>,
    /// The document: every route, its parameters, bodies, answers and their schemas.
    pub openapi: utoipa::openapi::OpenApi,
}

/// Every machine route, with its description.
pub(super) fn table() -> Table {
    use super::limit::public;
    let limited = || axum::middleware::from_fn(public);
    let (schemas, paths, ldif) = routes!(super::index::ldif);
    let ldif = (schemas, paths, ldif.layer(limited()));
    let (schemas, paths, openapi) = routes!(super::openapi::document);
    let openapi = (schemas, paths, openapi.layer(limited()));
    let (router, openapi) = OpenApiRouter::with_openapi(super::openapi::base())
        .routes(routes!(super::metrics::healthz))
        .routes(routes!(super::metrics::metrics))
        .routes(ldif)
        .routes(openapi)
        .routes(routes!(check::check))
        .routes(routes!(instructions::show))
        .routes(routes!(domains::list, domains::add))
        .routes(routes!(domains::show))
        .routes(routes!(domains::approve))
        .routes(routes!(domains::reject))
        .routes(routes!(domains::renew))
        .routes(routes!(domains::remove))
        .routes(routes!(domains::recheck))
        .routes(routes!(domains::exception, domains::change_exception))
        .routes(routes!(notices::list))
        .routes(routes!(notices::show))
        .routes(routes!(notices::resend))
        .routes(routes!(index::export))
        .routes(routes!(index::diff))
        .routes(routes!(index::publications, index::publish))
        .routes(routes!(orders::list, orders::place))
        .routes(routes!(orders::show))
        .routes(routes!(orders::approve))
        .routes(routes!(orders::reject))
        .routes(routes!(orders::mailboxes, orders::add_mailbox))
        .routes(routes!(orders::remove_mailbox))
        .routes(routes!(orders::link))
        .split_for_parts();
    Table { router, openapi }
}

/// The routes of this part.
pub(super) fn routes() -> Router<AppState> {
    table()
        .router
        .route("/api/v1", any(unknown_route))
        .route("/api/v1/", any(unknown_route))
        .route("/api/v1/{*rest}", any(unknown_route))
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// 404 for a path under `/api/v1` that is no route.
async fn unknown_route(lang: Lang, uri: Uri) -> Problem {
    Problem::not_found(
        lang,
        format!(
            "{}: {}",
            lang.pick(
                "nessuna risorsa a questo indirizzo",
                "no resource at this path"
            ),
            uri.path()
        ),
    )
}

/// 405 for a route asked with a method it does not have.
async fn wrong_method(lang: Lang, method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        lang,
        ("Metodo non consentito", "Method not allowed"),
        format!(
            "{} {method} {}",
            lang.pick("metodo non consentito:", "method not allowed:"),
            uri.path()
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------

/// A JSON request body, with every failure a problem: `413` too large, `415` not JSON,
/// `400` malformed JSON, `422` JSON of the wrong shape. An empty body reads as `{}`, so
/// that calls whose members are all optional need none.
#[derive(Clone, Debug)]
pub(super) struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let lang = lang_of(request.headers());
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(lang, MAX_BODY)
                } else {
                    Problem::bad_request(lang, rejection.body_text())
                }
            })?;
        parse_body(lang, &headers, &bytes).map(Body)
    }
}

/// 413.
pub(super) fn too_large(lang: Lang, limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request-too-large",
        lang,
        ("Richiesta troppo grande", "Request body too large"),
        match lang {
            Lang::It => format!("il corpo della richiesta supera {limit} byte"),
            Lang::En => format!("the request body exceeds {limit} bytes"),
        },
    )
    .with("limit", limit)
}

/// Parses a JSON body (see [`Body`]).
fn parse_body<T: DeserializeOwned>(
    lang: Lang,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, Problem> {
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    if !empty {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                lang,
                ("Tipo di contenuto non supportato", "Unsupported media type"),
                match lang {
                    Lang::It => format!(
                        "il corpo deve essere JSON (Content-Type: application/json), non {content_type:?}"
                    ),
                    Lang::En => format!(
                        "the body must be JSON (Content-Type: application/json), not {content_type:?}"
                    ),
                },
            )
            .header(header::ACCEPT, "application/json"));
        }
    }
    let text: &[u8] = if empty { b"{}" } else { bytes };
    serde_json::from_slice(text).map_err(|error| {
        let (status, what) = match error.classify() {
            serde_json::error::Category::Data => (
                StatusCode::UNPROCESSABLE_ENTITY,
                lang.pick("JSON con campi non validi", "JSON with invalid members"),
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                lang.pick("JSON non valido", "invalid JSON"),
            ),
        };
        Problem::new(
            status,
            "invalid-json",
            lang,
            ("JSON non valido", "Invalid JSON"),
            format!("{what}: {error}"),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Helpers of the handlers
// ---------------------------------------------------------------------------------------

/// A JSON response with a status: the view's members sorted at every level, as the
/// command line writes them ([`crate::view::to_json_string`]).
pub(super) fn json<T: Serialize>(status: StatusCode, view: &T) -> Response {
    match serde_json::to_value(view) {
        Ok(value) => (status, Json(value)).into_response(),
        Err(error) => Problem::internal(Lang::En, error.to_string()).into_response(),
    }
}

/// Percent-encodes a query parameter's value (everything but RFC 3986's unreserved
/// characters).
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL of `path?query` for links: absolute under `[web] public_url` when it is set,
/// else relative to the server's root.
pub(super) fn link(state: &AppState, path: &str, query: &[(&str, String)]) -> String {
    let base = state.site.web.public_url.trim_end_matches('/');
    let query: Vec<String> = query
        .iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect();
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", query.join("&"))
    }
}

/// A page of a list (its `next` member the next page's URL) and, when there is a next
/// page, `Link: <URL>; rel="next"`.
pub(super) fn paged<T: Serialize>(page: &T, next: Option<String>) -> Response {
    let mut response = json(StatusCode::OK, page);
    if let Some(next) = next
        && let Ok(value) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// The page size asked for: `limit`, default 100, from 1 to 1000.
pub(super) fn page_size(lang: Lang, limit: Option<u64>) -> Result<u64, Problem> {
    match limit {
        None => Ok(100),
        Some(limit @ 1..=1000) => Ok(limit),
        Some(other) => Err(Problem::bad_request(
            lang,
            match lang {
                Lang::It => format!("limit {other}: deve essere tra 1 e 1000"),
                Lang::En => format!("limit {other}: must be between 1 and 1000"),
            },
        )),
    }
}

/// Query parameters, with a bad query a 400 problem.
pub(super) fn query<T>(
    lang: Lang,
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, Problem> {
    query
        .map(|axum::extract::Query(value)| value)
        .map_err(|rejection| Problem::bad_request(lang, rejection.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("pec.x-y_z~"), "pec.x-y_z~");
        assert_eq!(encode("a b&c=d/è"), "a%20b%26c%3Dd%2F%C3%A8");
    }

    #[test]
    fn bodies_must_be_json_objects_of_the_right_shape() {
        #[derive(serde::Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields)]
        struct Sample {
            #[allow(dead_code)]
            reason: Option<String>,
        }
        let mut json_headers = HeaderMap::new();
        json_headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(parse_body::<Sample>(Lang::En, &HeaderMap::new(), b"").is_ok());
        assert!(parse_body::<Sample>(Lang::En, &json_headers, b"{\"reason\":\"x\"}").is_ok());
        let bad = parse_body::<Sample>(Lang::En, &json_headers, b"{\"reason\":").unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let shape = parse_body::<Sample>(Lang::En, &json_headers, b"{\"other\":1}").unwrap_err();
        assert_eq!(shape.status, StatusCode::UNPROCESSABLE_ENTITY);
        let text = parse_body::<Sample>(Lang::It, &HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
