//! `[database]`: where the registry lives, checked here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::settings::{Invalid, redact_url};

/// Accepted `[database] url` schemes.
const DATABASE_SCHEMES: [&str; 3] = ["sqlite:", "postgres://", "postgresql://"];

/// `[database]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://FILE`, `sqlite::memory:` or `postgres://USER:PASSWORD@HOST/DB`. Default
    /// `sqlite://pecwatch.db`. May hold a password: shown only redacted.
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://pecwatch.db".into(),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

impl DatabaseConfig {
    /// Checks the URL's scheme (the database itself is reached when opened).
    pub fn validate(&self) -> Result<(), Invalid> {
        if !DATABASE_SCHEMES
            .iter()
            .any(|scheme| self.url.starts_with(scheme))
        {
            return Err(Invalid::new(
                "url",
                format!("{:?}", redact_url(&self.url)),
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        Ok(())
    }
}
