//! `[check]`: the defaults of checks. The profile's name is checked by the configuration,
//! which knows the `[profiles]` files.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::lifecycle::duration_serde;

/// `[check]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckConfig {
    /// The provider profile of new domains: a built-in name or a `[profiles]` name.
    /// Default `aruba`.
    pub profile: String,
    /// A DNSSEC signature on the path of the MX or an MX target's address expiring
    /// within this time gives the warning `DNSSEC_IN_SCADENZA`. Default 3 days.
    #[serde(with = "duration_serde")]
    pub dnssec_expiry_warning: SignedDuration,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            profile: "aruba".into(),
            dnssec_expiry_warning: SignedDuration::from_hours(72),
        }
    }
}
