//! The JSON that pecwatch gives programs, as types: what `--format json` prints on the
//! command line and what the API under `/api/v1` answers (its problems included). Both
//! build their JSON here, so the two say the same thing, and the OpenAPI document
//! (`/openapi.json`, [`crate::web::openapi`]) is derived from these types
//! ([`utoipa::ToSchema`]): a type that changes changes the document with it.
//!
//! The views are plain data (serde `Serialize` and `Deserialize`) with constructors from
//! the registry's records and the services' results, and for the two that need more than
//! one record, `load` functions that read them (a domain's history, an order's steps):
//! the module sits with the services (layer 2), above the registry. The check's own view,
//! [`CheckResult`], lives with the report ([`crate::report`]), since the core builds it;
//! it is also how a recorded check's result is read back ([`CheckView`]).
//!
//! Members are declared in alphabetical order, the order serde_json writes an object's
//! members in (`serde_json::Value` keeps them sorted): printing a view directly or
//! through a `Value` gives the same bytes, and the same as before the types existed.

mod domain;
mod index;
mod notice;
mod order;
mod problem;
mod schema;
mod service;

pub use crate::instructions::InstructionsView;
pub use crate::report::{
    ChainRow, CheckLine, CheckResult, DnssecRow, EvidenceView, FindingView, FixView, InputError,
    ServerRow,
};
pub use domain::{
    ActedDomain, Action, CheckView, DomainDetail, DomainPage, DomainSummary, Exception,
    HISTORY_CHECKS, History, HolderView, LastCheck, Recheck, RecheckedDomain, TransitionView,
};
pub use index::{IndexDiff, IndexExport, IndexSince, PublicationView, Publications};
pub use notice::{Notice, NoticePage};
pub use order::{
    MailboxCreated, MailboxLink, MailboxList, MailboxRemoved, MailboxView, OrderDetail, OrderList,
    OrderRefused, OrderView, PasswordSet, StepView,
};
pub use problem::ProblemBody;
pub use service::{CheckResponse, Health};

/// A view's JSON text, its members sorted at every level: the one way the command line
/// and the API write a view that holds free-form JSON (a notice's payload) or members
/// flattened from another view.
pub fn to_json_string<T: serde::Serialize>(view: &T) -> String {
    serde_json::to_value(view)
        .map(|value| value.to_string())
        .unwrap_or_default()
}
