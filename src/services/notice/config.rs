//! `[notices]`: what notices say and who signs them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[notices]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticesConfig {
    /// The provider's name, as notices sign. Default `Il gestore PEC`.
    pub provider_name: String,
    /// How holders reach the provider's support (an address, a URL, a phone number), as
    /// notices print it. Default none.
    pub support: String,
    /// A directory of templates overriding the built-in ones, file by file
    /// (`it/error_found.txt`, …). Empty: the built-in ones. Default empty.
    pub templates: PathBuf,
    /// Whether resellers get a copy of their domains' notices (when the reseller is an
    /// e-mail address). Default true.
    pub reseller_copy: bool,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        Self {
            provider_name: "Il gestore PEC".into(),
            support: String::new(),
            templates: PathBuf::new(),
            reseller_copy: true,
        }
    }
}
