//! The outbox: notices to holders, resellers and operators, and alerts.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::registry::{OutboxItem, OutboxState};

/// An outbox item as stored, with its domain's name (and in `notices show`, its
/// recipients).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// When the recipient's mail server accepted it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub accepted_at: Option<Timestamp>,
    /// How many delivery attempts were recorded.
    pub attempts: u32,
    /// When it was queued.
    #[schema(value_type = String, format = DateTime)]
    pub created: Timestamp,
    /// The domain's name (`#ID` if it is gone; null for operator alerts).
    pub domain: Option<String>,
    /// The domain's identifier.
    pub domain_id: Option<i64>,
    /// The item's identifier.
    pub id: i64,
    /// Its unique key.
    pub key: String,
    /// What kind of notice or alert.
    pub kind: String,
    /// The latest attempt's error.
    pub last_error: Option<String>,
    /// The Message-ID its attempts carry.
    pub message_id: Option<String>,
    /// Not to be tried again before this.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt: Option<Timestamp>,
    /// What the notice says, by kind.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The mail server's last reply.
    pub reply: Option<String>,
    /// Where it is in its delivery.
    pub state: OutboxState,
    /// Its recipients (`notices show` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated: Timestamp,
}

impl Notice {
    /// The view of `item`, about the domain named `domain`.
    pub fn new(item: &OutboxItem, domain: Option<&str>) -> Self {
        Notice {
            accepted_at: item.accepted_at,
            attempts: item.attempts,
            created: item.created,
            domain: domain.map(str::to_owned),
            domain_id: item.domain_id,
            id: item.id,
            key: item.key.clone(),
            kind: item.kind.to_string(),
            last_error: item.last_error.clone(),
            message_id: item.message_id.clone(),
            next_attempt: item.next_attempt,
            payload: item.payload.clone(),
            reply: item.reply.clone(),
            state: item.state,
            to: None,
            updated: item.updated,
        }
    }

    /// The same with its recipients.
    pub fn with_recipients(mut self, to: Vec<String>) -> Self {
        self.to = Some(to);
        self
    }
}

/// A page of notices, by identifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoticePage {
    /// The next page's URL, if there is one.
    pub next: Option<String>,
    /// The notices of this page.
    pub notices: Vec<Notice>,
}
