//! The service's own answers: health, and a batch of checks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::CheckLine;

/// Whether the service and its database answer (`GET /healthz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `error`.
    pub database: String,
    /// Why the database is not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `ok` or `error`.
    pub status: String,
}

impl Health {
    /// Healthy, or the failure's detail.
    pub fn new(failure: Option<String>) -> Self {
        let word = if failure.is_none() { "ok" } else { "error" };
        Health {
            database: word.to_owned(),
            detail: failure,
            status: word.to_owned(),
        }
    }
}

/// The answer of `POST /api/v1/check`: one result per name, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResponse {
    /// Whether every name passed.
    pub ok: bool,
    /// The results, each a line of `pecwatch check --format json`.
    pub results: Vec<CheckLine>,
}
