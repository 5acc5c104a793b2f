//! Provider profiles: what a correct certified domain looks like for one PEC provider.
//!
//! A profile names the provider's MX host and preference, the addresses of its PEC mail
//! servers, extra allowed addresses (the "hybrid" exception for the provider's own hosting)
//! and its name servers for delegation. `aruba` and `infocert` are built in; any provider
//! writes its own as a TOML file:
//!
//! ```toml
//! name = "esempio"
//! display_name = "Esempio PEC"                # for people; default: name
//! mx_host = "mx.pec.esempio.it"
//! mx_preference = 10                       # default 10
//! mail_addresses = ["192.0.2.25", "2001:db8::/64"]   # empty: resolved from mx_host
//! extra_addresses = ["198.51.100.0/24"]    # also allowed
//! nameservers = ["dns1.esempio.it", "dns2.esempio.it"]
//! dnssec = "error"                         # "error" (default) | "warning" | "off"
//! ```

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::name::{DomainName, InputError};

/// Loads a provider profile by name or path: the configuration knows how, the sweep,
/// activation and the outbox are given one.
pub type ProfileLoader = Arc<dyn Fn(&str) -> Result<Profile, String> + Send + Sync>;

/// A PEC provider's expectations for its certified domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The provider's name (`aruba`): the profile's key.
    pub name: String,
    /// The provider's name for people (`Aruba`): `display_name` in a profile file,
    /// defaulting to `name`.
    pub display_name: String,
    /// The host every MX must point to (`mx.pec.aruba.it`).
    pub mx_host: DomainName,
    /// The MX preference the provider asks for.
    pub mx_preference: u16,
    /// Addresses of the provider's PEC mail servers; empty means "resolve `mx_host`".
    pub mail_addresses: Vec<IpNet>,
    /// Further addresses allowed as MX targets (the provider's own hosting).
    pub extra_addresses: Vec<IpNet>,
    /// The provider's name servers, for delegating a certified name to it.
    pub nameservers: Vec<DomainName>,
    /// How a DNSSEC validation failure counts (`DNSSEC_NON_VALIDO`).
    pub dnssec: DnssecPolicy,
}

/// How a profile treats a certified name whose MX (or MX target) does not validate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnssecPolicy {
    /// `DNSSEC_NON_VALIDO` is an error, like the other codes (the 7 days start).
    #[default]
    Error,
    /// Reported as a warning: never blocks certification, never starts the 7 days.
    Warning,
    /// Not checked at all.
    Off,
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Neither a built-in name nor a readable file.
    #[error("unknown profile {0:?}: use aruba, infocert or the path of a TOML file")]
    Unknown(String),
    /// The file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("invalid profile {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A host name in the profile is not a host name.
    #[error("invalid host name in profile {path}: {source}")]
    BadName {
        /// The file.
        path: String,
        /// The cause.
        source: InputError,
    },
}

/// The profile file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    mx_host: String,
    #[serde(default = "default_preference")]
    mx_preference: u16,
    #[serde(default)]
    mail_addresses: Vec<AddressOrNet>,
    #[serde(default)]
    extra_addresses: Vec<AddressOrNet>,
    #[serde(default)]
    nameservers: Vec<String>,
    #[serde(default)]
    dnssec: DnssecPolicy,
}

fn default_preference() -> u16 {
    10
}

/// An address (`192.0.2.1`) or a network (`192.0.2.0/24`).
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct AddressOrNet(IpNet);

impl TryFrom<String> for AddressOrNet {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        parse_net(&text)
            .map(AddressOrNet)
            .ok_or_else(|| format!("{text:?} is neither an IP address nor a CIDR network"))
    }
}

/// Parses an IP address or a CIDR network.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Profile {
    /// The names of the built-in profiles.
    pub const BUILT_IN: [&'static str; 2] = ["aruba", "infocert"];

    /// A built-in profile by name, or a profile file by path.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        if let Some(profile) = Self::built_in(name_or_path) {
            return Ok(profile);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(ProfileError::Unknown(name_or_path.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: name_or_path.to_string(),
            source,
        })?;
        Self::from_toml(&text, name_or_path)
    }

    /// Parses a profile file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ProfileError> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| ProfileError::Invalid {
            path: origin.to_string(),
            message: e.message().to_string(),
        })?;
        let bad_name = |source| ProfileError::BadName {
            path: origin.to_string(),
            source,
        };
        let nameservers = file
            .nameservers
            .iter()
            .map(|n| DomainName::parse(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad_name)?;
        let display_name = file
            .display_name
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| file.name.clone());
        Ok(Self {
            display_name,
            name: file.name,
            mx_host: DomainName::parse(&file.mx_host).map_err(bad_name)?,
            mx_preference: file.mx_preference,
            mail_addresses: file.mail_addresses.into_iter().map(|a| a.0).collect(),
            extra_addresses: file.extra_addresses.into_iter().map(|a| a.0).collect(),
            nameservers,
            dnssec: file.dnssec,
        })
    }

    /// A built-in profile, if `name` is one.
    pub fn built_in(name: &str) -> Option<Self> {
        let host = |h: &str| DomainName::parse(h).ok();
        match name.to_ascii_lowercase().as_str() {
            "aruba" => Some(Self {
                name: "aruba".into(),
                display_name: "Aruba".into(),
                mx_host: host("mx.pec.aruba.it")?,
                mx_preference: 10,
                mail_addresses: Vec::new(),
                extra_addresses: Vec::new(),
                nameservers: [
                    "dns.technorail.com",
                    "dns2.technorail.com",
                    "dns3.arubadns.net",
                    "dns4.arubadns.cz",
                ]
                .iter()
                .filter_map(|h| host(h))
                .collect(),
                dnssec: DnssecPolicy::Error,
            }),
            "infocert" => Some(Self {
                name: "infocert".into(),
                display_name: "InfoCert".into(),
                mx_host: host("mx.cert.legalmail.it")?,
                mx_preference: 10,
                mail_addresses: Vec::new(),
                extra_addresses: Vec::new(),
                nameservers: Vec::new(),
                dnssec: DnssecPolicy::Error,
            }),
            _ => None,
        }
    }

    /// Whether an address belongs to the provider's PEC mail servers or the extra ones.
    pub fn allows(&self, address: IpAddr) -> bool {
        self.mail_addresses
            .iter()
            .chain(&self.extra_addresses)
            .any(|net| net.contains(&address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(Profile::load("aruba").unwrap().display_name, "Aruba");
        assert_eq!(Profile::load("infocert").unwrap().display_name, "InfoCert");
        let named = Profile::from_toml(
            "name = 'esempio'\ndisplay_name = 'Esempio PEC S.p.A.'\nmx_host = 'mx.pec.esempio.it'",
            "p.toml",
        )
        .unwrap();
        assert_eq!(
            (named.name.as_str(), named.display_name.as_str()),
            ("esempio", "Esempio PEC S.p.A.")
        );
        let plain = Profile::from_toml("name = 'esempio'\nmx_host = 'mx.pec.esempio.it'", "p.toml")
            .unwrap();
        assert_eq!(plain.display_name, "esempio");
    }

    #[test]
    fn built_ins() {
        let aruba = Profile::load("aruba").unwrap();
        assert_eq!(aruba.mx_host.as_str(), "mx.pec.aruba.it");
        assert_eq!(aruba.mx_preference, 10);
        let infocert = Profile::load("InfoCert").unwrap();
        assert_eq!(infocert.mx_host.as_str(), "mx.cert.legalmail.it");
    }

    #[test]
    fn from_toml_with_defaults_and_cidrs() {
        let p = Profile::from_toml(
            r#"
            name = "esempio"
            mx_host = "MX.Pec.Esempio.IT."
            mail_addresses = ["192.0.2.25", "2001:db8::/64"]
            extra_addresses = ["198.51.100.0/24"]
            nameservers = ["dns1.esempio.it"]
            "#,
            "test",
        )
        .unwrap();
        assert_eq!(p.mx_host.as_str(), "mx.pec.esempio.it");
        assert_eq!(p.mx_preference, 10);
        assert!(p.allows("192.0.2.25".parse().unwrap()));
        assert!(!p.allows("192.0.2.26".parse().unwrap()));
        assert!(p.allows("2001:db8::99".parse().unwrap()));
        assert!(p.allows("198.51.100.7".parse().unwrap()));
    }

    #[test]
    fn example_profile_file_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/profile.toml");
        let p = Profile::load(path).unwrap();
        assert_eq!(p.name, "esempio");
        assert_eq!(p.nameservers.len(), 2);
        assert!(p.allows("198.51.100.9".parse().unwrap()));
    }

    #[test]
    fn bad_profiles_are_clear_errors() {
        let unknown_key = Profile::from_toml("name='x'\nmx_host='mx.x.it'\nfoo=1", "p.toml");
        assert!(matches!(unknown_key, Err(ProfileError::Invalid { .. })));
        let bad_ip = Profile::from_toml(
            "name='x'\nmx_host='mx.x.it'\nmail_addresses=['300.1.1.1']",
            "p.toml",
        );
        let message = bad_ip.unwrap_err().to_string();
        assert!(message.contains("300.1.1.1"), "{message}");
        let bad_host = Profile::from_toml("name='x'\nmx_host='http://x'", "p.toml");
        assert!(matches!(bad_host, Err(ProfileError::BadName { .. })));
        assert!(matches!(
            Profile::load("/nonexistent/profile.toml"),
            Err(ProfileError::Unknown(_))
        ));
    }
}
