//! Provisioning: the DNS the provider writes itself when it activates a certified domain.
//!
//! Three cases, each idempotent (running it again when it is done is a success, reported
//! as [`Provisioned::AlreadyPresent`]) and each with its undo:
//!
//! - **(a) internal subdomain** `acme.<internal zone>` (`acme.pec.aruba.it`, InfoCert's
//!   `nomedominio.legalmail.it`): [`Provisioner::internal_subdomain`] adds
//!   `acme MX 10 <mx host>.` to the provider's zone with the prerequisite "name not in use",
//!   so a name already taken is never overwritten ([`ProvisionError::Conflict`]);
//!   [`Provisioner::remove_internal_subdomain`] removes exactly that MX (when the order is
//!   rejected), and only if it is still exactly that.
//! - **(b) own domain whose zone is on the provider's DNS**:
//!   [`Provisioner::own_domain_mx`] finds the zone on the primary and adds the MX at the
//!   name with the prerequisite "no MX RRset at the name" (other records of the name stay);
//!   [`Provisioner::remove_own_domain_mx`] undoes it.
//! - **(c) delegation**: the customer delegated the name to the provider's name servers;
//!   [`Provisioner::delegated_zone`] creates the zone (SOA, NS, MX) and adds it as a member
//!   of the provider's catalog zone (RFC 9432), so that the primary and every secondary
//!   consuming the catalog start serving it; [`Provisioner::remove_delegated_zone`] takes it
//!   out of the catalog.
//!
//! # How a member zone gets its content (case c)
//!
//! A catalog only lists zone names: a server consuming it creates each member zone from a
//! configuration template, and the zone's content must come from somewhere. The options
//! with Knot DNS are: (1) the template's `file` points into a directory the provisioning
//! writes, and the zone file is written *before* the member is added, so the primary loads
//! a complete zone the moment it creates it; (2) the member starts empty and the content is
//! sent afterwards, by UPDATE or `knotc zone-set`. (2) fails: an empty zone has no SOA, so
//! Knot serves SERVFAIL and refuses UPDATEs to it, and `knotc` needs the server's control
//! socket, which a remote provisioning host does not have. So pecwatch does (1):
//! [`member_zone_file`] renders the zone, it is written atomically (temporary file, then
//! rename) as `<zone_dir>/<zone>.zone`, and only then the catalog UPDATE adds the member.
//! The primary's catalog template must read that directory with `file: "%s.zone"`; with
//! `zonefile-sync: 0` later UPDATEs of the zone are written back to the same file, and
//! `journal-content: changes` lets the secondaries take them by IXFR. The secondaries'
//! template names the primary as `master`: they transfer the zone, they never read the
//! file. The lab (`lab/lab.sh`, instance `dns1`) is configured exactly so.
//!
//! A member is `<id>.zones.<catalog> PTR <zone>.` with a unique id derived from the zone's
//! name (the first 10 bytes of the SHA-256 of its wire form, in hex), so the same zone
//! always maps to the same member node: adding it twice finds it there.
//!
//! # Pure planning, then I/O
//!
//! The plans ([`plan_internal_subdomain`], [`plan_own_domain_mx`], [`catalog_member`],
//! [`member_zone_file`], [`compare_mx`]) are pure functions tested without a network;
//! [`Provisioner`] sends them with [`UpdateClient`] (TSIG-signed UPDATEs, see
//! [`crate::dns::update`]) and reads back what the primary holds with signed queries.

use std::fmt;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Lang;
use crate::dns::fqdn;
use crate::dns::tsig::{KeyError, TsigKey};
use crate::dns::update::{
    Change, Prerequisite, PrerequisiteFailure, Update, UpdateClient, UpdateError, UpdateOutcome,
    mx_record,
};
use crate::name::{DomainName, InputError};
use crate::probe::parse_resolver;
use crate::profile::Profile;
use crate::settings::{Invalid, REDACTED};

/// `[provision]`: the provider's primary DNS server, written by TSIG-signed UPDATE at
/// activation (this module). Everything empty (the default): nothing is written.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvisionConfig {
    /// The primary server accepting UPDATEs, `ADDR` or `ADDR:PORT`; empty: provisioning
    /// is off. Default empty.
    pub primary: String,
    /// The provider's zone of internal subdomains (`pec.aruba.it`): `acme` becomes
    /// `acme.<internal_zone>`. Default empty.
    pub internal_zone: String,
    /// A file with the TSIG key (Knot or BIND key file, or `name:algorithm:base64`).
    /// Exclusive with `tsig_key`. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsig_key_file: Option<PathBuf>,
    /// The TSIG key as `name:algorithm:base64` (secret: give it through the environment,
    /// `PECWATCH_PROVISION_TSIG_KEY`). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsig_key: Option<String>,
    /// The provider's catalog zone (RFC 9432) that delegated zones are added to; empty:
    /// delegations are not provisioned. Default empty.
    pub catalog_zone: String,
    /// The directory where the files of delegated zones are written before they join the
    /// catalog: the primary's catalog template storage (`file: "%s.zone"`). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_dir: Option<PathBuf>,
    /// The NS records of delegated zones (the provider's name servers); empty: the
    /// profile's `nameservers`. Default none.
    pub nameservers: Vec<String>,
    /// The SOA mailbox of delegated zones, as a name or an address; empty:
    /// `hostmaster.<internal_zone>`. Default empty.
    pub hostmaster: String,
    /// The TTL of the records written, in seconds. Default 3600.
    pub ttl: u32,
    /// How long one UPDATE attempt waits for the primary, in milliseconds. Default 2000.
    pub timeout_ms: u64,
}

impl Default for ProvisionConfig {
    fn default() -> Self {
        Self {
            primary: String::new(),
            internal_zone: String::new(),
            tsig_key_file: None,
            tsig_key: None,
            catalog_zone: String::new(),
            zone_dir: None,
            nameservers: Vec::new(),
            hostmaster: String::new(),
            ttl: 3600,
            timeout_ms: 2000,
        }
    }
}

impl fmt::Debug for ProvisionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionConfig")
            .field("primary", &self.primary)
            .field("internal_zone", &self.internal_zone)
            .field("tsig_key_file", &self.tsig_key_file)
            .field("tsig_key", &self.tsig_key.as_ref().map(|_| REDACTED))
            .field("catalog_zone", &self.catalog_zone)
            .field("zone_dir", &self.zone_dir)
            .field("nameservers", &self.nameservers)
            .field("hostmaster", &self.hostmaster)
            .field("ttl", &self.ttl)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl ProvisionConfig {
    /// The settings and TSIG key, read and checked (the key file is read here); `None`
    /// when `primary` is empty (provisioning off).
    pub fn settings(&self) -> Result<Option<(Settings, TsigKey)>, Invalid> {
        if self.primary.trim().is_empty() {
            return Ok(None);
        }
        let primary = parse_resolver(&self.primary).map_err(|_| {
            Invalid::new(
                "primary",
                format!("{:?}", self.primary),
                "expected ADDR or ADDR:PORT (127.0.0.1, [2001:db8::53]:53)",
            )
        })?;
        let dns_name = |key: &'static str, text: &str| -> Result<Name, Invalid> {
            DomainName::parse(text)
                .map(|name| name.to_dns())
                .map_err(|e| Invalid::new(key, format!("{text:?}"), e))
        };
        if self.internal_zone.trim().is_empty() {
            return Err(Invalid::new(
                "internal_zone",
                "\"\"",
                "set it (the provider's zone of internal subdomains) when primary is set",
            ));
        }
        let internal_zone = dns_name("internal_zone", &self.internal_zone)?;
        let key = match (&self.tsig_key_file, &self.tsig_key) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "tsig_key_file",
                    "…",
                    "set together with [provision] tsig_key: use one",
                ));
            }
            (Some(path), None) => TsigKey::from_file(path).map_err(|e| {
                Invalid::new(
                    "tsig_key_file",
                    format!("{:?}", path.display().to_string()),
                    e,
                )
            })?,
            (None, Some(text)) => {
                TsigKey::parse(text).map_err(|e| Invalid::new("tsig_key", REDACTED, e))?
            }
            (None, None) => {
                return Err(Invalid::new(
                    "tsig_key_file",
                    "none",
                    "set it (or tsig_key) when primary is set: updates are signed with TSIG",
                ));
            }
        };
        let catalog_zone = match self.catalog_zone.trim() {
            "" => None,
            text => Some(dns_name("catalog_zone", text)?),
        };
        let nameservers = self
            .nameservers
            .iter()
            .map(|ns| dns_name("nameservers", ns))
            .collect::<Result<Vec<_>, _>>()?;
        let hostmaster = match self.hostmaster.trim() {
            "" => Name::from_ascii("hostmaster")
                .and_then(|h| h.append_domain(&internal_zone))
                .map_err(|e| Invalid::new("hostmaster", "\"\"", e))?,
            text => dns_name("hostmaster", &text.replacen('@', ".", 1))?,
        };
        if !(1..=604_800).contains(&self.ttl) {
            return Err(Invalid::new(
                "ttl",
                self.ttl.to_string(),
                "must be between 1 and 604800",
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(Invalid::new(
                "timeout_ms",
                self.timeout_ms.to_string(),
                "must be between 1 and 60000",
            ));
        }
        if let Some(dir) = &self.zone_dir
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(Invalid::new(
                "zone_dir",
                format!("{:?}", dir.display().to_string()),
                "not a directory",
            ));
        }
        let settings = Settings {
            primary,
            internal_zone,
            catalog_zone,
            zone_dir: self.zone_dir.clone().filter(|d| !d.as_os_str().is_empty()),
            nameservers,
            hostmaster,
            ttl: self.ttl,
            timeout: Duration::from_millis(self.timeout_ms),
        };
        Ok(Some((settings, key)))
    }
}

/// Where and how to provision: the `[provision]` configuration, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The primary server that accepts the UPDATEs.
    pub primary: SocketAddr,
    /// The provider's zone of internal subdomains (`pec.aruba.it`).
    pub internal_zone: Name,
    /// The provider's catalog zone; `None`: delegations are not provisioned.
    pub catalog_zone: Option<Name>,
    /// Where member zone files are written (the primary's catalog template storage).
    pub zone_dir: Option<PathBuf>,
    /// The NS records of the zones created for delegations.
    pub nameservers: Vec<Name>,
    /// The SOA RNAME of created zones (`hostmaster.aruba.it.`).
    pub hostmaster: Name,
    /// The TTL of the records written.
    pub ttl: u32,
    /// How long one UPDATE attempt waits.
    pub timeout: Duration,
}

/// What a provisioning step found or did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Provisioned {
    /// The records (or the zone) were created now.
    Created {
        /// The zone written to (the catalog zone for a delegation).
        zone: String,
        /// The records as zone-file lines.
        records: Vec<String>,
    },
    /// Everything was already as wanted: nothing changed.
    AlreadyPresent {
        /// The zone.
        zone: String,
        /// The records found.
        records: Vec<String>,
    },
}

/// What an undo found or did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Removed {
    /// The records (or the member zone) were removed now.
    Removed {
        /// The records removed, as zone-file lines.
        records: Vec<String>,
    },
    /// There was nothing to remove.
    AlreadyAbsent,
}

/// Why provisioning could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A `[provision]` key this step needs is not set.
    #[error("provisioning is not configured: set [provision] {0}")]
    NotConfigured(&'static str),
    /// The key could not be read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The name is not usable.
    #[error("{0}")]
    Name(String),
    /// The name already holds other data: nothing was changed.
    #[error("{name} already exists with other data ({}): nothing changed", .existing.join("; "))]
    Conflict {
        /// The name.
        name: String,
        /// What it holds now, as zone-file lines.
        existing: Vec<String>,
    },
    /// The primary does not serve a zone holding the name.
    #[error("the primary {primary} serves no zone that holds {name}")]
    NotOnPrimary {
        /// The name.
        name: String,
        /// The primary.
        primary: SocketAddr,
    },
    /// The primary said "applied" but does not hold the records (e.g. a CNAME at the name
    /// made it ignore the MX).
    #[error("the primary accepted the update but does not hold {expected} at {name}")]
    NotApplied {
        /// The name.
        name: String,
        /// What was expected.
        expected: String,
    },
    /// The UPDATE or the read-back failed.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// The zone file could not be written.
    #[error("cannot write zone file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl ProvisionError {
    /// The message in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Self::NotConfigured(key) => {
                format!("provisioning non configurato: impostare [provision] {key}")
            }
            Self::Key(error) => error.to_string(),
            Self::Name(text) => text.clone(),
            Self::Conflict { name, existing } => format!(
                "{name} esiste già con altri dati ({}): nessuna modifica",
                existing.join("; ")
            ),
            Self::NotOnPrimary { name, primary } => {
                format!("il DNS primario {primary} non ha alcuna zona che contenga {name}")
            }
            Self::NotApplied { name, expected } => format!(
                "il DNS primario ha accettato l'aggiornamento ma non contiene {expected} in {name}"
            ),
            Self::Update(error) => error.message(lang),
            Self::Io { path, source } => {
                format!("impossibile scrivere il file di zona {path}: {source}")
            }
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Update(error) if error.is_transient())
    }
}

// ---------------------------------------------------------------------------------------
// Pure planning
// ---------------------------------------------------------------------------------------

/// The MX records to write at a name, and the UPDATEs that add and remove them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxPlan {
    /// The zone updated.
    pub zone: Name,
    /// The certified name.
    pub name: Name,
    /// The MX records (the profile's host and preference).
    pub records: Vec<Record>,
    /// Adds them, under the plan's prerequisite.
    pub add: Update,
    /// Removes exactly them, only if the MX RRset is still exactly them.
    pub remove: Update,
}

impl MxPlan {
    /// The records as zone-file lines.
    pub fn lines(&self) -> Vec<String> {
        self.records.iter().map(record_line).collect()
    }

    /// The (preference, exchange) pairs wanted, sorted.
    pub fn wanted(&self) -> Vec<(u16, Name)> {
        mx_pairs(&self.records)
    }
}

/// The plan for an internal subdomain: `label.<internal_zone>` with the profile's MX, added
/// only if the name is not in use. `label` may be given in Unicode (`caffè`); it must be one
/// label. Reserved labels and forbidden words (`[activation]`) are the caller's check.
pub fn plan_internal_subdomain(
    label: &str,
    internal_zone: &Name,
    profile: &Profile,
    ttl: u32,
) -> Result<MxPlan, ProvisionError> {
    let zone_text = internal_zone
        .to_ascii()
        .trim_end_matches('.')
        .to_lowercase();
    let label = label.trim().trim_end_matches('.');
    if label.is_empty() || label.contains('.') || label.contains('@') {
        return Err(ProvisionError::Name(format!(
            "{label:?} is not a single label (the internal subdomain is <label>.{zone_text})"
        )));
    }
    let domain = DomainName::parse(&format!("{label}.{zone_text}"))
        .map_err(|e: InputError| ProvisionError::Name(e.to_string()))?;
    domain
        .relative_to(&zone_text)
        .filter(|l| !l.contains('.') && l != "@")
        .ok_or_else(|| ProvisionError::Name(format!("{label:?} is not a label")))?;
    let name = domain.to_dns();
    let mut plan = plan_mx(internal_zone, &name, profile, ttl);
    plan.add = Update::new(plan.zone.clone())
        .require(Prerequisite::NameNotInUse(name.clone()))
        .change(Change::Add(plan.records[0].clone()));
    Ok(plan)
}

/// The plan for the MX of an own domain in `zone` (a zone on the provider's DNS): added
/// only if the name has no MX RRset; its other records stay.
pub fn plan_own_domain_mx(
    domain: &DomainName,
    zone: &Name,
    profile: &Profile,
    ttl: u32,
) -> Result<MxPlan, ProvisionError> {
    let name = domain.to_dns();
    if !zone.zone_of(&name) {
        return Err(ProvisionError::Name(format!(
            "{domain} is not inside zone {}",
            fqdn(zone)
        )));
    }
    Ok(plan_mx(zone, &name, profile, ttl))
}

fn plan_mx(zone: &Name, name: &Name, profile: &Profile, ttl: u32) -> MxPlan {
    let exchange = profile.mx_host.to_dns();
    let records = vec![mx_record(name, ttl, profile.mx_preference, &exchange)];
    let add = Update::new(zone.clone())
        .require(Prerequisite::RrsetDoesNotExist(
            name.clone(),
            RecordType::MX,
        ))
        .change(Change::Add(records[0].clone()));
    let remove = Update::new(zone.clone())
        .require(Prerequisite::RrsetEquals(records.clone()))
        .change(Change::DeleteRecord(records[0].clone()));
    MxPlan {
        zone: zone.clone(),
        name: name.clone(),
        records,
        add,
        remove,
    }
}

/// How the MX set found compares with the one wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MxComparison {
    /// Exactly the wanted set.
    Same,
    /// No MX at all.
    Absent,
    /// Something else.
    Different,
}

/// Compares MX sets (order and case do not matter).
pub fn compare_mx(wanted: &[(u16, Name)], found: &[(u16, Name)]) -> MxComparison {
    let normal = |set: &[(u16, Name)]| {
        let mut set: Vec<(u16, Name)> = set.iter().map(|(p, n)| (*p, n.to_lowercase())).collect();
        set.sort();
        set.dedup();
        set
    };
    if found.is_empty() {
        MxComparison::Absent
    } else if normal(wanted) == normal(found) {
        MxComparison::Same
    } else {
        MxComparison::Different
    }
}

/// The (preference, exchange) pairs of MX records, sorted.
fn mx_pairs(records: &[Record]) -> Vec<(u16, Name)> {
    let mut pairs: Vec<(u16, Name)> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => {
                let mut exchange = mx.exchange.to_lowercase();
                exchange.set_fqdn(true);
                Some((mx.preference, exchange))
            }
            _ => None,
        })
        .collect();
    pairs.sort();
    pairs
}

/// A record as a zone-file line (`pec.example.it. 3600 IN MX 10 mx.pec.aruba.it.`).
pub fn record_line(record: &Record) -> String {
    let owner = fqdn(&record.name);
    let data = match &record.data {
        RData::MX(mx) => format!("MX {} {}", mx.preference, fqdn(&mx.exchange)),
        RData::PTR(ptr) => format!("PTR {}", fqdn(&ptr.0)),
        RData::NS(ns) => format!("NS {}", fqdn(&ns.0)),
        RData::CNAME(c) => format!("CNAME {}", fqdn(&c.0)),
        RData::A(a) => format!("A {}", a.0),
        RData::AAAA(a) => format!("AAAA {}", a.0),
        other => format!("{} {other}", other.record_type()),
    };
    format!("{owner} {} IN {data}", record.ttl)
}

/// The catalog member of a zone: its node `<id>.zones.<catalog>` and its PTR record.
pub fn catalog_member(zone: &Name, catalog: &Name) -> Result<(Name, Record), ProvisionError> {
    let mut zone = zone.to_lowercase();
    zone.set_fqdn(true);
    let mut wire = Vec::new();
    for label in zone.iter() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    let digest = Sha256::digest(&wire);
    let id: String = digest.iter().take(10).fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    });
    let owner = Name::from_ascii(format!("{id}.zones.{}", fqdn(catalog)))
        .map_err(|e| ProvisionError::Name(format!("catalog member name: {e}")))?;
    let record = Record::from_rdata(owner.clone(), 0, RData::PTR(PTR(zone)));
    Ok((owner, record))
}

/// The file of a delegated zone created by the provider: SOA (the first name server as
/// MNAME, `hostmaster` as RNAME, `serial`), the NS records and the profile's MX at the
/// apex, with `ttl`. SOA timers: refresh 3600, retry 600, expire 1209600, minimum 300.
pub fn member_zone_file(
    zone: &Name,
    nameservers: &[Name],
    hostmaster: &Name,
    profile: &Profile,
    serial: u32,
    ttl: u32,
) -> Result<String, ProvisionError> {
    let first = nameservers
        .first()
        .ok_or(ProvisionError::NotConfigured("nameservers"))?;
    let mut text = String::new();
    let zone = fqdn(zone);
    let _ = writeln!(
        text,
        "; {zone} created by pecwatch at activation (delegated to the provider)"
    );
    let _ = writeln!(text, "$ORIGIN {zone}");
    let _ = writeln!(text, "$TTL {ttl}");
    let _ = writeln!(
        text,
        "@ IN SOA {} {} {serial} 3600 600 1209600 300",
        fqdn(first),
        fqdn(hostmaster)
    );
    for ns in nameservers {
        let _ = writeln!(text, "@ IN NS {}", fqdn(ns));
    }
    let _ = writeln!(
        text,
        "@ IN MX {} {}.",
        profile.mx_preference, profile.mx_host
    );
    Ok(text)
}

/// The file name of a member zone in the zone directory: `<zone>.zone` (Knot's `%s.zone`).
pub fn member_file_name(zone: &Name) -> String {
    format!("{}.zone", fqdn(zone).trim_end_matches('.'))
}

// ---------------------------------------------------------------------------------------
// I/O
// ---------------------------------------------------------------------------------------

/// Sends the plans to the provider's primary.
#[derive(Clone, Debug)]
pub struct Provisioner {
    client: UpdateClient,
    settings: Settings,
}

impl Provisioner {
    /// The provisioner of a configuration's `[provision]`; `None` when its `primary` is
    /// empty. (The configuration checked the section at load, naming where each value came
    /// from: see `Config::provisioner`.)
    pub fn from_config(config: &impl AsRef<ProvisionConfig>) -> Result<Option<Self>, Invalid> {
        Ok(config
            .as_ref()
            .settings()?
            .map(|(settings, key)| Self::new(settings, key)))
    }

    /// A provisioner with these settings, signing with `key`.
    pub fn new(settings: Settings, key: TsigKey) -> Self {
        let client = UpdateClient::new(settings.primary, key).with_timeout(settings.timeout);
        Self { client, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The UPDATE client (for reading what the primary holds).
    pub fn client(&self) -> &UpdateClient {
        &self.client
    }

    /// (a) The internal subdomain `label.<internal_zone>`, with the profile's MX.
    pub async fn internal_subdomain(
        &self,
        label: &str,
        profile: &Profile,
    ) -> Result<Provisioned, ProvisionError> {
        let plan = plan_internal_subdomain(
            label,
            &self.settings.internal_zone,
            profile,
            self.settings.ttl,
        )?;
        self.apply_mx(&plan, PrerequisiteFailure::NameInUse).await
    }

    /// Undoes (a): removes the MX of `label.<internal_zone>` if it is still exactly the
    /// profile's.
    pub async fn remove_internal_subdomain(
        &self,
        label: &str,
        profile: &Profile,
    ) -> Result<Removed, ProvisionError> {
        let plan = plan_internal_subdomain(
            label,
            &self.settings.internal_zone,
            profile,
            self.settings.ttl,
        )?;
        self.remove_mx(&plan).await
    }

    /// (b) The MX of an own domain whose zone is on the provider's DNS.
    pub async fn own_domain_mx(
        &self,
        domain: &DomainName,
        profile: &Profile,
    ) -> Result<Provisioned, ProvisionError> {
        let zone = self.zone_on_primary(domain).await?;
        let plan = plan_own_domain_mx(domain, &zone, profile, self.settings.ttl)?;
        self.apply_mx(&plan, PrerequisiteFailure::RrsetExists).await
    }

    /// Undoes (b).
    pub async fn remove_own_domain_mx(
        &self,
        domain: &DomainName,
        profile: &Profile,
    ) -> Result<Removed, ProvisionError> {
        let zone = self.zone_on_primary(domain).await?;
        let plan = plan_own_domain_mx(domain, &zone, profile, self.settings.ttl)?;
        self.remove_mx(&plan).await
    }

    /// (c) The delegated zone `domain`: its file in the zone directory, then its member in
    /// the catalog. Returns [`Provisioned::AlreadyPresent`] when the catalog lists it
    /// already (its file is then left alone: the primary owns it).
    pub async fn delegated_zone(
        &self,
        domain: &DomainName,
        profile: &Profile,
    ) -> Result<Provisioned, ProvisionError> {
        let (catalog, dir) = self.catalog()?;
        let zone = domain.to_dns();
        let (owner, member) = catalog_member(&zone, &catalog)?;
        let line = vec![record_line(&member)];
        if self.is_member(&catalog, &member).await? {
            return Ok(Provisioned::AlreadyPresent {
                zone: fqdn(&catalog),
                records: line,
            });
        }
        // A zone the primary serves already outside the catalog (configured by hand).
        if self.serves(&zone).await? {
            return Err(ProvisionError::Conflict {
                name: fqdn(&zone),
                existing: vec![format!("{} SOA (zone already served)", fqdn(&zone))],
            });
        }
        let nameservers = self.nameservers(profile)?;
        let hostmaster = self.settings.hostmaster.clone();
        let serial = serial_now();
        let text = member_zone_file(
            &zone,
            &nameservers,
            &hostmaster,
            profile,
            serial,
            self.settings.ttl,
        )?;
        write_atomically(&dir.join(member_file_name(&zone)), &text)?;
        let update = Update::new(catalog.clone())
            .require(Prerequisite::NameNotInUse(owner.clone()))
            .change(Change::Add(member));
        match self.client.send(&update).await? {
            UpdateOutcome::Applied => Ok(Provisioned::Created {
                zone: fqdn(&catalog),
                records: line,
            }),
            UpdateOutcome::PrerequisiteFailed(_) => {
                // Added meanwhile (another activation of the same zone), or the node holds
                // something else.
                let member = Record::from_rdata(owner.clone(), 0, RData::PTR(PTR(zone.clone())));
                if self.is_member(&catalog, &member).await? {
                    Ok(Provisioned::AlreadyPresent {
                        zone: fqdn(&catalog),
                        records: line,
                    })
                } else {
                    Err(ProvisionError::Conflict {
                        name: fqdn(&owner),
                        existing: vec![format!("{} (in use)", fqdn(&owner))],
                    })
                }
            }
        }
    }

    /// Undoes (c): takes the zone out of the catalog (the servers stop serving it) and
    /// deletes its file.
    pub async fn remove_delegated_zone(
        &self,
        domain: &DomainName,
    ) -> Result<Removed, ProvisionError> {
        let (catalog, dir) = self.catalog()?;
        let zone = domain.to_dns();
        let (_, member) = catalog_member(&zone, &catalog)?;
        let update = Update::new(catalog)
            .require(Prerequisite::RrsetEquals(vec![member.clone()]))
            .change(Change::DeleteRecord(member.clone()));
        let outcome = self.client.send(&update).await?;
        let path = dir.join(member_file_name(&zone));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ProvisionError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
        Ok(match outcome {
            UpdateOutcome::Applied => Removed::Removed {
                records: vec![record_line(&member)],
            },
            UpdateOutcome::PrerequisiteFailed(_) => Removed::AlreadyAbsent,
        })
    }

    /// Whether the catalog lists exactly this member record. Catalog zones are not served
    /// to queries (Knot refuses them), so it is asked with an UPDATE that only has the
    /// prerequisite "this RRset is exactly the member record" and no change: NOERROR means
    /// listed, NXRRSET not.
    async fn is_member(&self, catalog: &Name, member: &Record) -> Result<bool, ProvisionError> {
        let probe =
            Update::new(catalog.clone()).require(Prerequisite::RrsetEquals(vec![member.clone()]));
        Ok(self.client.send(&probe).await? == UpdateOutcome::Applied)
    }

    /// Whether the primary serves `zone` (answers its SOA as the zone's apex).
    pub async fn serves(&self, zone: &Name) -> Result<bool, ProvisionError> {
        let message = match self.client.query(zone, RecordType::SOA).await {
            Ok(message) => message,
            Err(UpdateError::Refused | UpdateError::NotAuth) => return Ok(false),
            Err(error) => return Err(error.into()),
        };
        Ok(message.metadata.authoritative
            && message.answers.iter().any(|r| {
                r.record_type() == RecordType::SOA && r.name.to_lowercase() == zone.to_lowercase()
            }))
    }

    /// The catalog zone and the zone directory, or what is missing.
    fn catalog(&self) -> Result<(Name, PathBuf), ProvisionError> {
        let catalog = self
            .settings
            .catalog_zone
            .clone()
            .ok_or(ProvisionError::NotConfigured("catalog_zone"))?;
        let dir = self
            .settings
            .zone_dir
            .clone()
            .ok_or(ProvisionError::NotConfigured("zone_dir"))?;
        Ok((catalog, dir))
    }

    /// The NS records of a delegated zone: `[provision] nameservers`, else the profile's.
    fn nameservers(&self, profile: &Profile) -> Result<Vec<Name>, ProvisionError> {
        let names: Vec<Name> = if self.settings.nameservers.is_empty() {
            profile.nameservers.iter().map(DomainName::to_dns).collect()
        } else {
            self.settings.nameservers.clone()
        };
        if names.is_empty() {
            return Err(ProvisionError::NotConfigured("nameservers"));
        }
        Ok(names)
    }

    /// The zone on the primary that holds `domain`: the owner of the SOA in its answer to
    /// `<domain> SOA` (answer or authority section).
    async fn zone_on_primary(&self, domain: &DomainName) -> Result<Name, ProvisionError> {
        let name = domain.to_dns();
        let not_on_primary = || ProvisionError::NotOnPrimary {
            name: domain.to_string(),
            primary: self.settings.primary,
        };
        let message = match self.client.query(&name, RecordType::SOA).await {
            Ok(message) => message,
            Err(UpdateError::Refused | UpdateError::NotAuth) => return Err(not_on_primary()),
            Err(error) => return Err(error.into()),
        };
        if !message.metadata.authoritative {
            return Err(not_on_primary());
        }
        message
            .answers
            .iter()
            .chain(&message.authorities)
            .find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(&name))
            .map(|r| r.name.to_lowercase())
            .ok_or_else(not_on_primary)
    }

    /// Sends an MX plan; on the given prerequisite failure, reads back and decides.
    async fn apply_mx(
        &self,
        plan: &MxPlan,
        taken: PrerequisiteFailure,
    ) -> Result<Provisioned, ProvisionError> {
        let zone = fqdn(&plan.zone);
        match self.client.send(&plan.add).await? {
            UpdateOutcome::Applied => {
                let found = self.mx_on_primary(&plan.name).await?;
                if compare_mx(&plan.wanted(), &mx_pairs(&found)) == MxComparison::Same {
                    Ok(Provisioned::Created {
                        zone,
                        records: plan.lines(),
                    })
                } else {
                    Err(ProvisionError::NotApplied {
                        name: fqdn(&plan.name),
                        expected: plan.lines().join("; "),
                    })
                }
            }
            UpdateOutcome::PrerequisiteFailed(failure) if failure == taken => {
                let found = self.mx_on_primary(&plan.name).await?;
                match compare_mx(&plan.wanted(), &mx_pairs(&found)) {
                    MxComparison::Same => Ok(Provisioned::AlreadyPresent {
                        zone,
                        records: found.iter().map(record_line).collect(),
                    }),
                    _ => Err(ProvisionError::Conflict {
                        name: fqdn(&plan.name),
                        existing: self.describe(&plan.name).await?,
                    }),
                }
            }
            UpdateOutcome::PrerequisiteFailed(_) => Err(ProvisionError::NotApplied {
                name: fqdn(&plan.name),
                expected: plan.lines().join("; "),
            }),
        }
    }

    /// Removes an MX plan's records if the MX RRset is still exactly them.
    async fn remove_mx(&self, plan: &MxPlan) -> Result<Removed, ProvisionError> {
        match self.client.send(&plan.remove).await? {
            UpdateOutcome::Applied => Ok(Removed::Removed {
                records: plan.lines(),
            }),
            UpdateOutcome::PrerequisiteFailed(_) => {
                let found = self.mx_on_primary(&plan.name).await?;
                if found.is_empty() {
                    Ok(Removed::AlreadyAbsent)
                } else {
                    Err(ProvisionError::Conflict {
                        name: fqdn(&plan.name),
                        existing: found.iter().map(record_line).collect(),
                    })
                }
            }
        }
    }

    async fn mx_on_primary(&self, name: &Name) -> Result<Vec<Record>, ProvisionError> {
        Ok(self.client.records(name, RecordType::MX).await?)
    }

    /// What a name holds (MX, CNAME, A, AAAA, TXT, NS), as zone-file lines.
    async fn describe(&self, name: &Name) -> Result<Vec<String>, ProvisionError> {
        let mut lines = Vec::new();
        for rtype in [
            RecordType::MX,
            RecordType::CNAME,
            RecordType::A,
            RecordType::AAAA,
            RecordType::TXT,
            RecordType::NS,
        ] {
            let records = self.client.records(name, rtype).await?;
            lines.extend(records.iter().map(record_line));
        }
        if lines.is_empty() {
            lines.push(format!("{} (in use)", fqdn(name)));
        }
        Ok(lines)
    }
}

/// A SOA serial from the clock (seconds since the epoch, as Knot's `unixtime` policy).
fn serial_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Writes a file atomically: a temporary file in the same directory, then a rename.
fn write_atomically(path: &Path, text: &str) -> Result<(), ProvisionError> {
    let io = |source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    };
    let temporary = path.with_extension(format!("zone.tmp-{}", std::process::id()));
    std::fs::write(&temporary, text).map_err(io)?;
    // Readable by the name server's user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn aruba() -> Profile {
        Profile::built_in("aruba").unwrap()
    }

    #[test]
    fn internal_subdomain_plan() {
        let zone = name("pec.aruba.it.");
        let plan = plan_internal_subdomain("Acme", &zone, &aruba(), 3600).unwrap();
        assert_eq!(plan.name, name("acme.pec.aruba.it."));
        assert_eq!(
            plan.lines(),
            vec!["acme.pec.aruba.it. 3600 IN MX 10 mx.pec.aruba.it."]
        );
        assert_eq!(
            plan.add.prerequisites,
            vec![Prerequisite::NameNotInUse(name("acme.pec.aruba.it."))]
        );
        assert_eq!(plan.add.changes, vec![Change::Add(plan.records[0].clone())]);
        assert_eq!(
            plan.remove.prerequisites,
            vec![Prerequisite::RrsetEquals(plan.records.clone())]
        );
        assert_eq!(
            plan.remove.changes,
            vec![Change::DeleteRecord(plan.records[0].clone())]
        );
        // Unicode labels become A-labels.
        let idn = plan_internal_subdomain("caffè", &zone, &aruba(), 60).unwrap();
        assert_eq!(idn.name, name("xn--caff-8oa.pec.aruba.it."));
        for bad in ["", "a.b", "mario@acme", "-x", "a b", "x_y"] {
            assert!(
                matches!(
                    plan_internal_subdomain(bad, &zone, &aruba(), 60),
                    Err(ProvisionError::Name(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn own_domain_plan_keeps_other_records() {
        let domain = DomainName::parse("pec.cliente.it").unwrap();
        let plan = plan_own_domain_mx(&domain, &name("cliente.it."), &aruba(), 300).unwrap();
        assert_eq!(
            plan.add.prerequisites,
            vec![Prerequisite::RrsetDoesNotExist(
                name("pec.cliente.it."),
                RecordType::MX
            )]
        );
        assert!(plan_own_domain_mx(&domain, &name("other.it."), &aruba(), 300).is_err());
    }

    #[test]
    fn mx_comparison() {
        let host = name("mx.pec.aruba.it.");
        let wanted = vec![(10, host.clone())];
        assert_eq!(compare_mx(&wanted, &[]), MxComparison::Absent);
        assert_eq!(
            compare_mx(&wanted, &[(10, name("MX.pec.aruba.IT."))]),
            MxComparison::Same
        );
        assert_eq!(
            compare_mx(&wanted, &[(10, host.clone()), (20, name("mail.x.it."))]),
            MxComparison::Different
        );
        assert_eq!(compare_mx(&wanted, &[(20, host)]), MxComparison::Different);
    }

    #[test]
    fn catalog_members_are_stable_and_distinct() {
        let catalog = name("catalog.aruba.invalid.");
        let (a, record) = catalog_member(&name("pec.cliente.it."), &catalog).unwrap();
        let (again, _) = catalog_member(&name("PEC.Cliente.IT"), &catalog).unwrap();
        let (other, _) = catalog_member(&name("pec.altro.it."), &catalog).unwrap();
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(catalog.zone_of(&a));
        assert_eq!(a.num_labels(), catalog.num_labels() + 2);
        assert_eq!(
            record_line(&record),
            format!("{} 0 IN PTR pec.cliente.it.", fqdn(&a))
        );
    }

    #[test]
    fn member_zone_file_has_soa_ns_and_mx() {
        let text = member_zone_file(
            &name("pec.cliente.it."),
            &[name("dns1.aruba.it."), name("dns2.aruba.it.")],
            &name("hostmaster.aruba.it."),
            &aruba(),
            1_700_000_000,
            60,
        )
        .unwrap();
        assert!(text.contains("$ORIGIN pec.cliente.it.\n"));
        assert!(text.contains(
            "@ IN SOA dns1.aruba.it. hostmaster.aruba.it. 1700000000 3600 600 1209600 300\n"
        ));
        assert!(text.contains("@ IN NS dns1.aruba.it.\n@ IN NS dns2.aruba.it.\n"));
        assert!(text.contains("@ IN MX 10 mx.pec.aruba.it.\n"));
        assert!(member_zone_file(&name("x.it."), &[], &name("h.it."), &aruba(), 1, 60).is_err());
        assert_eq!(
            member_file_name(&name("pec.cliente.it.")),
            "pec.cliente.it.zone"
        );
    }
}
