//! The body of an error of the API: an RFC 9457 problem.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An RFC 9457 problem (`application/problem+json`), in Italian or English by
/// `Accept-Language`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    /// This occurrence, for people.
    pub detail: String,
    /// Members of this kind of problem: `input` (invalid-domain), `domain`
    /// (unknown-domain), `field` (invalid-field), `limit` (request-too-large,
    /// too-many-names), `retry_after` seconds (rate-limited), `missing` keys
    /// (index-not-configured), …
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The HTTP status.
    pub status: u16,
    /// The kind, for people.
    pub title: String,
    /// The kind, a `tag:` URI that programs switch on
    /// (`tag:pecwatch,2026:problem:unknown-domain`).
    #[serde(rename = "type")]
    pub kind: String,
}
