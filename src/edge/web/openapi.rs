//! The OpenAPI 3.1 document of the machine endpoints, served at `/openapi.json`.
//!
//! It is written here by hand, with a few helpers, rather than derived from the handlers:
//! the JSON the API returns is the command line's (`--format json`), built by the same
//! functions, so there are no Rust types to derive schemas from. Its completeness is
//! tested instead: the test below compares its paths and methods with the routes
//! [`super::api::table`] builds (the same table the router is made from), checks that
//! every `$ref` resolves, every path parameter is declared and every operation has an
//! `operationId`, a summary and responses; the integration tests call every documented
//! route.

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;

/// `GET /openapi.json`.
pub async fn document(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(spec(&state.config.web.public_url)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A reference to a schema of `components`.
fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A reference to a response of `components`.
fn response(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// A JSON response with a schema.
fn ok(description: &str, body: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": body } },
    })
}

/// A JSON request body.
fn body(description: &str, body: Value, required: bool) -> Value {
    json!({
        "description": description,
        "required": required,
        "content": { "application/json": { "schema": body } },
    })
}

/// A query parameter.
fn query(name: &str, description: &str, kind: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": kind })
}

/// An operation: summary, tag, parameters (by `$ref` or inline), request body, the
/// success responses; the problem responses are added by `errors`.
struct Operation {
    id: &'static str,
    summary: &'static str,
    description: &'static str,
    tag: &'static str,
    parameters: Vec<Value>,
    request: Option<Value>,
    responses: Vec<(&'static str, Value)>,
    errors: &'static [&'static str],
    security: Security,
}

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Security {
    /// Anyone (rate-limited or not).
    Open,
    /// Anyone; a token lifts the rate limit.
    OpenOrToken,
    /// A token of any role.
    Reader,
    /// An operator token.
    Operator,
}

impl Operation {
    fn to_json(&self) -> Value {
        let mut responses = Map::new();
        for (status, value) in &self.responses {
            responses.insert((*status).to_owned(), value.clone());
        }
        for error in self.errors {
            responses.insert((*error).to_owned(), response(&format!("E{error}")));
        }
        let (security, role) = match self.security {
            Security::Open => (json!([]), None),
            Security::OpenOrToken => (json!([{}, { "bearer": [] }]), None),
            Security::Reader => (
                json!([{ "bearer": [] }]),
                Some("any token (read-only or operator)"),
            ),
            Security::Operator => (json!([{ "bearer": [] }]), Some("an operator token")),
        };
        let description = match role {
            Some(role) => format!("{}\n\nNeeds {role}.", self.description),
            None => self.description.to_owned(),
        };
        let mut operation = json!({
            "operationId": self.id,
            "summary": self.summary,
            "description": description.trim(),
            "tags": [self.tag],
            "security": security,
            "responses": responses,
        });
        if !self.parameters.is_empty() {
            operation["parameters"] = json!(self.parameters);
        }
        if let Some(request) = &self.request {
            operation["requestBody"] = request.clone();
        }
        operation
    }
}

/// The problems most operations can answer.
const READ_ERRORS: &[&str] = &["400", "401", "404", "503"];
const WRITE_ERRORS: &[&str] = &[
    "400", "401", "403", "404", "409", "413", "415", "422", "503",
];

/// Every documented operation: `(method, path, operation)`.
fn operations() -> Vec<(&'static str, &'static str, Operation)> {
    let domain = json!({ "$ref": "#/components/parameters/domain" });
    let notice = json!({ "$ref": "#/components/parameters/notice" });
    let order = json!({ "$ref": "#/components/parameters/order" });
    let mailbox = json!({ "$ref": "#/components/parameters/mailbox" });
    let action = |id, summary, description, request: Option<Value>| Operation {
        id,
        summary,
        description,
        tag: "domains",
        parameters: vec![domain.clone()],
        request,
        responses: vec![(
            "200",
            ok(
                "The domain after the action, and what it did.",
                schema("ActedDomain"),
            ),
        )],
        errors: WRITE_ERRORS,
        security: Security::Operator,
    };
    vec![
        (
            "get",
            "/healthz",
            Operation {
                id: "health",
                summary: "Whether the service and its database answer",
                description: "200 when the database answers a trivial query within 3 seconds, 503 otherwise.",
                tag: "service",
                parameters: vec![],
                request: None,
                responses: vec![
                    ("200", ok("Healthy.", schema("Health"))),
                    ("503", ok("The database does not answer.", schema("Health"))),
                ],
                errors: &[],
                security: Security::Open,
            },
        ),
        (
            "get",
            "/metrics",
            Operation {
                id: "metrics",
                summary: "Prometheus metrics",
                description: "The text exposition format 0.0.4: domains by state, notices and outbox items by state, alerts, the index's size, and per kind of sweep the count, the latest one's duration, end, hold, checks by result and failing checks by error code. The Postfix lookups are served by `pecwatch postfix` on `[postfix] metrics_listen`.",
                tag: "service",
                parameters: vec![],
                request: None,
                responses: vec![(
                    "200",
                    json!({
                        "description": "The metrics.",
                        "content": { "text/plain; version=0.0.4": { "schema": { "type": "string" } } },
                    }),
                )],
                errors: &["503"],
                security: Security::Open,
            },
        ),
        (
            "get",
            "/index.ldif",
            Operation {
                id: "indexLdif",
                summary: "This provider's entry of the providers' index (RFC 6109), as LDIF",
                description: "Exactly what `pecwatch index export` writes. Strong ETag (the SHA-256 of the LDIF) and Last-Modified (the last change of the listed domains, or when this process first served this LDIF); If-None-Match and If-Modified-Since give 304. HEAD gives the headers. Rate-limited per client address.",
                tag: "index",
                parameters: vec![
                    json!({ "name": "If-None-Match", "in": "header", "required": false, "schema": { "type": "string" } }),
                    json!({ "name": "If-Modified-Since", "in": "header", "required": false, "schema": { "type": "string" } }),
                ],
                request: None,
                responses: vec![
                    (
                        "200",
                        json!({
                            "description": "The LDIF.",
                            "headers": {
                                "ETag": { "schema": { "type": "string" } },
                                "Last-Modified": { "schema": { "type": "string" } },
                            },
                            "content": { "text/plain": { "schema": { "type": "string" } } },
                        }),
                    ),
                    (
                        "304",
                        json!({ "description": "Not modified since the client's copy." }),
                    ),
                ],
                errors: &["429", "503"],
                security: Security::Open,
            },
        ),
        (
            "get",
            "/openapi.json",
            Operation {
                id: "openapi",
                summary: "This document",
                description: "Rate-limited per client address.",
                tag: "service",
                parameters: vec![],
                request: None,
                responses: vec![(
                    "200",
                    ok("The OpenAPI document.", json!({ "type": "object" })),
                )],
                errors: &["429"],
                security: Security::Open,
            },
        ),
        (
            "post",
            "/api/v1/check",
            Operation {
                id: "check",
                summary: "Check names now (nothing is recorded)",
                description: "One result per name, in order, each exactly a line of `pecwatch check --format json`. Without a token the call is rate-limited per client address.",
                tag: "check",
                parameters: vec![],
                request: Some(body(
                    "The names and the profile.",
                    schema("CheckRequest"),
                    true,
                )),
                responses: vec![("200", ok("The results.", schema("CheckResponse")))],
                errors: &["400", "401", "413", "415", "422", "429", "503"],
                security: Security::OpenOrToken,
            },
        ),
        (
            "get",
            "/api/v1/instructions/{domain}",
            Operation {
                id: "instructions",
                summary: "The customer's DNS instructions for activating PEC on a domain",
                description: "Exactly what `pecwatch instructions DOMAIN --format json` prints, from what the DNS says now (nothing is recorded); the `text` is in Italian or English by Accept-Language. The domain may be an e-mail address of it. 200 whatever the case, also for `parent_not_resolvable` and `servers_failing`. Without a token the call is rate-limited per client address.",
                tag: "check",
                parameters: vec![
                    domain.clone(),
                    query(
                        "profile",
                        "A profile of the configuration (default [check] profile); an unknown one is a 400.",
                        json!({ "type": "string" }),
                    ),
                ],
                request: None,
                responses: vec![("200", ok("The instructions.", schema("Instructions")))],
                errors: &["400", "401", "429"],
                security: Security::OpenOrToken,
            },
        ),
        (
            "get",
            "/api/v1/domains",
            Operation {
                id: "listDomains",
                summary: "List domains, by name, a page at a time",
                description: "Follow `next` (or the `Link: rel=\"next\"` header) for the following page; each domain appears once in the walk.",
                tag: "domains",
                parameters: vec![
                    query("state", "Only domains in this state.", schema("State")),
                    query(
                        "search",
                        "Only domains whose name contains this text.",
                        json!({ "type": "string" }),
                    ),
                    query(
                        "code",
                        "Only domains whose last check reported this error code.",
                        json!({ "type": "string" }),
                    ),
                    query(
                        "deadline_before",
                        "Only domains with a deadline before this date (YYYY-MM-DD) or RFC 3339 instant.",
                        json!({ "type": "string" }),
                    ),
                    query(
                        "limit",
                        "Page size.",
                        json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                    ),
                    query(
                        "cursor",
                        "Where the page starts (from the previous page's next link).",
                        json!({ "type": "string" }),
                    ),
                ],
                request: None,
                responses: vec![("200", ok("A page of domains.", schema("DomainPage")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/domains",
            Operation {
                id: "addDomain",
                summary: "Register an already certified domain",
                description: "As `pecwatch domains add`: the domain is `certified` and due for a check now.",
                tag: "domains",
                parameters: vec![],
                request: Some(body(
                    "The domain and its holder.",
                    schema("AddDomain"),
                    true,
                )),
                responses: vec![(
                    "201",
                    json!({
                        "description": "Registered.",
                        "headers": { "Location": { "schema": { "type": "string" } } },
                        "content": { "application/json": { "schema": schema("DomainDetail") } },
                    }),
                )],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/domains/{domain}",
            Operation {
                id: "showDomain",
                summary: "One domain with its history",
                description: "As `pecwatch domains show --format json`, with the domain's latest notices in `history.notices`.",
                tag: "domains",
                parameters: vec![domain.clone()],
                request: None,
                responses: vec![("200", ok("The domain.", schema("DomainDetail")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/domains/{domain}/approve",
            action(
                "approveDomain",
                "Reinstate a domain under review",
                "under_review → certified; the holder is notified.",
                Some(body(
                    "Who the call acts for.",
                    schema("ActorRequest"),
                    false,
                )),
            ),
        ),
        (
            "post",
            "/api/v1/domains/{domain}/reject",
            action(
                "rejectDomain",
                "Refuse to reinstate a domain under review",
                "under_review → removed; the holder is notified.",
                Some(body(
                    "Why, and who the call acts for.",
                    schema("ReasonRequest"),
                    false,
                )),
            ),
        ),
        (
            "post",
            "/api/v1/domains/{domain}/renew",
            action(
                "renewDomain",
                "Renew the certification until a new expiry",
                "The state does not change; the renewal is recorded in the history.",
                Some(body("The new expiry.", schema("RenewRequest"), true)),
            ),
        ),
        (
            "post",
            "/api/v1/domains/{domain}/remove",
            action(
                "removeDomain",
                "Remove a domain from the certified list",
                "certified, in_error or under_review → removed; the holder is notified.",
                Some(body(
                    "Why, and who the call acts for.",
                    schema("ReasonRequest"),
                    false,
                )),
            ),
        ),
        (
            "post",
            "/api/v1/domains/{domain}/recheck",
            Operation {
                id: "recheckDomain",
                summary: "Make the domain due for a check now",
                description: "The sweep checks it (`pecwatch serve` within 30 seconds), records the check and applies its lifecycle effects like any other.",
                tag: "domains",
                parameters: vec![domain.clone()],
                request: None,
                responses: vec![("202", ok("Due now.", schema("DomainDetail")))],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/domains/{domain}/exception",
            Operation {
                id: "showException",
                summary: "The hybrid exception of a domain",
                description: "Extra mail server addresses allowed for this domain only.",
                tag: "domains",
                parameters: vec![domain.clone()],
                request: None,
                responses: vec![("200", ok("The exception.", schema("Exception")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/domains/{domain}/exception",
            Operation {
                id: "changeException",
                summary: "Change the hybrid exception of a domain",
                description: "First clear (if asked), then remove, then add, as `pecwatch domains exception`.",
                tag: "domains",
                parameters: vec![domain.clone()],
                request: Some(body("The change.", schema("ExceptionChange"), true)),
                responses: vec![(
                    "200",
                    ok("The exception after the change.", schema("Exception")),
                )],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/notices",
            Operation {
                id: "listNotices",
                summary: "List notices and alerts (the outbox), oldest first, a page at a time",
                description: "Follow `next` (or the Link header) for the following page.",
                tag: "notices",
                parameters: vec![
                    query(
                        "state",
                        "Only items in this state.",
                        json!({ "type": "string", "enum": ["pending", "sent", "failed"] }),
                    ),
                    query(
                        "domain",
                        "Only items about this domain.",
                        json!({ "type": "string" }),
                    ),
                    query(
                        "limit",
                        "Page size.",
                        json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                    ),
                    query(
                        "cursor",
                        "Only items with a larger identifier (from the previous page's next link).",
                        json!({ "type": "integer" }),
                    ),
                ],
                request: None,
                responses: vec![("200", ok("A page of notices.", schema("NoticePage")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "get",
            "/api/v1/notices/{id}",
            Operation {
                id: "showNotice",
                summary: "One notice: recipient, state, attempts, the mail server's reply",
                description: "As `pecwatch notices show --format json`.",
                tag: "notices",
                parameters: vec![notice.clone()],
                request: None,
                responses: vec![("200", ok("The notice.", schema("Notice")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/notices/{id}/resend",
            Operation {
                id: "resendNotice",
                summary: "Send a notice again, as a new message",
                description: "As `pecwatch notices resend`.",
                tag: "notices",
                parameters: vec![notice],
                request: None,
                responses: vec![("200", ok("The notice, queued again.", schema("Notice")))],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/index",
            Operation {
                id: "exportIndex",
                summary: "The index entry as `pecwatch index export` would write it now",
                description: "The LDIF, its SHA-256 and the domains it lists.",
                tag: "index",
                parameters: vec![],
                request: None,
                responses: vec![("200", ok("The entry.", schema("IndexExport")))],
                errors: &["401", "503"],
                security: Security::Reader,
            },
        ),
        (
            "get",
            "/api/v1/index/diff",
            Operation {
                id: "diffIndex",
                summary: "What changed since the last recorded publication",
                description: "As `pecwatch index diff --format json`.",
                tag: "index",
                parameters: vec![],
                request: None,
                responses: vec![("200", ok("The changes.", schema("IndexDiff")))],
                errors: &["401", "503"],
                security: Security::Reader,
            },
        ),
        (
            "get",
            "/api/v1/index/publications",
            Operation {
                id: "listPublications",
                summary: "The latest recorded publications, newest first",
                description: "Without their LDIF.",
                tag: "index",
                parameters: vec![query(
                    "limit",
                    "How many.",
                    json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 20 }),
                )],
                request: None,
                responses: vec![(
                    "200",
                    ok(
                        "The publications.",
                        json!({
                            "type": "object",
                            "required": ["publications"],
                            "properties": { "publications": { "type": "array", "items": schema("Publication") } },
                        }),
                    ),
                )],
                errors: &["400", "401", "503"],
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/index/publications",
            Operation {
                id: "publishIndex",
                summary: "Record the entry as it is now as a publication",
                description: "As `pecwatch index export --record`.",
                tag: "index",
                parameters: vec![],
                request: None,
                responses: vec![(
                    "201",
                    ok("The publication, with its LDIF.", schema("Publication")),
                )],
                errors: &["401", "403", "503"],
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/orders",
            Operation {
                id: "listOrders",
                summary: "The latest orders, newest first",
                description: "Each as `pecwatch orders show --format json`: the order, its domain's state, its activation steps.",
                tag: "orders",
                parameters: vec![
                    query(
                        "state",
                        "Only orders in this state.",
                        json!({ "type": "string", "enum": ["received", "approved", "rejected"] }),
                    ),
                    query(
                        "limit",
                        "How many.",
                        json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                    ),
                ],
                request: None,
                responses: vec![(
                    "200",
                    ok(
                        "The orders.",
                        json!({
                            "type": "object",
                            "required": ["orders"],
                            "properties": { "orders": { "type": "array", "items": schema("OrderDetail") } },
                        }),
                    ),
                )],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/orders",
            Operation {
                id: "placeOrder",
                summary: "Record an order of PEC on a domain",
                description: "As `pecwatch orders add`: own domains are approved at once (unless review_own_domains is set), internal subdomains wait for an operator.",
                tag: "orders",
                parameters: vec![],
                request: Some(body("The order.", schema("OrderRequest"), true)),
                responses: vec![("201", ok("Recorded.", schema("OrderDetail")))],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/orders/{id}",
            Operation {
                id: "showOrder",
                summary: "One order with its activation steps",
                description: "As `pecwatch orders show --format json`.",
                tag: "orders",
                parameters: vec![order.clone()],
                request: None,
                responses: vec![("200", ok("The order.", schema("OrderDetail")))],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/orders/{id}/approve",
            Operation {
                id: "approveOrder",
                summary: "Approve a received order",
                description: "Registers the domain (pending_dns); the sweep activates it when its DNS is right.",
                tag: "orders",
                parameters: vec![order.clone()],
                request: Some(body(
                    "Who the call acts for.",
                    schema("ActorRequest"),
                    false,
                )),
                responses: vec![("200", ok("The order.", schema("OrderDetail")))],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "post",
            "/api/v1/orders/{id}/reject",
            Operation {
                id: "rejectOrder",
                summary: "Reject a received order",
                description: "Final.",
                tag: "orders",
                parameters: vec![order],
                request: Some(body(
                    "Why, and who the call acts for.",
                    schema("ReasonRequest"),
                    false,
                )),
                responses: vec![("200", ok("The order.", schema("OrderDetail")))],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "get",
            "/api/v1/mailboxes",
            Operation {
                id: "listMailboxes",
                summary: "Mailboxes, of one domain or all",
                description: "As `pecwatch mailboxes list --format json`.",
                tag: "orders",
                parameters: vec![query(
                    "domain",
                    "Only this domain's mailboxes.",
                    json!({ "type": "string" }),
                )],
                request: None,
                responses: vec![(
                    "200",
                    ok(
                        "The mailboxes.",
                        json!({
                            "type": "object",
                            "required": ["mailboxes"],
                            "properties": { "mailboxes": { "type": "array", "items": schema("Mailbox") } },
                        }),
                    ),
                )],
                errors: READ_ERRORS,
                security: Security::Reader,
            },
        ),
        (
            "post",
            "/api/v1/mailboxes",
            Operation {
                id: "addMailbox",
                summary: "Create a mailbox in a certified domain, with its set-password link",
                description: "As `pecwatch mailboxes add`.",
                tag: "orders",
                parameters: vec![],
                request: Some(body(
                    "The address.",
                    json!({
                        "type": "object",
                        "required": ["address"],
                        "additionalProperties": false,
                        "properties": { "address": { "type": "string", "format": "email" } },
                    }),
                    true,
                )),
                responses: vec![(
                    "201",
                    ok(
                        "Created.",
                        json!({
                            "type": "object",
                            "properties": { "mailbox": schema("Mailbox"), "link": { "type": "string" } },
                        }),
                    ),
                )],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "delete",
            "/api/v1/mailboxes/{address}",
            Operation {
                id: "removeMailbox",
                summary: "Delete a mailbox",
                description: "As `pecwatch mailboxes remove`.",
                tag: "orders",
                parameters: vec![mailbox.clone()],
                request: None,
                responses: vec![(
                    "200",
                    ok(
                        "Deleted.",
                        json!({ "type": "object", "properties": { "removed": { "type": "string" } } }),
                    ),
                )],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
        (
            "post",
            "/api/v1/mailboxes/{address}/link",
            Operation {
                id: "mailboxLink",
                summary: "A new set-password link for a mailbox",
                description: "Older links stop working.",
                tag: "orders",
                parameters: vec![mailbox],
                request: None,
                responses: vec![(
                    "200",
                    ok(
                        "The link.",
                        json!({ "type": "object", "properties": { "address": { "type": "string" }, "link": { "type": "string" } } }),
                    ),
                )],
                errors: WRITE_ERRORS,
                security: Security::Operator,
            },
        ),
    ]
}

/// The problem responses, by status.
fn problem_responses() -> Map<String, Value> {
    let mut responses = Map::new();
    for (status, description) in [
        (
            "400",
            "Bad request: an invalid parameter, domain name or body (problem types bad-request, invalid-domain, invalid-json).",
        ),
        (
            "401",
            "No token, or a token that does not work (WWW-Authenticate: Bearer).",
        ),
        ("403", "A read-only token on an operator's call."),
        (
            "404",
            "No such domain (unknown-domain), notice or route (not-found).",
        ),
        (
            "409",
            "Not allowed in the domain's state, a name already taken, or the domain kept changing.",
        ),
        (
            "413",
            "The body is larger than 256 KiB (request-too-large), or too many names (too-many-names).",
        ),
        ("415", "The body is not JSON."),
        (
            "422",
            "JSON of the wrong shape (invalid-json), or a holder's name or address or a reseller that cannot be accepted (invalid-field, naming the `field`).",
        ),
        (
            "429",
            "Too many requests from this client address (Retry-After says when to try again).",
        ),
        (
            "503",
            "The database is unreachable (database-unavailable), the index is not configured (index-not-configured, naming the missing keys), or the DNS does not answer (dns-unavailable).",
        ),
    ] {
        let mut value = json!({
            "description": description,
            "content": { "application/problem+json": { "schema": schema("Problem") } },
        });
        if status == "429" {
            value["headers"] = json!({ "Retry-After": { "schema": { "type": "integer" } } });
        }
        if status == "401" {
            value["headers"] = json!({ "WWW-Authenticate": { "schema": { "type": "string" } } });
        }
        responses.insert(format!("E{status}"), value);
    }
    responses
}

/// The schemas.
fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let instant = json!({ "type": "string", "format": "date-time" });
    let maybe = |schema: Value| json!({ "oneOf": [schema, { "type": "null" }] });
    json!({
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; title and detail in Italian or English by Accept-Language.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": { "type": "string", "format": "uri", "description": "tag:pecwatch,2026:problem:KIND" },
                "title": string,
                "status": { "type": "integer" },
                "detail": string,
                "field": { "type": "string", "description": "invalid-field: the field refused (holder_email, holder_name, reseller)." },
            },
            "additionalProperties": true,
        },
        "Health": {
            "type": "object",
            "required": ["status", "database"],
            "properties": {
                "status": { "type": "string", "enum": ["ok", "error"] },
                "database": { "type": "string", "enum": ["ok", "error"] },
                "detail": string,
            },
        },
        "State": {
            "type": "string",
            "enum": ["requested", "pending_dns", "certified", "in_error", "removed", "under_review", "expired"],
        },
        "CheckRequest": {
            "type": "object",
            "required": ["names"],
            "additionalProperties": false,
            "properties": {
                "names": { "type": "array", "items": string, "minItems": 1, "description": "Domain names or e-mail addresses; at most [web] check_max_names." },
                "profile": { "type": "string", "description": "A profile of the configuration (default [check] profile)." },
                "lang": { "type": "string", "enum": ["it", "en"] },
            },
        },
        "CheckResult": {
            "type": "object",
            "description": "One line of `pecwatch check --format json`: a report (domain, input, ok, transient, verdict, codes, warnings, profile, provider, zone, nameservers, findings) or, for an input that is not a domain, {input, ok: false, error}.",
            "required": ["input", "ok"],
            "properties": {
                "input": string,
                "ok": { "type": "boolean" },
                "domain": string,
                "verdict": { "type": "string", "enum": ["ok", "error", "transient_error"] },
                "transient": { "type": "boolean" },
                "codes": strings,
                "warnings": strings,
                "profile": string,
                "provider": { "type": "string", "description": "The profile's display name (Aruba)." },
                "zone": maybe(string.clone()),
                "nameservers": { "type": "array", "items": { "type": "object" } },
                "findings": { "type": "array", "items": { "type": "object" } },
                "dnssec": {
                    "type": "array",
                    "description": "The DNSSEC validation of the MX and of each MX target's A record: name, type, status (secure, insecure, bogus, indeterminate), detail, and the chain of signed zones (zone, ds, keys, valid_until).",
                    "items": { "type": "object" },
                },
                "error": string,
            },
        },
        "CheckResponse": {
            "type": "object",
            "required": ["ok", "results"],
            "properties": {
                "ok": { "type": "boolean", "description": "Whether every name is a correct domain." },
                "results": { "type": "array", "items": schema("CheckResult") },
            },
        },
        "Instructions": {
            "type": "object",
            "description": "`pecwatch instructions --format json`: the input, the domain, the profile, the MX asked for, the case and its members, whether the customer has something to do, and the instructions as text.",
            "required": ["input", "domain", "from_email", "profile", "mx", "case", "needs_action", "text"],
            "properties": {
                "input": string,
                "domain": string,
                "from_email": { "type": "boolean", "description": "Whether the input was an e-mail address (its domain is used)." },
                "profile": string,
                "mx": { "type": "string", "description": "The MX record the provider asks for (MX 10 mx.pec.aruba.it.)." },
                "case": {
                    "type": "string",
                    "enum": ["add_to_parent_zone", "add_to_own_zone", "provider_zone", "delegated_to_provider", "already_correct", "parent_not_resolvable", "servers_failing"],
                },
                "needs_action": { "type": "boolean", "description": "Whether the customer has to change DNS." },
                "text": { "type": "string", "description": "The instructions for people, in the request's language." },
                "exists": { "type": "boolean" },
                "edit": {
                    "type": "object",
                    "description": "The zone to edit (add_to_parent_zone, add_to_own_zone).",
                    "properties": { "zone": string, "servers": strings, "add": strings, "remove": strings },
                },
                "delegation": maybe(json!({
                    "type": "object",
                    "description": "The alternative: delegate the name to the provider's name servers.",
                    "properties": { "zone": string, "add": strings, "remove": strings },
                })),
                "zone": string,
                "servers": strings,
                "current": strings,
                "parent_zone": maybe(string.clone()),
                "ns": strings,
                "served": { "type": "boolean" },
                "registrable": maybe(string.clone()),
                "lookups": strings,
            },
        },
        "LastCheck": {
            "type": "object",
            "properties": {
                "at": instant,
                "ok": { "type": "boolean" },
                "transient": { "type": "boolean" },
                "codes": strings,
                "warnings": strings,
            },
        },
        "DomainSummary": {
            "type": "object",
            "description": "A line of `pecwatch domains list --format json`.",
            "required": ["domain", "state"],
            "properties": {
                "domain": string,
                "state": schema("State"),
                "since": instant,
                "deadline": maybe(instant.clone()),
                "expires": maybe(instant.clone()),
                "profile": string,
                "holder_email": string,
                "next_check": instant,
                "last_check": maybe(schema("LastCheck")),
            },
        },
        "DomainDetail": {
            "description": "`pecwatch domains show --format json`, with the latest notices.",
            "allOf": [
                schema("DomainSummary"),
                {
                    "type": "object",
                    "properties": {
                        "holder": {
                            "type": "object",
                            "properties": { "name": maybe(string.clone()), "email": string, "lang": { "type": "string", "enum": ["it", "en"] } },
                        },
                        "reseller": maybe(string.clone()),
                        "exception": strings,
                        "history": {
                            "type": "object",
                            "properties": {
                                "transitions": { "type": "array", "items": { "type": "object" } },
                                "checks": { "type": "array", "items": { "type": "object" } },
                                "notices": { "type": "array", "items": schema("Notice") },
                            },
                        },
                    },
                },
            ],
        },
        "ActedDomain": {
            "allOf": [
                schema("DomainDetail"),
                {
                    "type": "object",
                    "properties": {
                        "action": {
                            "type": "object",
                            "properties": {
                                "before": schema("State"),
                                "after": schema("State"),
                                "recorded": { "type": "array", "items": { "type": "object" } },
                                "actor": string,
                            },
                        },
                    },
                },
            ],
        },
        "DomainPage": {
            "type": "object",
            "required": ["domains", "next"],
            "properties": {
                "domains": { "type": "array", "items": schema("DomainSummary") },
                "next": maybe(string.clone()),
            },
        },
        "AddDomain": {
            "type": "object",
            "required": ["domain", "holder_email"],
            "additionalProperties": false,
            "properties": {
                "domain": string,
                "holder_email": { "type": "string", "format": "email" },
                "holder_name": string,
                "lang": { "type": "string", "enum": ["it", "en"] },
                "reseller": string,
                "profile": string,
                "expires": { "type": "string", "description": "A date (the end of that day, Europe/Rome) or an RFC 3339 instant." },
            },
        },
        "ActorRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "actor": { "type": "string", "description": "The person the call acts for, recorded with the token's name." } },
        },
        "ReasonRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "reason": string, "actor": string },
        },
        "RenewRequest": {
            "type": "object",
            "required": ["expires"],
            "additionalProperties": false,
            "properties": { "expires": string, "actor": string },
        },
        "Exception": {
            "type": "object",
            "properties": { "domain": string, "exception": strings },
        },
        "ExceptionChange": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "clear": { "type": "boolean", "default": false },
                "add": strings,
                "remove": strings,
            },
        },
        "Notice": {
            "type": "object",
            "description": "An outbox item as stored, with its domain's name.",
            "properties": {
                "id": { "type": "integer" },
                "domain": maybe(string.clone()),
                "domain_id": maybe(json!({ "type": "integer" })),
                "key": string,
                "kind": string,
                "payload": { "type": "object" },
                "created": instant,
                "state": { "type": "string", "enum": ["pending", "sent", "failed"] },
                "attempts": { "type": "integer" },
                "last_error": maybe(string.clone()),
                "accepted_at": maybe(instant.clone()),
                "updated": instant,
                "next_attempt": maybe(instant.clone()),
                "message_id": maybe(string.clone()),
                "reply": maybe(string.clone()),
            },
        },
        "NoticePage": {
            "type": "object",
            "required": ["notices", "next"],
            "properties": {
                "notices": { "type": "array", "items": schema("Notice") },
                "next": maybe(string.clone()),
            },
        },
        "IndexExport": {
            "type": "object",
            "properties": { "hash": string, "count": { "type": "integer" }, "domains": strings, "ldif": string },
        },
        "IndexDiff": {
            "type": "object",
            "description": "`pecwatch index diff --format json`.",
            "properties": {
                "since": maybe(json!({ "type": "object" })),
                "added": strings,
                "removed": strings,
                "entry_changed": maybe(json!({ "type": "boolean" })),
                "domains": { "type": "integer" },
            },
        },
        "OrderRequest": {
            "type": "object",
            "required": ["name", "holder_email"],
            "additionalProperties": false,
            "properties": {
                "kind": { "type": "string", "enum": ["own", "internal"], "default": "own" },
                "name": { "type": "string", "description": "The domain (own) or the label of the internal subdomain." },
                "holder_email": { "type": "string", "format": "email" },
                "holder_name": string,
                "lang": { "type": "string", "enum": ["it", "en"] },
                "reseller": string,
                "profile": string,
                "expires": string,
            },
        },
        "OrderDetail": {
            "type": "object",
            "description": "`pecwatch orders show --format json`.",
            "properties": {
                "order": { "type": "object" },
                "domain_state": maybe(schema("State")),
                "steps": { "type": "array", "items": { "type": "object" } },
            },
        },
        "Mailbox": {
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "domain_id": { "type": "integer" },
                "address": string,
                "has_password": { "type": "boolean" },
                "created": instant,
                "updated": instant,
            },
        },
        "Publication": {
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "at": instant,
                "hash": string,
                "count": { "type": "integer" },
                "domains": strings,
                "ldif": string,
            },
        },
    })
}

/// The whole document; `public_url` (may be empty) is its server.
pub fn spec(public_url: &str) -> Value {
    let mut paths = Map::new();
    for (method, path, operation) in operations() {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = operation.to_json();
    }
    let server = if public_url.is_empty() {
        "/"
    } else {
        public_url.trim_end_matches('/')
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "pecwatch",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Checker and monitor for Italian PEC certified domains (RFC 6109)",
            "description": "The machine interface of pecwatch: checks, the registry of certified domains and the operators' actions, notices, the providers' index, health and metrics. Errors are RFC 9457 problems (application/problem+json), in Italian by default or English by Accept-Language. Authenticate with `Authorization: Bearer TOKEN` (`pecwatch tokens add NAME --role operator|read-only`).",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" },
        },
        "servers": [{ "url": server }],
        "tags": [
            { "name": "check", "description": "Checks and activation instructions on demand." },
            { "name": "domains", "description": "The registry and the operators' actions." },
            { "name": "notices", "description": "Notices and alerts." },
            { "name": "index", "description": "The providers' index (RFC 6109)." },
            { "name": "orders", "description": "Activation: orders and mailboxes." },
            { "name": "service", "description": "Health, metrics, this document." },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `pecwatch tokens add`: `operator` for every call, `read-only` for GET.",
                },
            },
            "parameters": {
                "domain": { "name": "domain", "in": "path", "required": true, "description": "The domain name.", "schema": { "type": "string" } },
                "notice": { "name": "id", "in": "path", "required": true, "description": "The notice's identifier.", "schema": { "type": "integer" } },
                "order": { "name": "id", "in": "path", "required": true, "description": "The order's number.", "schema": { "type": "integer" } },
                "mailbox": { "name": "address", "in": "path", "required": true, "description": "The mailbox's address (local@domain).", "schema": { "type": "string" } },
            },
            "responses": problem_responses(),
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    /// Resolves a local JSON pointer.
    fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
        document.pointer(reference.strip_prefix('#')?)
    }

    #[test]
    fn the_document_describes_every_route_and_nothing_else() {
        let document = spec("");
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = crate::web::api::table()
            .routes
            .into_iter()
            .map(|(method, path)| (method.to_owned(), path.to_owned()))
            .collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn the_document_is_well_formed_openapi_3_1() {
        let document = spec("https://pec.esempio.it/");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["servers"][0]["url"], "https://pec.esempio.it");
        assert!(document["info"]["title"].is_string());
        assert!(document["info"]["version"].is_string());
        let mut references = Vec::new();
        refs(&document, &mut references);
        assert!(references.len() > 30);
        for reference in &references {
            assert!(
                resolve(&document, reference).is_some(),
                "unresolved {reference}"
            );
        }
        let mut ids = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            assert!(path.starts_with('/'), "{path}");
            let templated: BTreeSet<String> = path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            for (method, operation) in item.as_object().unwrap() {
                assert!(["get", "post", "put", "patch", "delete"].contains(&method.as_str()));
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                assert!(operation["summary"].is_string(), "{method} {path}");
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}");
                for status in responses.keys() {
                    let code: u16 = status.parse().unwrap();
                    assert!((100..600).contains(&code), "{method} {path} {status}");
                }
                let declared: BTreeSet<String> = operation["parameters"]
                    .as_array()
                    .map(|parameters| {
                        parameters
                            .iter()
                            .map(|p| match p.get("$ref") {
                                Some(r) => resolve(&document, r.as_str().unwrap()).unwrap().clone(),
                                None => p.clone(),
                            })
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
