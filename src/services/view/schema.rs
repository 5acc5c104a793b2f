//! The schemas of the named values the views hold (states, kinds, languages), taken
//! from the types' own lists of names, and the `Deserialize` of those that had none.

use std::borrow::Cow;

use clap::ValueEnum;
use serde::de::{Deserialize, Deserializer, Error as _};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::Lang;
use crate::lifecycle::State;
use crate::registry::{OrderKind, OrderState, OutboxState};

/// A string schema whose values are `names`.
fn names_schema<'a>(description: &str, names: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names.into_iter().map(str::to_owned)))
        .into()
}

/// The names clap knows a value enum by: the same as serde's for these types.
fn value_names<T: ValueEnum>() -> Vec<String> {
    T::value_variants()
        .iter()
        .filter_map(|value| value.to_possible_value())
        .map(|value| value.get_name().to_owned())
        .collect()
}

/// A value enum read back from its name.
fn from_name<'de, T: ValueEnum, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    let text = Cow::<str>::deserialize(deserializer)?;
    T::from_str(&text, false).map_err(|_| D::Error::unknown_variant(&text, &[]))
}

/// `ToSchema` for an enum of names, `Deserialize` too for a value enum without it.
macro_rules! named {
    ($type:ty, $description:literal, $names:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                let names: Vec<String> = $names;
                names_schema($description, names.iter().map(String::as_str))
            }
        }

        impl ToSchema for $type {}
    };
    ($type:ty, $description:literal, $names:expr, deserialize) => {
        named!($type, $description, $names);

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                from_name(deserializer)
            }
        }
    };
}

named!(
    State,
    "The state of a certified domain.",
    State::ALL
        .iter()
        .map(|state| state.as_str().to_owned())
        .collect()
);
named!(
    OutboxState,
    "Where a notice is in its delivery.",
    [OutboxState::Pending, OutboxState::Sent, OutboxState::Failed]
        .iter()
        .map(|state| state.as_str().to_owned())
        .collect()
);
named!(
    Lang,
    "A language: Italian or English.",
    value_names::<Lang>(),
    deserialize
);
named!(
    OrderKind,
    "An own domain, or an internal subdomain of the provider's.",
    value_names::<OrderKind>(),
    deserialize
);
named!(
    OrderState,
    "Where an order stands.",
    value_names::<OrderState>(),
    deserialize
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemas_name_what_serde_writes() {
        for lang in Lang::value_variants() {
            let name = serde_json::to_value(lang).unwrap();
            assert!(value_names::<Lang>().contains(&name.as_str().unwrap().to_owned()));
            let back: Lang = serde_json::from_value(name).unwrap();
            assert_eq!(&back, lang);
        }
        for kind in OrderKind::value_variants() {
            let name = serde_json::to_value(kind).unwrap();
            let back: OrderKind = serde_json::from_value(name).unwrap();
            assert_eq!(&back, kind);
        }
        for state in OrderState::value_variants() {
            let name = serde_json::to_value(state).unwrap();
            let back: OrderState = serde_json::from_value(name).unwrap();
            assert_eq!(&back, state);
        }
        assert!(serde_json::from_value::<Lang>("fr".into()).is_err());
    }
}
