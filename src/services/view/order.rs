//! Activation: orders, their steps, mailboxes and their set-password links.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::HolderView;
use crate::lifecycle::State;
use crate::registry::{Mailbox, Order, OrderKind, OrderState, Registry, RegistryError, Step};

/// An order as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    /// Who approved or rejected it.
    pub actor: Option<String>,
    /// When it was received.
    #[schema(value_type = String, format = DateTime)]
    pub created: Timestamp,
    /// The registered domain's identifier, once approved.
    pub domain_id: Option<i64>,
    /// When the certification will expire, if known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires: Option<Timestamp>,
    /// Who will hold the domain.
    pub holder: HolderView,
    /// Its number.
    pub id: i64,
    /// Own domain or internal subdomain.
    pub kind: OrderKind,
    /// The domain to certify.
    pub name: String,
    /// The provider profile.
    pub profile: String,
    /// Why it was rejected, if it was.
    pub reason: Option<String>,
    /// The reseller, if any.
    pub reseller: Option<String>,
    /// Where it stands.
    pub state: OrderState,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated: Timestamp,
}

impl From<&Order> for OrderView {
    fn from(order: &Order) -> Self {
        OrderView {
            actor: order.actor.clone(),
            created: order.created,
            domain_id: order.domain_id,
            expires: order.expires,
            holder: HolderView::from(&order.holder),
            id: order.id,
            kind: order.kind,
            name: order.name.to_string(),
            profile: order.profile.clone(),
            reason: order.reason.clone(),
            reseller: order.reseller.clone(),
            state: order.state,
            updated: order.updated,
        }
    }
}

/// One recorded step of a domain's activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    /// When it was done.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// What it did.
    pub detail: String,
    /// Which step (`dns_provisioned`, `certified`, `published`, `postmaster`, …).
    pub step: String,
}

impl From<&Step> for StepView {
    fn from(step: &Step) -> Self {
        StepView {
            at: step.at,
            detail: step.detail.clone(),
            step: step.step.clone(),
        }
    }
}

/// An order as `pecwatch orders show --format json` prints it: the order, its domain's
/// state and its activation steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDetail {
    /// The registered domain's state, once approved.
    pub domain_state: Option<State>,
    /// The order.
    pub order: OrderView,
    /// The activation steps done, in order.
    pub steps: Vec<StepView>,
}

impl OrderDetail {
    /// The view of `order`, its domain's state and steps read from the registry.
    pub async fn load(registry: &Registry, order: &Order) -> Result<Self, RegistryError> {
        let (state, steps) = match order.domain_id {
            Some(id) => (
                registry
                    .domain_by_id(id)
                    .await?
                    .map(|domain| domain.status.state),
                registry.steps(id).await?,
            ),
            None => (None, Vec::new()),
        };
        Ok(OrderDetail::new(order, state, &steps))
    }

    /// The view of `order`, its domain's state and steps.
    pub fn new(order: &Order, domain_state: Option<State>, steps: &[Step]) -> Self {
        OrderDetail {
            domain_state,
            order: OrderView::from(order),
            steps: steps.iter().map(StepView::from).collect(),
        }
    }
}

/// The latest orders, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    /// The orders.
    pub orders: Vec<OrderDetail>,
}

/// A mailbox of a certified domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxView {
    /// `local@domain`, lower case.
    pub address: String,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created: Timestamp,
    /// Its domain's identifier.
    pub domain_id: i64,
    /// Whether its password has been set.
    pub has_password: bool,
    /// Its identifier.
    pub id: i64,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated: Timestamp,
}

impl From<&Mailbox> for MailboxView {
    fn from(mailbox: &Mailbox) -> Self {
        MailboxView {
            address: mailbox.address.clone(),
            created: mailbox.created,
            domain_id: mailbox.domain_id,
            has_password: mailbox.has_password,
            id: mailbox.id,
            updated: mailbox.updated,
        }
    }
}

/// Mailboxes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxList {
    /// The mailboxes.
    pub mailboxes: Vec<MailboxView>,
}

/// A mailbox created, with its set-password link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxCreated {
    /// The link that sets its password (once, for a while).
    pub link: String,
    /// The mailbox.
    pub mailbox: MailboxView,
}

/// A new set-password link for a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxLink {
    /// The mailbox.
    pub address: String,
    /// The link (older ones stop working).
    pub link: String,
}

/// A mailbox deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxRemoved {
    /// Its address.
    pub removed: String,
}

/// A line of an import of orders that was refused (`orders import --format json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderRefused {
    /// The line of the file.
    pub line: usize,
    /// The name it ordered.
    pub name: String,
    /// Why it was refused.
    pub refused: String,
}

/// A mailbox's password set (`mailboxes password --format json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordSet {
    /// The mailbox.
    pub address: String,
    /// Always true.
    pub password_set: bool,
}
