//! The JSON that pecwatch gives programs, as types: what `--format json` prints on the
//! command line and what the API under `/api/v1` answers (its problems included). Both
//! build their JSON here, so the two say the same thing, and the OpenAPI document
//! (`/openapi.json`, [`crate::web::spec`]) is derived from these types
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

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;

    /// A golden file of the repository (tests/fixtures/golden/).
    fn golden(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/golden")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    /// `text` read as the view `T` and written again gives the same bytes.
    fn round_trips<T: Serialize + DeserializeOwned>(text: &str) {
        let view: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(to_json_string(&view), text);
    }

    #[test]
    fn the_check_lines_are_the_views_written_in_one_call() {
        // The command line writes a check's view directly, without a `Value`: its members
        // must be declared in the order a `Value` writes them.
        let lines = golden("check.jsonl");
        // Each output is followed by its exit status (`[exit 0]`).
        for line in lines.lines().filter(|line| line.starts_with('{')) {
            let view: CheckLine =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(serde_json::to_string(&view).unwrap(), line);
        }
        assert!(lines.lines().count() > 30);
    }

    #[test]
    fn the_instructions_and_the_apis_answers_are_their_views() {
        for line in golden("instructions.jsonl").lines() {
            if line.contains("\"error\"") {
                round_trips::<InputError>(line);
            } else {
                round_trips::<InstructionsView>(line);
            }
        }
        let api = golden("api.txt");
        let mut sections = api.split("==> ").skip(1);
        let mut body = || {
            let section = sections.next().unwrap();
            section.split_once("<==\n").unwrap().1.trim_end().to_owned()
        };
        round_trips::<DomainPage>(&body());
        round_trips::<DomainDetail>(&body());
        round_trips::<ProblemBody>(&body());
        round_trips::<ProblemBody>(&body());
        round_trips::<NoticePage>(&body());
        round_trips::<Notice>(&body());
        round_trips::<ProblemBody>(&body());
        round_trips::<OrderList>(&body());
        round_trips::<OrderDetail>(&body());
        round_trips::<IndexDiff>(&body());
        round_trips::<Publications>(&body());
        round_trips::<InstructionsView>(&body());
        round_trips::<CheckResponse>(&body());
        round_trips::<ProblemBody>(&body());
    }
}
