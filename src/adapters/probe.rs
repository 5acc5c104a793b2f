//! The prober: all the DNS I/O of a check, producing an [`Observation`].
//!
//! For one certified name the prober
//! 1. finds the closest enclosing zone: the owner of the SOA that a lookup of the name
//!    returns (answer or authority section); when that lookup fails (the zone's servers
//!    are dead or broken, so a resolver gives SERVFAIL), it finds the closest ancestor zone
//!    that works and follows its referral to the broken zone's servers, so that their
//!    exact outcomes are still observed;
//! 2. learns the zone's own NS set and the parent's delegation NS set, and every address
//!    of every name server (the union of the two sets);
//! 3. asks **every** address directly, recursion off, for the zone's SOA and the name's MX;
//! 4. looks up the A and AAAA records of every MX target;
//! 5. when something a verdict rests on failed, asks exactly that again at the patient
//!    pace (more attempts, longer timeouts, TCP after UDP timeouts): the observation
//!    holds the patient answers ([`Prober::observe`]).
//!
//! Lookups that are not sent to the zone's own servers go to the configured recursive
//! resolver, or are resolved iteratively from root hints. What is shared between names
//! (a zone's servers and SOA answers, the provider's MX host, name-server addresses) is
//! cached for the run in bounded caches, and concurrent requests for the same entry wait
//! for one lookup instead of repeating it. What rests on lookups that failed (a server set
//! or a zone learned through a stalled resolver, a reply that timed out) is not cached, so
//! one outage does not poison the rest of a run.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use hickory_proto::rr::{Name, RecordType};
use quick_cache::sync::Cache;
use tokio::sync::Semaphore;

use crate::check::observation::{
    Lookup, Observation, ServerObservation, TargetObservation, ZoneFailure, ZoneObservation,
};
use crate::dns::{Data, Outcome, Pace, Reply, Transport, TransportConfig};
use crate::name::{DomainName, display_name, is_ip_literal_name};
use crate::profile::Profile;

/// How many referrals an iterative lookup follows before giving up.
const MAX_REFERRALS: usize = 16;
/// How many CNAMEs an iterative lookup follows.
const MAX_CNAMES: usize = 8;
/// How deep iterative lookups may nest (to find a name server's address).
const MAX_DEPTH: usize = 4;
/// A server that leaves this many patient queries in a row unanswered, with no answer to
/// any query in between, is not asked patiently again until it answers (or the caches
/// are emptied): a dead server costs one patient wait, not one per name.
const PATIENT_GIVE_UP: u32 = 3;

tokio::task_local! {
    /// The pace of the queries of the current task: patient while a check asks again
    /// what failed ([`Prober::observe`]).
    static PACE: Pace;
}

/// The pace of the current task's queries.
fn current_pace() -> Pace {
    PACE.try_with(|pace| *pace).unwrap_or_default()
}

/// Where lookups that do not go to a zone's own servers are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A recursive resolver (the system's by default).
    Recursive(SocketAddr),
    /// Iteratively, starting from these root servers.
    Iterative(Vec<IpAddr>),
}

/// How the prober works.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Resolver or root hints.
    pub resolution: Resolution,
    /// Query servers at loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
    /// Query servers over IPv6.
    pub ipv6: bool,
    /// Timeouts, retries and sockets.
    pub transport: TransportConfig,
    /// Entries kept in each run cache.
    pub cache_capacity: usize,
    /// How long cached answers are reused before they are all forgotten (checked at
    /// each [`Prober::observe`]); `None`: for the prober's whole life, which suits one
    /// run. Long-running processes set it (the web interface) or call
    /// [`Prober::expire`] (each sweep starts fresh), so DNS changes are seen.
    pub cache_max_age: Option<Duration>,
    /// Queries in flight at once to one server address: a sweep over many domains on
    /// the same DNS host must not flood it (and lose answers to its full buffers).
    pub per_server_in_flight: usize,
    /// DNSSEC validation of the MX and the MX targets' addresses; `None`: not done.
    pub dnssec: Option<crate::dnssec::DnssecConfig>,
}

impl ProbeConfig {
    /// Defaults with the given resolution.
    pub fn new(resolution: Resolution) -> Self {
        Self {
            resolution,
            allow_private: false,
            ipv6: true,
            transport: TransportConfig::default(),
            cache_capacity: 20_000,
            cache_max_age: None,
            per_server_in_flight: 128,
            dnssec: None,
        }
    }
}

/// Why the prober could not start or could not prepare a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The sockets could not be opened.
    #[error("cannot open DNS sockets: {0}")]
    Io(#[from] io::Error),
    /// No resolver in /etc/resolv.conf.
    #[error("no name server found in {0}; use --resolver ADDR or --root-hints FILE")]
    NoSystemResolver(String),
    /// The resolver address is not an address.
    #[error("invalid resolver address {0:?}: expected ADDR or ADDR:PORT")]
    BadResolver(String),
    /// The root hints file could not be used.
    #[error("invalid root hints {path}: {message}")]
    BadRootHints {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The provider's MX host has no address, so no MX target can be judged.
    #[error("cannot resolve the addresses of {host} for profile {profile}: {outcome}")]
    ProfileUnresolved {
        /// The profile.
        profile: String,
        /// Its MX host.
        host: String,
        /// What the lookup returned.
        outcome: String,
    },
}

/// The resolver (or every root server) did not answer `. NS`, even patiently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} does not answer (. NS: {reply})", match .recursive {
    true => format!("the resolver {}", .servers),
    false => format!("none of the root servers ({}) answers, so iterative resolution", .servers),
})]
pub struct ResolutionDown {
    /// Whether it is a recursive resolver (else the root servers of the root hints).
    pub recursive: bool,
    /// The resolver's address, or the root servers' addresses.
    pub servers: String,
    /// What the last query came back with.
    pub reply: String,
}

impl ResolutionDown {
    /// The problem for people.
    pub fn text(&self, lang: crate::Lang) -> String {
        let Self {
            recursive,
            servers,
            reply,
        } = self;
        match (lang, recursive) {
            (crate::Lang::It, true) => format!(
                "il resolver {servers} non risponde (. NS: {reply}): senza, nessun controllo è affidabile"
            ),
            (crate::Lang::It, false) => format!(
                "nessuno dei server radice ({servers}) risponde (. NS: {reply}): senza, nessun controllo è affidabile"
            ),
            (crate::Lang::En, _) => format!("{self}: no check can be trusted without it"),
        }
    }
}

/// Whether a lookup made for an observation (through the resolver, or iteratively) failed
/// to settle: the zone search failed, a name server's or an MX target's address lookup
/// brought no data. Such an observation may rest on a resolver that stopped: a sweep
/// asks the resolver before it records it.
pub fn resolution_failed(observation: &Observation) -> bool {
    let zone = match &observation.zone {
        Err(_) => return true,
        Ok(zone) => zone,
    };
    let unsettled = |reply: &Reply| !reply.outcome.is_authoritative_data();
    unsettled_lookups(&zone.unresolved_ns)
        || zone
            .targets
            .iter()
            .filter_map(|t| t.a.as_ref())
            .any(unsettled)
}

/// Parses `ADDR` or `ADDR:PORT` (`[v6]:PORT` for IPv6); the port defaults to 53.
pub fn parse_resolver(text: &str) -> Result<SocketAddr, ProbeError> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(address, 53));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| ProbeError::BadResolver(text.to_string()))
}

/// The first `nameserver` of a resolv.conf file.
pub fn system_resolver(path: &Path) -> Result<SocketAddr, ProbeError> {
    let missing = || ProbeError::NoSystemResolver(path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|_| missing())?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|address| SocketAddr::new(address, 53))
        .next()
        .ok_or_else(missing)
}

/// Reads root hints in zone-file format (`. NS a.root.` and `a.root. A 192.0.2.1`): the
/// addresses of the root servers. Only A and AAAA lines are used.
pub fn read_root_hints(path: &Path) -> Result<Vec<IpAddr>, ProbeError> {
    let bad = |message: String| ProbeError::BadRootHints {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut addresses = Vec::new();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(position) = fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case("A") || f.eq_ignore_ascii_case("AAAA"))
        else {
            continue;
        };
        let value = fields
            .get(position + 1)
            .ok_or_else(|| bad(format!("no address in line {line:?}")))?;
        let address = value
            .parse::<IpAddr>()
            .map_err(|_| bad(format!("{value:?} is not an address")))?;
        addresses.push(address);
    }
    if addresses.is_empty() {
        return Err(bad("no A or AAAA records".into()));
    }
    Ok(addresses)
}

pub use crate::address::is_public;

/// A zone's name servers and their addresses.
#[derive(Clone, Debug, Default)]
struct ServerSet {
    /// The NS set, if it was learned.
    ns: Option<Vec<Name>>,
    /// Every (name, address) pair.
    addresses: Vec<(Name, IpAddr)>,
    /// Names without any address.
    unresolved: Vec<(Name, Vec<Lookup>)>,
}

impl ServerSet {
    /// Whether the set rests on lookups that did not settle (no name server learned, or
    /// a server's address lookup that failed): it is used, but not kept for the run, so
    /// that a stalled resolver does not leave a zone without servers for the whole run.
    fn unsettled(&self) -> bool {
        self.addresses.is_empty() && self.unresolved.is_empty()
            || unsettled_lookups(&self.unresolved)
    }
}

/// Whether any name server was left without an address by a lookup that did not settle.
fn unsettled_lookups(unresolved: &[(Name, Vec<Lookup>)]) -> bool {
    unresolved.iter().any(|(_, lookups)| {
        lookups.is_empty()
            || lookups
                .iter()
                .any(|l| !l.reply.outcome.is_authoritative_data())
    })
}

/// What is known about a zone, shared by every name in it.
#[derive(Clone, Debug)]
struct ZoneInfo {
    apex: Name,
    zone_ns: Option<Vec<Name>>,
    parent_ns: Option<Vec<Name>>,
    parent_apex: Option<Name>,
    servers: Vec<(Name, IpAddr, bool, Reply)>,
    unresolved: Vec<(Name, Vec<Lookup>)>,
}

/// A delegation learned from a referral: the child's apex, NS names and glue.
#[derive(Clone, Debug)]
struct Referral {
    /// The zone that gave the referral.
    parent: Name,
    /// The delegated zone.
    apex: Name,
    /// The delegation's NS set (empty when the parent's servers also serve the child).
    ns: Vec<Name>,
    /// Glue addresses.
    glue: Vec<(Name, IpAddr)>,
    /// Addresses already known to serve the child (the parent's, when they serve both).
    servers: Vec<IpAddr>,
}

impl Referral {
    fn from_reply(reply: &Reply, within: &Name, toward: &Name) -> Option<Self> {
        let mut ns = Vec::new();
        let mut apex = None;
        for rr in &reply.authority {
            if let Data::Ns { host } = &rr.data {
                // A referral must move down, toward the name, inside the asked zone.
                if rr.name != *within && within.zone_of(&rr.name) && rr.name.zone_of(toward) {
                    apex.get_or_insert_with(|| rr.name.clone());
                    if apex.as_ref() == Some(&rr.name) && !ns.contains(host) {
                        ns.push(host.clone());
                    }
                }
            }
        }
        let apex = apex?;
        // Glue is trusted only inside the zone that gave it (no out-of-bailiwick data).
        let glue = glue(reply)
            .into_iter()
            .filter(|(name, _)| ns.contains(name) && within.zone_of(name))
            .collect();
        Some(Self {
            parent: within.clone(),
            apex,
            ns,
            glue,
            servers: Vec::new(),
        })
    }
}

/// The NS names of `apex` in the answer section of a reply.
fn ns_names(reply: &Reply, apex: &Name) -> Vec<Name> {
    if reply.outcome != Outcome::Answer {
        return Vec::new();
    }
    let names: BTreeSet<Name> = reply
        .chase(apex, RecordType::NS)
        .1
        .into_iter()
        .filter_map(|rr| match &rr.data {
            Data::Ns { host } => Some(host.clone()),
            _ => None,
        })
        .collect();
    names.into_iter().collect()
}

/// The addresses in the additional section of a reply.
fn glue(reply: &Reply) -> Vec<(Name, IpAddr)> {
    reply
        .additional
        .iter()
        .filter_map(|rr| match rr.data {
            Data::A { address } => Some((rr.name.clone(), IpAddr::V4(address))),
            Data::Aaaa { address } => Some((rr.name.clone(), IpAddr::V6(address))),
            _ => None,
        })
        .collect()
}

/// What the prober keeps about one server address.
struct ServerState {
    /// Queries in flight to it.
    in_flight: Semaphore,
    /// Patient queries it left unanswered in a row, with no answer in between.
    patient_failures: AtomicU32,
}

/// The prober. Cheap to share: wrap it in an `Arc` and call [`Prober::observe`] from many
/// tasks at once.
pub struct Prober {
    transport: Transport,
    config: ProbeConfig,
    lookups: Cache<(Name, RecordType), Reply>,
    server_sets: Cache<Name, Arc<ServerSet>>,
    zones: Cache<Name, Arc<ZoneInfo>>,
    delegations: Cache<Name, Arc<Vec<IpAddr>>>,
    steps: Cache<(Name, Name), Reply>,
    per_server: Mutex<HashMap<IpAddr, Arc<ServerState>>>,
    /// Checks whose failures were asked again at the patient pace.
    rechecks: AtomicU64,
    /// The DNSSEC validator and its cache, when validation is on.
    dnssec: Option<crate::dnssec::Chain>,
    /// When the caches were last emptied.
    cached_since: Mutex<Instant>,
}

impl Prober {
    /// A prober with its own transport. Must be called inside a tokio runtime.
    pub fn new(config: ProbeConfig) -> Result<Self, ProbeError> {
        let transport = Transport::new(config.transport.clone())?;
        let capacity = config.cache_capacity.max(16);
        Ok(Self {
            transport,
            lookups: Cache::new(capacity),
            server_sets: Cache::new(capacity),
            zones: Cache::new(capacity),
            delegations: Cache::new(capacity),
            steps: Cache::new(capacity),
            per_server: Mutex::new(HashMap::new()),
            rechecks: AtomicU64::new(0),
            cached_since: Mutex::new(Instant::now()),
            dnssec: config
                .dnssec
                .clone()
                .map(|dnssec| crate::dnssec::Chain::new(dnssec, capacity)),
            config,
        })
    }

    /// The transport, for its counters.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The resolver address, or `None` for iterative resolution.
    pub fn resolver(&self) -> Option<SocketAddr> {
        match &self.config.resolution {
            Resolution::Recursive(address) => Some(*address),
            Resolution::Iterative(_) => None,
        }
    }

    /// Fills in the addresses of a profile that does not list them, from its MX host.
    pub async fn resolve_profile(&self, profile: &Profile) -> Result<Profile, ProbeError> {
        if !profile.mail_addresses.is_empty() {
            return Ok(profile.clone());
        }
        let host = profile.mx_host.to_dns();
        let lookups = || async {
            futures::join!(
                self.lookup(&host, RecordType::A),
                self.lookup(&host, RecordType::AAAA)
            )
        };
        let (mut a, mut aaaa) = lookups().await;
        let found = |a: &Reply, aaaa: &Reply| {
            !addresses_of(a, &host).is_empty() || !addresses_of(aaaa, &host).is_empty()
        };
        if !found(&a, &aaaa) && self.config.transport.patient.attempts > 0 {
            // Every verdict rests on these addresses: asked again patiently.
            (a, aaaa) = PACE.scope(Pace::Patient, lookups()).await;
        }
        let mut resolved = profile.clone();
        resolved.mail_addresses = addresses_of(&a, &host)
            .into_iter()
            .chain(addresses_of(&aaaa, &host))
            .map(ipnet::IpNet::from)
            .collect();
        if resolved.mail_addresses.is_empty() {
            return Err(ProbeError::ProfileUnresolved {
                profile: profile.name.clone(),
                host: profile.mx_host.to_string(),
                outcome: a.summary(),
            });
        }
        Ok(resolved)
    }

    /// Forgets every cached answer (lookups, zones, server sets, delegations) if the
    /// caches are older than `max_age` (`Duration::ZERO`: now). Lookups in flight finish
    /// with what they have.
    pub fn expire(&self, max_age: Duration) {
        let Ok(mut since) = self.cached_since.lock() else {
            return;
        };
        if since.elapsed() < max_age {
            return;
        }
        self.lookups.clear();
        self.server_sets.clear();
        self.zones.clear();
        self.delegations.clear();
        self.steps.clear();
        for state in self
            .per_server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            state.patient_failures.store(0, Relaxed);
        }
        if let Some(chain) = &self.dnssec {
            chain.clear();
        }
        *since = Instant::now();
    }

    /// Observes one certified name: every query at the quick pace; then, when something
    /// that a verdict rests on failed ([`needs_recheck`]), what failed is asked again at
    /// the patient pace (`Prober::recheck`) and the observation holds those answers.
    pub async fn observe(&self, domain: &DomainName) -> Observation {
        if let Some(max_age) = self.config.cache_max_age {
            self.expire(max_age);
        }
        // The name in DNS form, parsed once for the whole check.
        let qname = domain.to_dns();
        let observation = self.observe_at_pace(domain, &qname).await;
        if self.config.transport.patient.attempts == 0 || !recheck_needed(&observation, &qname) {
            return observation;
        }
        self.rechecks.fetch_add(1, Relaxed);
        // Rare: boxed, so that the future of every check stays small.
        Box::pin(PACE.scope(Pace::Patient, self.recheck(observation))).await
    }

    /// Whether the resolver (or, resolving iteratively, one of the root servers) answers
    /// now: `. NS`, asked at the quick pace and, if that fails, at the patient one,
    /// bypassing the run caches. Sweeps ask it before they start and while they run.
    pub async fn resolution_answers(&self) -> Result<(), ResolutionDown> {
        let root = Name::root();
        let (servers, recursive): (Vec<SocketAddr>, bool) = match &self.config.resolution {
            Resolution::Recursive(resolver) => (vec![*resolver], true),
            Resolution::Iterative(roots) => (
                roots
                    .iter()
                    .filter(|a| self.config.ipv6 || a.is_ipv4())
                    .map(|a| SocketAddr::new(*a, 53))
                    .collect(),
                false,
            ),
        };
        let mut last = Reply::failed(Outcome::NotQueried, Some("no usable server".into()));
        for pace in [Pace::Quick, Pace::Patient] {
            for server in &servers {
                let reply = self
                    .transport
                    .query_at(pace, *server, &root, RecordType::NS, recursive)
                    .await;
                // Any answer of its own counts (a test resolver may not know the root's
                // NS); silence, SERVFAIL or REFUSED do not.
                if matches!(
                    reply.outcome,
                    Outcome::Answer | Outcome::NoData | Outcome::NxDomain
                ) {
                    return Ok(());
                }
                last = reply;
            }
        }
        Err(ResolutionDown {
            recursive,
            servers: servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            reply: last.summary(),
        })
    }

    /// How many checks asked again, at the patient pace, what failed.
    pub fn rechecks(&self) -> u64 {
        self.rechecks.load(Relaxed)
    }

    /// One observation of `domain` (`qname` in DNS form) at the task's pace.
    async fn observe_at_pace(&self, domain: &DomainName, qname: &Name) -> Observation {
        let zone = match self.find_zone(qname).await {
            Ok(zone) => Ok(self.observe_zone(qname, &zone).await),
            Err(failure) => Err(failure),
        };
        let dnssec = match (&self.dnssec, &zone) {
            (Some(chain), Ok(zone)) => Box::pin(self.observe_dnssec(chain, qname, zone)).await,
            _ => None,
        };
        Observation {
            domain: domain.clone(),
            resolver: self.resolver(),
            zone,
            dnssec,
        }
    }

    /// Asks again (at the task's pace: patient) what failed in an observation: the zone
    /// search, when it failed or stopped short (a referral down toward the name); else
    /// every server that did not answer with authority, the name servers left without an
    /// address, and the MX targets whose address lookup failed (or that only the servers
    /// asked again named). What answered stays as it was.
    async fn recheck(&self, mut observation: Observation) -> Observation {
        let qname = observation.domain.to_dns();
        let zone = match &mut observation.zone {
            Ok(zone) if !search_cut_short(zone, &qname) => zone,
            _ => return self.observe_at_pace(&observation.domain, &qname).await,
        };
        let apex = zone.apex.clone();
        join_all(
            zone.servers
                .iter_mut()
                .filter(|s| s.mx.outcome != Outcome::NotQueried)
                .filter(|s| !s.mx.outcome.is_authoritative_data())
                .map(|server| {
                    let (apex, qname) = (&apex, &qname);
                    async move {
                        let (soa, mx) = futures::join!(
                            async {
                                match server.soa.outcome.is_authoritative_data() {
                                    true => None,
                                    false => {
                                        Some(self.ask(server.address, apex, RecordType::SOA).await)
                                    }
                                }
                            },
                            self.ask(server.address, qname, RecordType::MX)
                        );
                        if let Some(soa) = soa {
                            server.soa = soa;
                        }
                        server.mx = mx;
                    }
                }),
        )
        .await;
        let unresolved = std::mem::take(&mut zone.unresolved_ns);
        for (host, lookups) in unresolved {
            if !unsettled_lookups(std::slice::from_ref(&(host.clone(), lookups.clone()))) {
                zone.unresolved_ns.push((host, lookups));
                continue;
            }
            let (mut found, failed) = self.addresses(&host).await;
            found.retain(|a| self.config.ipv6 || a.is_ipv4());
            if found.is_empty() {
                zone.unresolved_ns.push((host, failed));
                continue;
            }
            for address in found {
                let (soa, mx) = if self.usable(address) {
                    futures::join!(
                        self.ask(address, &apex, RecordType::SOA),
                        self.ask(address, &qname, RecordType::MX)
                    )
                } else {
                    let not = || Reply::failed(Outcome::NotQueried, None);
                    (not(), not())
                };
                zone.servers.push(ServerObservation {
                    name: host.clone(),
                    address,
                    public: is_public(address),
                    soa,
                    mx,
                });
            }
        }
        let exchanges = mx_exchanges(&zone.servers, &qname);
        let known = std::mem::take(&mut zone.targets);
        zone.targets = join_all(exchanges.into_iter().map(|exchange| {
            let kept = known
                .iter()
                .find(|t| t.name == exchange)
                .filter(|t| {
                    t.a.as_ref()
                        .is_none_or(|a| a.outcome.is_authoritative_data())
                })
                .cloned();
            async move {
                match kept {
                    Some(target) => target,
                    None => self.target(exchange).await,
                }
            }
        }))
        .await;
        observation
    }

    /// Validates the name's MX and its targets' addresses (the targets that are host
    /// names); `None` when the trust anchor does not match the root (nothing is judged).
    async fn observe_dnssec(
        &self,
        chain: &crate::dnssec::Chain,
        qname: &Name,
        zone: &ZoneObservation,
    ) -> Option<crate::dnssec::DnssecObservation> {
        let targets: Vec<Name> = zone
            .targets
            .iter()
            .filter(|target| target.a.is_some())
            .map(|target| target.name.clone())
            .collect();
        let now = jiff::Timestamp::now().as_second();
        chain
            .observe(self, qname, Some(&zone.apex), &targets, now)
            .await
    }

    /// Asks every server of the zone for the name's MX, then resolves the MX targets.
    async fn observe_zone(&self, qname: &Name, zone: &ZoneInfo) -> ZoneObservation {
        let servers = join_all(zone.servers.iter().map(|(name, address, public, soa)| {
            let queried = self.usable(*address);
            async move {
                let mx = if queried {
                    self.ask(*address, qname, RecordType::MX).await
                } else {
                    Reply::failed(Outcome::NotQueried, None)
                };
                ServerObservation {
                    name: name.clone(),
                    address: *address,
                    public: *public,
                    soa: soa.clone(),
                    mx,
                }
            }
        }))
        .await;
        let exchanges = mx_exchanges(&servers, qname);
        let targets = join_all(exchanges.into_iter().map(|e| self.target(e))).await;
        ZoneObservation {
            apex: zone.apex.clone(),
            zone_ns: zone.zone_ns.clone(),
            parent_ns: zone.parent_ns.clone(),
            parent_apex: zone.parent_apex.clone(),
            servers,
            unresolved_ns: zone.unresolved.clone(),
            targets,
        }
    }

    /// The address lookups of one MX target (none for an IP literal written as a name).
    async fn target(&self, exchange: Name) -> TargetObservation {
        if is_ip_literal_name(&exchange) {
            return TargetObservation {
                name: exchange,
                a: None,
                aaaa: None,
            };
        }
        let (a, aaaa) = futures::join!(
            self.lookup(&exchange, RecordType::A),
            self.lookup(&exchange, RecordType::AAAA)
        );
        TargetObservation {
            name: exchange,
            a: Some(a),
            aaaa: Some(aaaa),
        }
    }

    /// Finds the closest enclosing zone of `qname` and what is known about it.
    ///
    /// Fast path: start from the closest ancestor zone whose servers are already known and
    /// walk down with direct queries (`<name> SOA`, recursion off), following referrals.
    /// Slow path, for the first names of a run or when the fast path meets failing
    /// servers: ask the resolver for `<name> SOA`; if that fails too, find the closest
    /// ancestor that works and walk down from there.
    async fn find_zone(&self, qname: &Name) -> Result<Arc<ZoneInfo>, ZoneFailure> {
        if let Some(start) = self.closest_known_zone(qname)
            && let Some(zone) = self.descend(start, qname).await
        {
            return Ok(zone);
        }
        // Rare: boxed, so that the future of every check stays small.
        Box::pin(self.find_zone_from_resolver(qname)).await
    }

    /// The slow path of [`Prober::find_zone`]: from the resolver's answers.
    async fn find_zone_from_resolver(&self, qname: &Name) -> Result<Arc<ZoneInfo>, ZoneFailure> {
        let first = self.lookup_uncached(qname, RecordType::SOA).await;
        if let Some(apex) = soa_owner(&first, qname) {
            return Ok(self.zone_info(&apex, None).await);
        }
        let mut lookups = vec![lookup_record(qname, RecordType::SOA, first)];
        let mut ancestor = qname.base_name();
        loop {
            let reply = self.lookup(&ancestor, RecordType::SOA).await;
            if let Some(zone) = soa_owner(&reply, &ancestor)
                && let Some(info) = self.descend(zone.clone(), qname).await
            {
                return Ok(info);
            }
            lookups.push(lookup_record(&ancestor, RecordType::SOA, reply));
            if ancestor.is_root() {
                return Err(ZoneFailure { lookups });
            }
            ancestor = ancestor.base_name();
        }
    }

    /// The closest ancestor of `qname` (or itself) whose servers are known and usable.
    fn closest_known_zone(&self, qname: &Name) -> Option<Name> {
        let mut candidate = qname.clone();
        loop {
            if let Some(set) = self.server_sets.get(&candidate)
                && set.addresses.iter().any(|(_, a)| self.usable(*a))
            {
                return Some(candidate);
            }
            if candidate.is_root() {
                return None;
            }
            candidate = candidate.base_name();
        }
    }

    /// From a zone whose servers work, walks down toward `qname` and returns the zone that
    /// holds it. Each step asks one label more than the current zone (`<label>.<zone> SOA`,
    /// query-name minimisation as in RFC 9156), so the steps above the name itself are
    /// shared by every name below them and cached; the last step asks `<qname> SOA`.
    /// Returns `None` when the starting zone's servers fail (the caller falls back to the
    /// resolver). A delegated zone whose servers fail is returned: it is the broken zone
    /// whose servers must be observed.
    async fn descend(&self, mut zone: Name, qname: &Name) -> Option<Arc<ZoneInfo>> {
        let mut via: Option<Referral> = None;
        let mut asked = child_toward(&zone, qname);
        for _ in 0..MAX_REFERRALS * 2 {
            let set = self.server_set(&zone, via.as_ref()).await;
            let addresses: Vec<IpAddr> = set.addresses.iter().map(|(_, a)| *a).collect();
            let reply = if asked == *qname {
                self.ask_any(&addresses, qname, RecordType::SOA).await
            } else {
                self.step(&zone, &addresses, &asked).await
            };
            match reply.outcome {
                Outcome::Referral => {
                    let referral = Referral::from_reply(&reply, &zone, qname)?;
                    zone = referral.apex.clone();
                    asked = child_toward(&zone, qname);
                    via = Some(referral);
                }
                outcome if outcome.is_authoritative_data() => {
                    let owner = soa_owner(&reply, &asked)?;
                    if owner == zone {
                        if asked == *qname || outcome == Outcome::NxDomain {
                            return Some(self.zone_info(&zone, via).await);
                        }
                        // An empty non-terminal or a node of this zone: one label deeper.
                        asked = child_toward(&asked, qname);
                        continue;
                    }
                    // The same servers also serve a deeper zone on the way to the name.
                    if !zone.zone_of(&owner) || !owner.zone_of(qname) {
                        return None;
                    }
                    via = Some(Referral {
                        parent: zone.clone(),
                        apex: owner.clone(),
                        ns: Vec::new(),
                        glue: Vec::new(),
                        servers: addresses,
                    });
                    zone = owner;
                    asked = child_toward(&zone, qname);
                }
                _ if via.is_some() => return Some(self.zone_info(&zone, via).await),
                _ => return None,
            }
        }
        None
    }

    /// One minimised step of [`Prober::descend`], shared by every name below `asked` and
    /// cached for the run unless it failed transiently.
    async fn step(&self, zone: &Name, addresses: &[IpAddr], asked: &Name) -> Reply {
        cached_reply(&self.steps, (zone.clone(), asked.clone()), || {
            self.ask_any(addresses, asked, RecordType::SOA)
        })
        .await
    }

    /// The zone's servers, NS sets, parent delegation and SOA answers (cached).
    ///
    /// `via` is the referral (or the parent's servers) that led here, if any: it gives the
    /// parent's NS set and the addresses to ask for the zone's own NS set.
    async fn zone_info(&self, apex: &Name, via: Option<Referral>) -> Arc<ZoneInfo> {
        if let Some(info) = self.zones.get(apex) {
            return info;
        }
        // Built once per zone: boxed, so that the future of every check stays small.
        let build = Box::pin(async {
            let own = self.server_set(apex, via.as_ref()).await;
            let (parent_apex, delegation) = match via {
                Some(referral) if !referral.ns.is_empty() => {
                    (Some(referral.parent.clone()), Some(referral))
                }
                _ if apex.is_root() => (None, None),
                _ => {
                    let parent = apex.base_name();
                    let parent_apex =
                        soa_owner(&self.lookup(&parent, RecordType::SOA).await, &parent);
                    let delegation = match &parent_apex {
                        Some(parent) => self.parent_delegation(parent, apex).await,
                        None => None,
                    };
                    (parent_apex, delegation)
                }
            };
            let parent_ns = delegation.as_ref().map(|r| r.ns.clone());
            // Every address of the union of both NS sets.
            let mut addresses = own.addresses.clone();
            let mut unresolved = own.unresolved.clone();
            if let Some(referral) = &delegation {
                let known: Vec<&Name> = addresses.iter().map(|(n, _)| n).collect();
                let missing: Vec<Name> = referral
                    .ns
                    .iter()
                    .filter(|h| !known.contains(h) && !unresolved.iter().any(|(n, _)| n == *h))
                    .cloned()
                    .collect();
                for host in missing {
                    let (found, failed) = self.host_addresses(&host, &referral.glue).await;
                    if found.is_empty() {
                        unresolved.push((host.clone(), failed));
                    }
                    addresses.extend(found.into_iter().map(|a| (host.clone(), a)));
                }
            }
            addresses.retain(|(_, a)| self.config.ipv6 || a.is_ipv4());
            // One row per server address, whichever sources named it.
            let mut seen = std::collections::HashSet::new();
            addresses.retain(|pair| seen.insert(pair.clone()));
            let servers = join_all(addresses.into_iter().map(|(name, address)| async move {
                let public = is_public(address);
                let soa = if self.usable(address) {
                    self.ask(address, apex, RecordType::SOA).await
                } else {
                    Reply::failed(Outcome::NotQueried, None)
                };
                (name, address, public, soa)
            }))
            .await;
            let unsettled = own.unsettled() || unsettled_lookups(&unresolved);
            let info = Arc::new(ZoneInfo {
                apex: apex.clone(),
                zone_ns: own.ns.clone(),
                parent_ns,
                parent_apex,
                servers,
                unresolved,
            });
            // Like the server sets: what rests on unsettled lookups is not kept.
            if unsettled { Err(info) } else { Ok(info) }
        });
        self.zones
            .get_or_insert_async(apex, build)
            .await
            .unwrap_or_else(|info| info)
    }

    /// Asks the parent zone's servers for the child's NS set (a referral, or an answer
    /// when the same servers also serve the child).
    async fn parent_delegation(&self, parent: &Name, child: &Name) -> Option<Referral> {
        let servers = self.server_set(parent, None).await;
        let addresses: Vec<IpAddr> = servers.addresses.iter().map(|(_, a)| *a).collect();
        let reply = self.ask_any(&addresses, child, RecordType::NS).await;
        if reply.outcome == Outcome::Answer {
            return Some(Referral {
                parent: parent.clone(),
                apex: child.clone(),
                ns: ns_names(&reply, child),
                glue: glue(&reply),
                servers: addresses,
            });
        }
        Referral::from_reply(&reply, parent, child).filter(|r| r.apex == *child)
    }

    /// A zone's own NS set and the addresses of its servers (cached).
    ///
    /// With a referral, the NS set is asked directly of the delegated servers (their own,
    /// authoritative view); without one, through the resolver. If the zone's servers do
    /// not give their NS set, the referral's set stands in for the addresses.
    async fn server_set(&self, apex: &Name, via: Option<&Referral>) -> Arc<ServerSet> {
        if let Some(set) = self.server_sets.get(apex) {
            return set;
        }
        // Built once per zone: boxed, like the zone information.
        let build = Box::pin(async {
            let reply = match via {
                Some(referral) => {
                    let mut hint = referral.servers.clone();
                    for host in &referral.ns {
                        hint.extend(self.host_addresses(host, &referral.glue).await.0);
                    }
                    self.ask_any(&hint, apex, RecordType::NS).await
                }
                None => self.lookup(apex, RecordType::NS).await,
            };
            let own = ns_names(&reply, apex);
            let (names, glue_records) = match via {
                Some(referral) if own.is_empty() => (referral.ns.clone(), referral.glue.clone()),
                Some(referral) => {
                    let mut glue_records = glue(&reply);
                    glue_records.extend(referral.glue.iter().cloned());
                    (own.clone(), glue_records)
                }
                None => (own.clone(), Vec::new()),
            };
            let resolved = join_all(
                names
                    .iter()
                    .map(|host| self.host_addresses(host, &glue_records)),
            )
            .await;
            let mut set = ServerSet {
                ns: (!own.is_empty()).then_some(own),
                ..ServerSet::default()
            };
            for (host, (found, failed)) in names.iter().zip(resolved) {
                if found.is_empty() {
                    set.unresolved.push((host.clone(), failed));
                }
                set.addresses
                    .extend(found.into_iter().map(|a| (host.clone(), a)));
            }
            let set = Arc::new(set);
            if set.unsettled() { Err(set) } else { Ok(set) }
        });
        // An unsettled set is used by this caller and built again by the next.
        self.server_sets
            .get_or_insert_async(apex, build)
            .await
            .unwrap_or_else(|set| set)
    }

    /// The addresses of a name server: from glue when the referral carried it, else
    /// looked up.
    async fn host_addresses(
        &self,
        host: &Name,
        glue: &[(Name, IpAddr)],
    ) -> (Vec<IpAddr>, Vec<Lookup>) {
        let glued = glue_addresses(host, glue);
        if glued.is_empty() {
            self.addresses(host).await
        } else {
            (glued, Vec::new())
        }
    }

    /// Whether an address may be queried under this configuration.
    fn usable(&self, address: IpAddr) -> bool {
        (self.config.ipv6 || address.is_ipv4()) && (is_public(address) || self.config.allow_private)
    }

    /// The A (and AAAA) addresses of a host, and the failed lookups when there are none.
    async fn addresses(&self, host: &Name) -> (Vec<IpAddr>, Vec<Lookup>) {
        let a = self.lookup(host, RecordType::A).await;
        let mut found = addresses_of(&a, host);
        let mut failed = Vec::new();
        if self.config.ipv6 {
            let aaaa = self.lookup(host, RecordType::AAAA).await;
            found.extend(addresses_of(&aaaa, host));
            if found.is_empty() {
                failed.push(lookup_record(host, RecordType::AAAA, aaaa));
            }
        }
        if found.is_empty() {
            failed.insert(0, lookup_record(host, RecordType::A, a));
        }
        (found, failed)
    }

    /// Asks one authoritative server directly, recursion off.
    async fn ask(&self, address: IpAddr, qname: &Name, qtype: RecordType) -> Reply {
        self.query(SocketAddr::new(address, 53), qname, qtype, false)
            .await
    }

    /// One query, within the per-server limit of queries in flight, at the task's pace. At
    /// the patient pace a server that left [`PATIENT_GIVE_UP`] patient queries in a row
    /// unanswered is not asked (the reply says so, as a timeout).
    async fn query(
        &self,
        server: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        recursion: bool,
    ) -> Reply {
        let state = {
            let mut states = self.per_server.lock().unwrap_or_else(|e| e.into_inner());
            states
                .entry(server.ip())
                .or_insert_with(|| {
                    Arc::new(ServerState {
                        in_flight: Semaphore::new(self.config.per_server_in_flight.max(1)),
                        patient_failures: AtomicU32::new(0),
                    })
                })
                .clone()
        };
        let pace = current_pace();
        let given_up = || {
            let failures = state.patient_failures.load(Relaxed);
            (pace == Pace::Patient && failures >= PATIENT_GIVE_UP).then(|| {
                Reply::failed(
                    Outcome::Timeout,
                    format!(
                        "{server} left {failures} patient queries in a row unanswered: \
                         not asked patiently again in this run"
                    ),
                )
            })
        };
        if let Some(reply) = given_up() {
            return reply;
        }
        // The semaphore is never closed, so acquiring only fails if it were.
        let _permit = state.in_flight.acquire().await.ok();
        // It may have been given up while this query waited.
        if let Some(reply) = given_up() {
            return reply;
        }
        let reply = self
            .transport
            .query_at(pace, server, qname, qtype, recursion)
            .await;
        if !reply.outcome.is_transient() {
            if state.patient_failures.load(Relaxed) > 0 {
                state.patient_failures.store(0, Relaxed);
            }
        } else if pace == Pace::Patient {
            state.patient_failures.fetch_add(1, Relaxed);
        }
        reply
    }

    /// Asks the servers one after the other until one gives data or a referral. When
    /// none does, the failure returned is a transient one if any server's was (one that
    /// did not answer in time may work: the failure is not settled, and not cached).
    async fn ask_any(&self, addresses: &[IpAddr], qname: &Name, qtype: RecordType) -> Reply {
        let mut last = Reply::failed(Outcome::NotQueried, Some("no usable server".into()));
        let mut transient = None;
        for address in addresses.iter().filter(|a| self.usable(**a)) {
            let reply = self.ask(*address, qname, qtype).await;
            if reply.outcome.is_authoritative_data() || reply.outcome == Outcome::Referral {
                return reply;
            }
            if reply.outcome.is_transient() && transient.is_none() {
                transient = Some(reply);
            } else {
                last = reply;
            }
        }
        transient.unwrap_or(last)
    }

    /// A lookup through the resolver or iteratively, cached for the run unless it failed
    /// transiently.
    async fn lookup(&self, name: &Name, rtype: RecordType) -> Reply {
        let key = (name.to_lowercase(), rtype);
        cached_reply(&self.lookups, key, || self.lookup_uncached(name, rtype)).await
    }

    async fn lookup_uncached(&self, name: &Name, rtype: RecordType) -> Reply {
        match &self.config.resolution {
            Resolution::Recursive(resolver) => self.query(*resolver, name, rtype, true).await,
            Resolution::Iterative(roots) => {
                Box::pin(self.iterate(roots.clone(), name, rtype, 0)).await
            }
        }
    }

    /// Resolves `name`/`rtype` from the root servers, following referrals and CNAMEs.
    async fn iterate(
        &self,
        roots: Vec<IpAddr>,
        name: &Name,
        rtype: RecordType,
        depth: usize,
    ) -> Reply {
        let mut qname = name.to_lowercase();
        let mut chain: Vec<crate::dns::Rr> = Vec::new();
        for _ in 0..MAX_CNAMES {
            let mut reply = self.iterate_once(&roots, &qname, rtype, depth).await;
            let (aliases, records) = reply.chase(&qname, rtype);
            let alias_only = records.is_empty() && reply.outcome == Outcome::NoData;
            match aliases.last().cloned() {
                Some(target) if alias_only => {
                    chain.append(&mut reply.answers);
                    qname = target;
                }
                _ => {
                    chain.append(&mut reply.answers);
                    reply.answers = chain;
                    return reply;
                }
            }
        }
        Reply::failed(Outcome::ServFail, Some("CNAME chain too long".into()))
    }

    /// One iterative resolution without CNAME following.
    async fn iterate_once(
        &self,
        roots: &[IpAddr],
        qname: &Name,
        rtype: RecordType,
        depth: usize,
    ) -> Reply {
        // Start from the closest zone whose servers are already known.
        let mut zone = Name::root();
        let mut servers: Arc<Vec<IpAddr>> = Arc::new(roots.to_vec());
        let mut ancestor = qname.clone();
        loop {
            if let Some(known) = self.delegations.get(&ancestor) {
                zone = ancestor.clone();
                servers = known;
                break;
            }
            if ancestor.is_root() {
                break;
            }
            ancestor = ancestor.base_name();
        }
        for _ in 0..MAX_REFERRALS {
            let reply = self.ask_any(&servers, qname, rtype).await;
            if reply.outcome != Outcome::Referral {
                return reply;
            }
            let Some(referral) = Referral::from_reply(&reply, &zone, qname) else {
                return Reply {
                    outcome: Outcome::ServFail,
                    detail: Some("referral that does not lead toward the name".into()),
                    ..reply
                };
            };
            let mut addresses: Vec<IpAddr> = referral.glue.iter().map(|(_, a)| *a).collect();
            if addresses.is_empty() && depth < MAX_DEPTH {
                for host in &referral.ns {
                    for t in [RecordType::A, RecordType::AAAA] {
                        let found =
                            Box::pin(self.iterate(roots.to_vec(), host, t, depth + 1)).await;
                        addresses.extend(addresses_of(&found, host));
                    }
                    if !addresses.is_empty() {
                        break;
                    }
                }
            }
            zone = referral.apex.clone();
            servers = Arc::new(addresses);
            // A delegation whose servers have no address yet (their lookups failed) is
            // not kept: the next lookup tries again.
            if !servers.is_empty() {
                self.delegations.insert(zone.clone(), servers.clone());
            }
        }
        Reply::failed(Outcome::ServFail, Some("too many referrals".into()))
    }
}

impl crate::dnssec::chain::Source for Prober {
    async fn servers(&self, zone: &Name) -> Vec<IpAddr> {
        let set = self.server_set(zone, None).await;
        let mut addresses: Vec<IpAddr> = Vec::new();
        for (_, address) in &set.addresses {
            if self.usable(*address) && !addresses.contains(address) {
                addresses.push(*address);
            }
        }
        addresses
    }

    async fn ask(
        &self,
        server: IpAddr,
        qname: &Name,
        qtype: RecordType,
    ) -> (Reply, Option<hickory_proto::op::Message>) {
        let server = SocketAddr::new(server, 53);
        let state = {
            let mut states = self.per_server.lock().unwrap_or_else(|e| e.into_inner());
            states
                .entry(server.ip())
                .or_insert_with(|| {
                    Arc::new(ServerState {
                        in_flight: Semaphore::new(self.config.per_server_in_flight.max(1)),
                        patient_failures: AtomicU32::new(0),
                    })
                })
                .clone()
        };
        // The semaphore is never closed, so acquiring only fails if it were.
        let _permit = state.in_flight.acquire().await.ok();
        self.transport
            .query_dnssec(server, qname, qtype, false)
            .await
    }
}

/// A reply cached for the run unless it failed transiently or was not asked; concurrent misses for the same
/// key wait for one query instead of repeating it. A hit neither builds nor moves the
/// query's future, and a miss runs it boxed: the futures of the prober are large, and this
/// keeps the future of every check (which embeds the caller's) small.
async fn cached_reply<K, F>(cache: &Cache<K, Reply>, key: K, query: impl FnOnce() -> F) -> Reply
where
    K: Eq + Hash + Clone,
    F: Future<Output = Reply>,
{
    if let Some(reply) = cache.get(&key) {
        return reply;
    }
    let build = async {
        let reply = query().await;
        // Not kept: what may go away (a timeout), and what no server was asked about
        // (their addresses were not found yet).
        if reply.outcome.is_transient() || reply.outcome == Outcome::NotQueried {
            Err(reply)
        } else {
            Ok(reply)
        }
    };
    Box::pin(cache.get_or_insert_async(&key, build))
        .await
        .unwrap_or_else(|reply| reply)
}

fn lookup_record(name: &Name, rtype: RecordType, reply: Reply) -> Lookup {
    Lookup {
        name: name.clone(),
        rtype,
        reply,
    }
}

/// The owner of the SOA record that answers (or negatively answers) a lookup of `qname`:
/// the apex of the closest enclosing zone. The owner must enclose the name.
fn soa_owner(reply: &Reply, qname: &Name) -> Option<Name> {
    if !reply.outcome.is_authoritative_data() {
        return None;
    }
    reply
        .answers
        .iter()
        .chain(&reply.authority)
        .find(|rr| matches!(rr.data, Data::Soa { .. }) && rr.name.zone_of(qname))
        .map(|rr| rr.name.clone())
}

/// The name one label below `zone` on the way to `qname` (`qname` itself when it is at
/// most one label below, or when `zone` does not enclose it).
fn child_toward(zone: &Name, qname: &Name) -> Name {
    let depth = usize::from(zone.num_labels()) + 1;
    if !zone.zone_of(qname) || depth >= usize::from(qname.num_labels()) {
        qname.clone()
    } else {
        qname.trim_to(depth)
    }
}

/// The addresses at the end of the CNAME chain of an A or AAAA reply.
fn addresses_of(reply: &Reply, host: &Name) -> Vec<IpAddr> {
    if reply.outcome != Outcome::Answer {
        return Vec::new();
    }
    let mut out = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        for rr in reply.chase(host, rtype).1 {
            match rr.data {
                Data::A { address } => out.push(IpAddr::V4(address)),
                Data::Aaaa { address } => out.push(IpAddr::V6(address)),
                _ => {}
            }
        }
    }
    out
}

/// The MX targets named by any server, without the null MX's root.
/// The MX targets to resolve: at most `check::MAX_MX_TARGETS` of them, so that a hostile
/// MX set cannot multiply the lookups.
fn mx_exchanges(servers: &[ServerObservation], qname: &Name) -> Vec<Name> {
    crate::check::targets_to_resolve(servers.iter().flat_map(|server| server.mx.mx_set(qname)))
}

/// Whether something a verdict rests on failed in an observation, so that it is asked
/// again at the patient pace: the zone search; a server asked that did not answer with
/// authority; a name server left without an address by a lookup that did not settle; an
/// MX target whose A lookup failed or was not made. (A failed SOA query alone, or a
/// failed AAAA lookup, changes no verdict.)
pub fn needs_recheck(observation: &Observation) -> bool {
    recheck_needed(observation, &observation.domain.to_dns())
}

/// [`needs_recheck`] with the checked name already in DNS form.
fn recheck_needed(observation: &Observation, qname: &Name) -> bool {
    let Ok(zone) = &observation.zone else {
        return true;
    };
    let servers = zone
        .servers
        .iter()
        .filter(|s| s.mx.outcome != Outcome::NotQueried)
        .any(|s| !s.mx.outcome.is_authoritative_data());
    let targets = mx_exchanges(&zone.servers, qname).iter().any(|exchange| {
        zone.targets
            .iter()
            .find(|t| t.name == *exchange)
            .is_none_or(|t| {
                t.a.as_ref()
                    .is_some_and(|a| !a.outcome.is_authoritative_data())
            })
    });
    servers || targets || unsettled_lookups(&zone.unresolved_ns)
}

/// Whether a server of the zone referred the name to servers below the zone: the name is
/// a zone of its own, which the search did not reach.
fn search_cut_short(zone: &ZoneObservation, qname: &Name) -> bool {
    zone.servers.iter().any(|server| {
        server.mx.outcome == Outcome::Referral
            && server.mx.authority.iter().any(|rr| {
                matches!(rr.data, Data::Ns { .. })
                    && rr.name != zone.apex
                    && zone.apex.zone_of(&rr.name)
                    && rr.name.zone_of(qname)
            })
    })
}

/// The display form of a name, for logs.
pub fn show(name: &Name) -> String {
    display_name(name)
}

/// The glue addresses of `host`, each once: the zone's own answer and the parent's
/// referral often carry the same glue, and one name server must not be listed (and
/// queried) twice at one address.
fn glue_addresses(host: &Name, glue: &[(Name, IpAddr)]) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = Vec::new();
    for (name, address) in glue {
        if name == host && !addresses.contains(address) {
            addresses.push(*address);
        }
    }
    addresses
}

pub use dns_config::DnsConfig;

/// `[dns]`: how checks query the DNS, checked here; the configuration only reads it from
/// the file and the environment.
mod dns_config {
    use std::path::PathBuf;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::{ProbeConfig, ProbeError, Resolution, parse_resolver, read_root_hints};
    use crate::dns::{Patience, TransportConfig};
    use crate::dnssec::{AnchorError, DnssecConfig, TrustAnchor};
    use crate::settings::Invalid;

    /// `[dns]`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct DnsConfig {
        /// Recursive resolver `ADDR` or `ADDR:PORT`; empty: the system's (first `nameserver` of
        /// `/etc/resolv.conf`). Default empty.
        pub resolver: String,
        /// Root hints file (zone-file format) to resolve iteratively instead of through a
        /// resolver; empty: none. Exclusive with `resolver`. Default empty.
        pub root_hints: PathBuf,
        /// Query name servers at loopback, private and link-local addresses. Default `false`.
        pub allow_private: bool,
        /// Query name servers over IPv6. Default `true`.
        pub ipv6: bool,
        /// How long one UDP attempt waits, in milliseconds. Default 800.
        pub timeout_ms: u64,
        /// UDP attempts per query. Default 3.
        pub attempts: u32,
        /// Domains checked at once. Default 512.
        pub concurrency: usize,
        /// When something a verdict rests on failed (a server that did not answer with
        /// authority, a lookup that failed), it is asked again patiently before the result
        /// counts: this many UDP attempts (0: not asked again). Default 5.
        pub patient_attempts: u32,
        /// How long one patient UDP attempt waits, in milliseconds. Default 2000.
        pub patient_timeout_ms: u64,
        /// After the patient UDP attempts all timed out, ask once more over TCP. Default
        /// `true`.
        pub patient_tcp: bool,
        /// DNSSEC trust anchor file: DS or DNSKEY records of `.` in zone-file format,
        /// replacing the built-in IANA root anchors (labs, private roots). Default empty.
        pub trust_anchor: PathBuf,
    }

    impl Default for DnsConfig {
        fn default() -> Self {
            Self {
                resolver: String::new(),
                root_hints: PathBuf::new(),
                allow_private: false,
                ipv6: true,
                timeout_ms: 800,
                attempts: 3,
                concurrency: 512,
                patient_attempts: 5,
                patient_timeout_ms: 2000,
                patient_tcp: true,
                trust_anchor: PathBuf::new(),
            }
        }
    }

    impl DnsConfig {
        /// Checks every key: the resolver's address, the root hints and the trust anchor (the
        /// files are read), the ranges.
        pub fn validate(&self) -> Result<(), Invalid> {
            if !self.resolver.is_empty() {
                parse_resolver(&self.resolver).map_err(|_| {
                    Invalid::new(
                        "resolver",
                        format!("{:?}", self.resolver),
                        "expected ADDR or ADDR:PORT (127.0.0.1, [2001:db8::53]:53), or empty \
                         for the system resolver",
                    )
                })?;
            }
            if !self.root_hints.as_os_str().is_empty() {
                let hints = format!("{:?}", self.root_hints.display().to_string());
                if !self.resolver.is_empty() {
                    return Err(Invalid::new(
                        "root_hints",
                        hints,
                        "set either [dns] resolver or [dns] root_hints, not both",
                    ));
                }
                read_root_hints(&self.root_hints).map_err(|error| match error {
                    ProbeError::BadRootHints { message, .. } => {
                        Invalid::new("root_hints", hints.clone(), message)
                    }
                    other => Invalid::new("root_hints", hints.clone(), other),
                })?;
            }
            if !self.trust_anchor.as_os_str().is_empty() {
                let anchor = format!("{:?}", self.trust_anchor.display().to_string());
                TrustAnchor::from_file(&self.trust_anchor).map_err(|error| match error {
                    AnchorError::Invalid { message, .. } => {
                        Invalid::new("trust_anchor", anchor.clone(), message)
                    }
                    other => Invalid::new("trust_anchor", anchor.clone(), other),
                })?;
            }
            let ranges: [(&'static str, u64, u64, u64); 5] = [
                ("timeout_ms", self.timeout_ms, 1, 60_000),
                ("attempts", u64::from(self.attempts), 1, 10),
                ("concurrency", self.concurrency as u64, 1, 100_000),
                ("patient_attempts", u64::from(self.patient_attempts), 0, 20),
                ("patient_timeout_ms", self.patient_timeout_ms, 1, 60_000),
            ];
            for (key, value, min, max) in ranges {
                if !(min..=max).contains(&value) {
                    return Err(Invalid::new(
                        key,
                        value.to_string(),
                        format!("must be between {min} and {max}"),
                    ));
                }
            }
            Ok(())
        }

        /// The prober's configuration with lookups sent where `resolution` says; a DNSSEC
        /// signature expiring within `dnssec_expiry_warning` is warned about.
        pub fn probe_config(
            &self,
            resolution: Resolution,
            dnssec_expiry_warning: jiff::SignedDuration,
        ) -> ProbeConfig {
            let mut config = ProbeConfig::new(resolution);
            config.allow_private = self.allow_private;
            config.ipv6 = self.ipv6;
            config.transport = TransportConfig {
                timeout: Duration::from_millis(self.timeout_ms.max(1)),
                attempts: self.attempts.max(1),
                patient: Patience {
                    timeout: Duration::from_millis(self.patient_timeout_ms.max(1)),
                    attempts: self.patient_attempts,
                    tcp: self.patient_tcp,
                },
                ..TransportConfig::default()
            };
            config.dnssec = Some(DnssecConfig {
                anchor: self.trust_anchor(),
                expiry_warning: dnssec_expiry_warning.as_secs(),
            });
            config
        }

        /// The DNSSEC trust anchor: `trust_anchor`, else the built-in IANA root anchors. The
        /// file was checked when the configuration was loaded; should it have become
        /// unreadable since, the built-in anchors are used (and the reason logged).
        pub fn trust_anchor(&self) -> TrustAnchor {
            if self.trust_anchor.as_os_str().is_empty() {
                return TrustAnchor::iana();
            }
            TrustAnchor::from_file(&self.trust_anchor).unwrap_or_else(|error| {
                tracing::error!(%error, "using the built-in DNSSEC trust anchor");
                TrustAnchor::iana()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glue_from_the_zone_and_the_referral_gives_each_address_once() {
        let host = super::Name::from_ascii("ns.single.it.").unwrap();
        let other = super::Name::from_ascii("ns2.single.it.").unwrap();
        let a: super::IpAddr = "192.0.2.53".parse().unwrap();
        let b: super::IpAddr = "2001:db8::53".parse().unwrap();
        // The zone's NS answer and the parent's referral both carry the glue.
        let glue = [
            (host.clone(), a),
            (host.clone(), b),
            (other.clone(), a),
            (host.clone(), a),
            (host.clone(), b),
        ];
        assert_eq!(super::glue_addresses(&host, &glue), [a, b]);
        assert_eq!(super::glue_addresses(&other, &glue), [a]);
    }

    use super::*;

    #[tokio::test]
    async fn caches_are_forgotten_when_older_than_their_max_age() {
        let resolver = "127.0.0.1:53".parse().unwrap();
        let config = ProbeConfig {
            cache_max_age: Some(Duration::from_secs(3600)),
            ..ProbeConfig::new(Resolution::Recursive(resolver))
        };
        let prober = Prober::new(config).unwrap();
        let key = (Name::from_ascii("pec.example.it.").unwrap(), RecordType::MX);
        let reply = Reply::failed(Outcome::Timeout, None);
        prober.lookups.insert(key.clone(), reply);
        // Younger than the max age: kept.
        prober.expire(Duration::from_secs(3600));
        assert!(prober.lookups.get(&key).is_some());
        // Older (any age is at least zero): forgotten, every cache.
        prober.expire(Duration::ZERO);
        assert!(prober.lookups.get(&key).is_none());
        assert_eq!(prober.zones.len() + prober.server_sets.len(), 0);
    }

    /// `pec.example.it`: two servers answering `MX 10 mx.pec.aruba.it.`, the target's A
    /// and AAAA looked up.
    fn observed() -> Observation {
        let name = |text: &str| Name::from_ascii(text).unwrap();
        let qname = name("pec.example.it.");
        let rr = |owner: Name, data| crate::dns::Rr {
            name: owner,
            ttl: 60,
            data,
        };
        let with = |outcome, answers| Reply {
            answers,
            ..Reply::failed(outcome, None)
        };
        let mx = with(
            Outcome::Answer,
            vec![rr(
                qname.clone(),
                Data::Mx {
                    preference: 10,
                    exchange: name("mx.pec.aruba.it."),
                },
            )],
        );
        let server = |host: &str, address: &str| ServerObservation {
            name: name(host),
            address: address.parse().unwrap(),
            public: true,
            soa: with(Outcome::Answer, Vec::new()),
            mx: mx.clone(),
        };
        let a = with(
            Outcome::Answer,
            vec![rr(
                name("mx.pec.aruba.it."),
                Data::A {
                    address: "62.149.128.4".parse().unwrap(),
                },
            )],
        );
        Observation {
            domain: DomainName::parse("pec.example.it").unwrap(),
            resolver: None,
            dnssec: None,
            zone: Ok(ZoneObservation {
                apex: name("example.it."),
                zone_ns: None,
                parent_ns: None,
                parent_apex: None,
                servers: vec![
                    server("ns1.example.it.", "192.0.2.1"),
                    server("ns2.example.it.", "192.0.2.2"),
                ],
                unresolved_ns: Vec::new(),
                targets: vec![TargetObservation {
                    name: name("mx.pec.aruba.it."),
                    a: Some(a),
                    aaaa: Some(with(Outcome::NoData, Vec::new())),
                }],
            }),
        }
    }

    fn zone(observation: &mut Observation) -> &mut ZoneObservation {
        observation.zone.as_mut().unwrap()
    }

    #[test]
    fn what_fails_that_a_verdict_rests_on_is_asked_again() {
        let timeout = || Reply::failed(Outcome::Timeout, None);
        assert!(!needs_recheck(&observed()), "nothing failed");
        // A failed SOA query or AAAA lookup changes no verdict.
        let mut o = observed();
        zone(&mut o).servers[0].soa = timeout();
        zone(&mut o).targets[0].aaaa = Some(timeout());
        assert!(!needs_recheck(&o));
        // A server's MX, whatever the failure.
        for outcome in [Outcome::Timeout, Outcome::Refused, Outcome::ServFail] {
            let mut o = observed();
            zone(&mut o).servers[1].mx = Reply::failed(outcome, None);
            assert!(needs_recheck(&o), "{outcome}");
        }
        // A server not asked (a private address) is not asked again.
        let mut o = observed();
        zone(&mut o).servers[1].mx = Reply::failed(Outcome::NotQueried, None);
        assert!(!needs_recheck(&o));
        // The target's A lookup, failed or not made.
        let mut o = observed();
        zone(&mut o).targets[0].a = Some(Reply::failed(Outcome::ServFail, None));
        assert!(needs_recheck(&o));
        zone(&mut o).targets.clear();
        assert!(needs_recheck(&o));
        // A name server without address by a lookup that did not settle; not when it did.
        let mut o = observed();
        let ns3 = Name::from_ascii("ns3.example.it.").unwrap();
        zone(&mut o).unresolved_ns = vec![(
            ns3.clone(),
            vec![lookup_record(&ns3, RecordType::A, timeout())],
        )];
        assert!(needs_recheck(&o));
        zone(&mut o).unresolved_ns[0].1[0].reply = Reply::failed(Outcome::NxDomain, None);
        assert!(!needs_recheck(&o));
        // The zone search.
        let mut o = observed();
        o.zone = Err(ZoneFailure {
            lookups: Vec::new(),
        });
        assert!(needs_recheck(&o));
    }

    #[test]
    fn minimised_steps_go_one_label_down() {
        let name = |text: &str| Name::from_ascii(text).unwrap();
        let qname = name("pec.example.it.");
        assert_eq!(child_toward(&Name::root(), &qname), name("it."));
        assert_eq!(child_toward(&name("it."), &qname), name("example.it."));
        assert_eq!(child_toward(&name("example.it."), &qname), qname);
        assert_eq!(child_toward(&qname, &qname), qname);
        assert_eq!(child_toward(&name("other.it."), &qname), qname);
    }

    #[test]
    fn public_addresses() {
        for private in [
            "127.53.1.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["193.205.245.5", "62.149.128.4", "2a00:6d40::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn resolver_addresses() {
        assert_eq!(
            parse_resolver("127.53.0.53").unwrap(),
            "127.53.0.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert!(parse_resolver("resolver.example").is_err());
    }

    #[test]
    fn root_hints_and_resolv_conf() {
        let dir = tempfile::tempdir().unwrap();
        let hints = dir.path().join("hints");
        std::fs::write(
            &hints,
            ". 3600 IN NS a.root.lab.\na.root.lab. 3600 IN A 127.53.0.1 ; comment\n",
        )
        .unwrap();
        assert_eq!(
            read_root_hints(&hints).unwrap(),
            vec!["127.53.0.1".parse::<IpAddr>().unwrap()]
        );
        std::fs::write(&hints, ". NS a.root.lab.\n").unwrap();
        assert!(read_root_hints(&hints).is_err());
        let conf = dir.path().join("resolv.conf");
        std::fs::write(&conf, "# x\nsearch lan\nnameserver 127.0.0.53\n").unwrap();
        assert_eq!(
            system_resolver(&conf).unwrap(),
            "127.0.0.53:53".parse().unwrap()
        );
        std::fs::write(&conf, "search lan\n").unwrap();
        assert!(system_resolver(&conf).is_err());
    }
}
