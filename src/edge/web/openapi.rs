//! The OpenAPI 3.1 document of the machine endpoints, served at `/openapi.json`.
//!
//! Nothing in it is written by hand but the words: the paths, parameters, bodies and
//! answers come from the handlers' `#[utoipa::path]` descriptions, gathered by the same
//! table that builds the router ([`super::api::table`], with utoipa-axum), and the
//! schemas are derived from the types the answers are made of ([`crate::view`]). The
//! integration tests hold every JSON answer they receive against the schema the document
//! gives its path, method and status.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;

use super::AppState;
use super::problem::LimitedProblems;
use crate::view::ProblemBody;

/// What the document says besides the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pecwatch",
        description = "The machine interface of pecwatch: checks, the registry of certified domains and the operators' actions, notices, the providers' index, health and metrics. Errors are RFC 9457 problems (application/problem+json), in Italian by default or English by Accept-Language. Authenticate with `Authorization: Bearer TOKEN` (`pecwatch tokens add NAME --role operator|read-only`).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "check", description = "Checks and activation instructions on demand."),
        (name = "domains", description = "The registry and the operators' actions."),
        (name = "notices", description = "Notices and alerts."),
        (name = "index", description = "The providers' index (RFC 6109)."),
        (name = "orders", description = "Activation: orders and mailboxes."),
        (name = "service", description = "Health, metrics, this document."),
    ),
    components(schemas(ProblemBody)),
    modifiers(&Bearer),
)]
struct Base;

/// The bearer tokens' security scheme.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API token from `pecwatch tokens add`: `operator` for every call, `read-only` for GET.",
            ))
            .build();
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        }
    }
}

/// The document before the routes are added to it.
pub(super) fn base() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The whole document, built once.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| super::api::table().openapi);

/// The whole document; `public_url` (may be empty) is its server.
pub fn spec(public_url: &str) -> utoipa::openapi::OpenApi {
    let mut document = DOCUMENT.clone();
    let server = if public_url.is_empty() {
        "/"
    } else {
        public_url.trim_end_matches('/')
    };
    document.servers = Some(vec![Server::new(server)]);
    document
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "service",
    summary = "This document",
    description = "Rate-limited per client address.",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI document.", body = Object),
        LimitedProblems
    )
)]
pub(super) async fn document(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(spec(&state.site.web.public_url)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// Every `$ref` in `value`.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "$ref" {
                        out.push(value.as_str().unwrap_or_default().to_owned());
                    } else {
                        refs(value, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_well_formed_openapi_3_1() {
        let document = serde_json::to_value(spec("https://pec.esempio.it/")).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["servers"][0]["url"], "https://pec.esempio.it");
        assert_eq!(document["info"]["title"], "pecwatch");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(document["components"]["securitySchemes"]["bearer"].is_object());
        let mut references = Vec::new();
        refs(&document, &mut references);
        assert!(references.len() > 30);
        for reference in &references {
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            assert!(
                document.pointer(pointer).is_some(),
                "unresolved {reference}"
            );
        }
        let mut ids = BTreeSet::new();
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() >= 25, "{}", paths.len());
        for (path, item) in paths {
            let templated: BTreeSet<String> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                assert!(operation["summary"].is_string(), "{method} {path}");
                assert!(operation["security"].is_array(), "{method} {path}");
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}");
                let declared: BTreeSet<String> = operation["parameters"]
                    .as_array()
                    .map(|parameters| {
                        parameters
                            .iter()
                            .filter(|p| p["in"] == "path")
                            .map(|p| p["name"].as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(declared, templated, "path parameters of {method} {path}");
            }
        }
    }
}
