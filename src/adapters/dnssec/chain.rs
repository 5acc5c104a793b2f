//! The chain of trust: from the trust anchor down to the answer, one zone cut at a time.
//!
//! For a name and type, the walk
//! 1. validates the root's DNSKEY set against the trust anchor;
//! 2. for each label below the current zone, toward the name, asks the current zone's
//!    servers for `<label> DS` (recursion off, DO=1): a DS set (validated with the zone's
//!    keys) is a signed zone cut, whose DNSKEY set is then asked of the child's own servers
//!    and validated against the DS; a validated NSEC/NSEC3 denial either proves an unsigned
//!    delegation (the answer is *insecure*, the walk stops) or that the label is no cut;
//! 3. asks the zone that holds the name for the RRset and validates its signature.
//!
//! Unsigned zones pay one DS query at their parent (and one signature check of its
//! denial); the DNSKEY set is only asked where a DS exists. Every step is cached per name
//! for the run (never a transient failure), so a zone's keys are fetched once however many
//! names it holds. The AD bit is never looked at: everything is checked here.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record, RecordType};
use quick_cache::sync::Cache;

use super::anchor::TrustAnchor;
use super::validate::{
    Denial, Designation, DsInfo, KeyInfo, KeysOutcome, SigInfo, ZoneKeys, deny_ds, dnskey_records,
    ds_records, rrset, rrsigs, verify_rrset, zone_keys,
};
pub use crate::check::observation::{
    ChainLink, DnssecObservation, Insecurity, Security, Validation,
};
use crate::dns::{Outcome, Reply};

/// How many CNAMEs a validated answer may follow.
const MAX_ALIASES: usize = 4;

/// What the validator needs to know.
#[derive(Clone, Debug)]
pub struct DnssecConfig {
    /// The trust anchor.
    pub anchor: TrustAnchor,
    /// A signature on the path expiring within this many seconds gives a warning
    /// (`[check] dnssec_expiry_warning`, default 3 days).
    pub expiry_warning: i64,
}

impl Default for DnssecConfig {
    fn default() -> Self {
        Self {
            anchor: TrustAnchor::iana(),
            expiry_warning: 3 * 86_400,
        }
    }
}

/// Where the walk gets its data: the prober (the zones' own servers, asked directly).
pub trait Source: Sync {
    /// The addresses of a zone's authoritative servers that may be asked.
    fn servers(&self, zone: &Name) -> impl Future<Output = Vec<IpAddr>> + Send;
    /// Asks one server directly, recursion off, DO=1: the classified reply and the whole
    /// message (`None` when no usable response came back).
    fn ask(
        &self,
        server: IpAddr,
        qname: &Name,
        qtype: RecordType,
    ) -> impl Future<Output = (Reply, Option<Message>)> + Send;
}

/// A signed zone whose keys validated.
#[derive(Debug)]
struct SecureZone {
    keys: ZoneKeys,
    servers: Vec<IpAddr>,
    link: ChainLink,
}

/// The outcome of one step of the walk, cached per name.
#[derive(Debug)]
enum Step {
    /// A signed zone cut (or the root).
    Secure(SecureZone),
    /// Not a zone cut: the walk goes on in the same zone.
    NotCut,
    /// The walk stops here: insecure, bogus or undecided (with the link, if any).
    Stop(Security, Option<ChainLink>),
}

impl Step {
    fn transient(&self) -> bool {
        matches!(
            self,
            Self::Stop(
                Security::Indeterminate {
                    transient: true,
                    ..
                },
                _
            )
        )
    }
}

/// The validator: configuration and the per-run caches of steps and of the MX targets'
/// validations (a provider's MX host is shared by all its domains). Shared by every check.
pub struct Chain {
    config: DnssecConfig,
    steps: Cache<Name, Arc<Step>>,
    targets: Cache<Name, Arc<Validation>>,
    warned: AtomicBool,
}

impl Chain {
    /// A validator whose cache holds `capacity` steps.
    pub fn new(config: DnssecConfig, capacity: usize) -> Self {
        Self {
            config,
            steps: Cache::new(capacity.max(16)),
            targets: Cache::new(capacity.max(16)),
            warned: AtomicBool::new(false),
        }
    }

    /// Forgets every cached step and validation.
    pub fn clear(&self) {
        self.steps.clear();
        self.targets.clear();
    }

    /// Validates the name's MX and each target's A RRset at `now` (Unix seconds); `None`
    /// when nothing can be judged because the root's keys do not validate from the trust
    /// anchor (a private root with the built-in anchors): then nothing more is asked.
    ///
    /// `apex` is the zone that holds the name, when the prober found it (the owner of the
    /// SOA its servers answer with): the walk then looks for zone cuts only down to it.
    pub async fn observe<S: Source>(
        &self,
        source: &S,
        name: &Name,
        apex: Option<&Name>,
        targets: &[Name],
        now: i64,
    ) -> Option<DnssecObservation> {
        let root = self.root(source, now).await;
        if let Step::Stop(
            Security::Indeterminate {
                transient: false, ..
            },
            None,
        ) = &*root
        {
            return None;
        }
        let mx = self.validate(source, name, RecordType::MX, apex, now);
        let targets = join_all(
            targets
                .iter()
                .map(|target| self.target(source, target, now)),
        );
        let (mx, targets) = futures::join!(mx, targets);
        Some(DnssecObservation {
            validated_at: now,
            expiry_warning: self.config.expiry_warning,
            mx,
            targets,
        })
    }

    /// An MX target's A RRset, validated once per run (unless undecided for timeouts).
    async fn target<S: Source>(&self, source: &S, name: &Name, now: i64) -> Validation {
        let key = name.to_lowercase();
        if let Some(validation) = self.targets.get(&key) {
            return (*validation).clone();
        }
        let build = async {
            let validation = Arc::new(self.validate(source, name, RecordType::A, None, now).await);
            let transient = matches!(
                validation.security,
                Security::Indeterminate {
                    transient: true,
                    ..
                }
            );
            if transient {
                Err(validation)
            } else {
                Ok(validation)
            }
        };
        let validation = Box::pin(self.targets.get_or_insert_async(&key, build))
            .await
            .unwrap_or_else(|validation| validation);
        (*validation).clone()
    }

    /// Validates one RRset (following CNAMEs). `apex`: the zone known to hold the name,
    /// if any (zone cuts are looked for only down to it).
    pub async fn validate<S: Source>(
        &self,
        source: &S,
        name: &Name,
        rtype: RecordType,
        apex: Option<&Name>,
        now: i64,
    ) -> Validation {
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        let mut validation = Box::pin(self.validate_one(source, &name, rtype, apex, now)).await;
        for _ in 0..MAX_ALIASES {
            let Some(target) = validation.alias.take() else {
                break;
            };
            let next = Box::pin(self.validate_one(source, &target, rtype, None, now)).await;
            validation = merge(validation, next);
        }
        validation.validation
    }

    async fn validate_one<S: Source>(
        &self,
        source: &S,
        name: &Name,
        rtype: RecordType,
        apex: Option<&Name>,
        now: i64,
    ) -> Walked {
        let mut chain: Vec<ChainLink> = Vec::new();
        let stopped = |security: Security, chain: Vec<ChainLink>| Walked {
            validation: Validation {
                name: name.clone(),
                rtype,
                security,
                chain,
                signature: None,
                server: None,
            },
            alias: None,
        };
        let mut current = self.root(source, now).await;
        match &*current {
            Step::Secure(root) => chain.push(root.link.clone()),
            Step::Stop(security, link) => {
                chain.extend(link.clone());
                return stopped(security.clone(), chain);
            }
            Step::NotCut => {}
        }
        // Below the zone that holds the name there is no cut to look for.
        let last = match apex {
            Some(apex) if apex.zone_of(name) => apex.num_labels(),
            _ => name.num_labels(),
        };
        for depth in 1..=usize::from(last) {
            let Step::Secure(zone) = &*current else {
                break;
            };
            let step = self.step(source, zone, &name.trim_to(depth), now).await;
            match &*step {
                Step::NotCut => continue,
                Step::Secure(child) => chain.push(child.link.clone()),
                Step::Stop(security, link) => {
                    chain.extend(link.clone());
                    return stopped(security.clone(), chain);
                }
            }
            current = step;
        }
        let Step::Secure(zone) = &*current else {
            let detail = "no signed zone holds the name".to_string();
            let security = Security::Indeterminate {
                transient: false,
                detail,
            };
            return stopped(security, chain);
        };
        let (reply, message, server) = ask_any(source, &zone.servers, name, rtype).await;
        let message = match (reply.outcome, message) {
            (Outcome::Answer, Some(message)) => message,
            (outcome, _) => {
                let detail = format!("{} {rtype}: {}", crate::dns::fqdn(name), reply.summary());
                let transient = outcome.is_transient();
                return stopped(Security::Indeterminate { transient, detail }, chain);
            }
        };
        let answers: Vec<Record> = message.answers.clone();
        let (owner_type, alias) = if rrset(&answers, name, rtype).is_empty() {
            let alias = answers.iter().find_map(|r| match &r.data {
                hickory_proto::rr::RData::CNAME(c) if r.name == *name => Some(c.0.to_lowercase()),
                _ => None,
            });
            (RecordType::CNAME, alias)
        } else {
            (rtype, None)
        };
        let sigs = rrsigs(&answers, name, owner_type);
        let mut walked = stopped(
            Security::Secure {
                first_expiring: None,
            },
            chain,
        );
        walked.validation.server = server;
        match verify_rrset(&zone.keys, name, owner_type, &answers, &sigs, now) {
            Ok(signature) => {
                walked.validation.security = Security::Secure {
                    first_expiring: first_expiring(&walked.validation.chain, &signature),
                };
                walked.validation.signature = Some(signature);
                walked.alias = alias;
            }
            Err(bogus) => walked.validation.security = Security::Bogus { bogus, server },
        }
        walked
    }

    /// The root's keys, validated against the trust anchor (cached).
    async fn root<S: Source>(&self, source: &S, now: i64) -> Arc<Step> {
        let root = Name::root();
        if let Some(step) = self.steps.get(&root) {
            return step;
        }
        let build = async {
            let step = Arc::new(self.root_uncached(source, now).await);
            if step.transient() {
                Err(step)
            } else {
                Ok(step)
            }
        };
        Box::pin(self.steps.get_or_insert_async(&root, build))
            .await
            .unwrap_or_else(|step| step)
    }

    async fn root_uncached<S: Source>(&self, source: &S, now: i64) -> Step {
        let root = Name::root();
        let servers = source.servers(&root).await;
        let (reply, message, server) = ask_any(source, &servers, &root, RecordType::DNSKEY).await;
        let anchor = &self.config.anchor;
        let Some(message) = message.filter(|_| reply.outcome.is_authoritative_data()) else {
            return indeterminate(&root, RecordType::DNSKEY, &reply, None);
        };
        let answers = &message.answers;
        let sigs = rrsigs(answers, &root, RecordType::DNSKEY);
        let mut outcome = Err(None);
        if !anchor.ds.is_empty() {
            outcome =
                zone_keys(&root, answers, &sigs, Designation::Ds(&anchor.ds), now).map_err(Some);
        }
        if outcome.is_err() && !anchor.keys.is_empty() {
            outcome = zone_keys(&root, answers, &sigs, Designation::Keys(&anchor.keys), now)
                .map_err(Some);
        }
        let link = ChainLink {
            zone: root.clone(),
            server,
            ds: anchor.ds.iter().map(DsInfo::of).collect(),
            keys: dnskey_records(answers, &root)
                .iter()
                .map(KeyInfo::of)
                .collect(),
            signatures: Vec::new(),
        };
        match outcome {
            Ok(KeysOutcome::Trusted(keys)) => {
                let mut link = link;
                link.signatures.push(keys.signature.clone());
                Step::Secure(SecureZone {
                    keys,
                    servers,
                    link,
                })
            }
            Ok(KeysOutcome::Unsupported) => Step::Stop(
                Security::Insecure {
                    zone: root,
                    why: Insecurity::UnsupportedAlgorithm,
                },
                Some(link),
            ),
            Err(bogus) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        anchor = %anchor.source,
                        reason = ?bogus,
                        "the DNSSEC trust anchor does not match the root's keys: DNSSEC is not checked"
                    );
                }
                Step::Stop(
                    Security::Indeterminate {
                        transient: false,
                        detail: format!(
                            "the trust anchor ({}) does not match the root's keys",
                            anchor.source
                        ),
                    },
                    None,
                )
            }
        }
    }

    /// One step below `zone`: is `child` a signed cut, an unsigned one, or no cut (cached).
    async fn step<S: Source>(
        &self,
        source: &S,
        zone: &SecureZone,
        child: &Name,
        now: i64,
    ) -> Arc<Step> {
        if let Some(step) = self.steps.get(child) {
            return step;
        }
        let build = async {
            let step = Arc::new(step_uncached(source, zone, child, now).await);
            if step.transient() {
                Err(step)
            } else {
                Ok(step)
            }
        };
        Box::pin(self.steps.get_or_insert_async(child, build))
            .await
            .unwrap_or_else(|step| step)
    }
}

/// What one walk found, and the alias to follow next, if any.
struct Walked {
    validation: Validation,
    alias: Option<Name>,
}

/// A CNAME's validation followed by its target's: the worse security wins.
fn merge(first: Walked, next: Walked) -> Walked {
    match first.validation.security {
        Security::Secure { .. } => next,
        _ => Walked {
            alias: None,
            ..first
        },
    }
}

/// The first-expiring signature among the chain's and the answer's.
fn first_expiring(chain: &[ChainLink], answer: &SigInfo) -> Option<SigInfo> {
    chain
        .iter()
        .flat_map(|link| link.signatures.iter())
        .chain(std::iter::once(answer))
        .min_by_key(|sig| sig.expiration)
        .cloned()
}

fn indeterminate(name: &Name, rtype: RecordType, reply: &Reply, link: Option<ChainLink>) -> Step {
    // Not asked at all (no usable server: private addresses not allowed) is no timeout:
    // undecided, but nothing that may go away by itself.
    let transient = reply.outcome.is_transient();
    let detail = format!("{} {rtype}: {}", crate::dns::fqdn(name), reply.summary());
    Step::Stop(Security::Indeterminate { transient, detail }, link)
}

/// Asks the servers one after the other until one answers with authority (or refers).
async fn ask_any<S: Source>(
    source: &S,
    servers: &[IpAddr],
    qname: &Name,
    qtype: RecordType,
) -> (Reply, Option<Message>, Option<IpAddr>) {
    let mut last = (
        Reply::failed(Outcome::NotQueried, Some("no usable server".into())),
        None,
        None,
    );
    for server in servers {
        let (reply, message) = source.ask(*server, qname, qtype).await;
        if reply.outcome.is_authoritative_data() || reply.outcome == Outcome::Referral {
            return (reply, message, Some(*server));
        }
        last = (reply, message, Some(*server));
    }
    last
}

async fn step_uncached<S: Source>(source: &S, parent: &SecureZone, child: &Name, now: i64) -> Step {
    let (reply, message, server) = ask_any(source, &parent.servers, child, RecordType::DS).await;
    let message = match (reply.outcome, message) {
        (Outcome::Answer | Outcome::NoData | Outcome::NxDomain | Outcome::Referral, Some(m)) => m,
        _ => return indeterminate(child, RecordType::DS, &reply, None),
    };
    let records: Vec<Record> = message
        .answers
        .iter()
        .chain(&message.authorities)
        .cloned()
        .collect();
    let ds = ds_records(&records, child);
    if ds.is_empty() {
        let insecure = |why| {
            Step::Stop(
                Security::Insecure {
                    zone: child.clone(),
                    why,
                },
                None,
            )
        };
        return match deny_ds(&parent.keys, child, &message.authorities, now) {
            Ok(Denial::NotDelegation) => Step::NotCut,
            Ok(Denial::UnsignedDelegation) => insecure(Insecurity::UnsignedDelegation),
            Ok(Denial::OptOut) => insecure(Insecurity::OptOut),
            Ok(Denial::Unverifiable) => insecure(Insecurity::Unverifiable),
            Err(bogus) => Step::Stop(Security::Bogus { bogus, server }, None),
        };
    }
    let ds_sigs = rrsigs(&records, child, RecordType::DS);
    let mut link = ChainLink {
        zone: child.clone(),
        server: None,
        ds: ds.iter().map(DsInfo::of).collect(),
        keys: Vec::new(),
        signatures: Vec::new(),
    };
    match verify_rrset(&parent.keys, child, RecordType::DS, &records, &ds_sigs, now) {
        Ok(signature) => link.signatures.push(signature),
        Err(bogus) => return Step::Stop(Security::Bogus { bogus, server }, Some(link)),
    }
    let servers = source.servers(child).await;
    let (reply, message, server) = ask_any(source, &servers, child, RecordType::DNSKEY).await;
    link.server = server;
    let answers = match (reply.outcome, message) {
        (Outcome::Answer | Outcome::NoData | Outcome::NxDomain, Some(m)) => m.answers,
        _ => return indeterminate(child, RecordType::DNSKEY, &reply, Some(link)),
    };
    link.keys = dnskey_records(&answers, child)
        .iter()
        .map(KeyInfo::of)
        .collect();
    let sigs = rrsigs(&answers, child, RecordType::DNSKEY);
    match zone_keys(child, &answers, &sigs, Designation::Ds(&ds), now) {
        Ok(KeysOutcome::Trusted(keys)) => {
            link.signatures.push(keys.signature.clone());
            Step::Secure(SecureZone {
                keys,
                servers,
                link,
            })
        }
        Ok(KeysOutcome::Unsupported) => Step::Stop(
            Security::Insecure {
                zone: child.clone(),
                why: Insecurity::UnsupportedAlgorithm,
            },
            Some(link),
        ),
        Err(bogus) => Step::Stop(Security::Bogus { bogus, server }, Some(link)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::op::{Message, OpCode, Query};
    use hickory_proto::rr::{Name, Record, RecordType};

    use super::*;
    use crate::dnssec::validate::Bogus;
    use crate::dnssec::validate::tests::{DAY, NOW, Zone, dnssec_record, mx, name, nsec, valid};

    /// A world of signed zones answered from memory: `None` is a timeout.
    #[derive(Default)]
    struct Fake {
        answers: Mutex<HashMap<(Name, RecordType), Option<Message>>>,
        asked: Mutex<Vec<(Name, RecordType)>>,
    }

    impl Fake {
        fn set(
            &self,
            qname: &str,
            qtype: RecordType,
            answers: Vec<Record>,
            authority: Vec<Record>,
        ) {
            let mut message = Message::response(1, OpCode::Query);
            message.metadata.authoritative = true;
            message.add_query(Query::query(name(qname), qtype));
            for record in answers {
                message.add_answer(record);
            }
            for record in authority {
                message.add_authority(record);
            }
            self.answers
                .lock()
                .unwrap()
                .insert((name(qname), qtype), Some(message));
        }

        fn time_out(&self, qname: &str, qtype: RecordType) {
            self.answers
                .lock()
                .unwrap()
                .insert((name(qname), qtype), None);
        }

        fn asked(&self, qname: &str, qtype: RecordType) -> usize {
            let key = (name(qname), qtype);
            self.asked
                .lock()
                .unwrap()
                .iter()
                .filter(|k| **k == key)
                .count()
        }
    }

    impl Source for Fake {
        async fn servers(&self, _zone: &Name) -> Vec<IpAddr> {
            vec!["192.0.2.53".parse().unwrap()]
        }

        async fn ask(
            &self,
            _server: IpAddr,
            qname: &Name,
            qtype: RecordType,
        ) -> (Reply, Option<Message>) {
            self.asked.lock().unwrap().push((qname.clone(), qtype));
            let answer = self
                .answers
                .lock()
                .unwrap()
                .get(&(qname.clone(), qtype))
                .cloned();
            match answer {
                Some(Some(message)) => {
                    (Reply::classify(&message, qname, qtype, true), Some(message))
                }
                Some(None) => (Reply::failed(Outcome::Timeout, None), None),
                None => (Reply::failed(Outcome::Refused, None), None),
            }
        }
    }

    /// The root, `it.` and `example.it.`, each signed and delegated with DS, and a signed
    /// MX for `pec.example.it`.
    fn world(root: &Zone, it: &Zone, example: &Zone) -> Fake {
        let fake = Fake::default();
        for (zone, text) in [(root, "."), (it, "it."), (example, "example.it.")] {
            fake.set(
                text,
                RecordType::DNSKEY,
                zone.dnskey_answer(valid()),
                Vec::new(),
            );
        }
        for (parent, child, text) in [(root, it, "it."), (it, example, "example.it.")] {
            let ds = dnssec_record(&child.apex, DNSSECRData::DS(child.ksk.ds(&child.apex)));
            let answer = parent.signed(vec![ds], &child.apex, RecordType::DS, valid());
            fake.set(text, RecordType::DS, answer, Vec::new());
        }
        let owner = name("pec.example.it.");
        let answer = example.signed(
            vec![mx(&owner, "mx.pec.aruba.it.")],
            &owner,
            RecordType::MX,
            (NOW - DAY, NOW + 2 * DAY),
        );
        fake.set("pec.example.it.", RecordType::MX, answer, Vec::new());
        // The name is no zone cut (asked when the zone holding it is not known).
        use RecordType::{MX, NSEC, RRSIG};
        let proof = nsec(
            example,
            "pec.example.it.",
            "zz.example.it.",
            &[MX, RRSIG, NSEC],
        );
        fake.set("pec.example.it.", RecordType::DS, Vec::new(), proof);
        fake
    }

    /// A validator whose trust anchor is the DS of a root zone made here, and that zone.
    fn chain() -> (Chain, Zone) {
        let root = Zone::new(".");
        let config = DnssecConfig {
            anchor: TrustAnchor {
                ds: vec![root.ksk.ds(&root.apex)],
                keys: Vec::new(),
                source: "test".into(),
            },
            expiry_warning: 3 * DAY,
        };
        (Chain::new(config, 100), root)
    }

    #[tokio::test]
    async fn a_signed_mx_is_secure_from_the_anchor_down() {
        let (chain, root) = chain();
        let (it, example) = (Zone::new("it."), Zone::new("example.it."));
        let fake = world(&root, &it, &example);
        let apex = name("example.it.");
        let validation = chain
            .validate(
                &fake,
                &name("pec.example.it."),
                RecordType::MX,
                Some(&apex),
                NOW,
            )
            .await;
        let Security::Secure { first_expiring } = &validation.security else {
            panic!("{validation:#?}");
        };
        assert_eq!(first_expiring.as_ref().unwrap().expiration, NOW + 2 * DAY);
        let zones: Vec<String> = validation
            .chain
            .iter()
            .map(|l| crate::dns::fqdn(&l.zone))
            .collect();
        assert_eq!(zones, [".", "it.", "example.it."]);
        // Below the zone the prober found, no cut is looked for.
        assert_eq!(fake.asked("pec.example.it.", RecordType::DS), 0);
        // A second name of the zone reuses every step: only its own MX is asked.
        let before = fake.asked.lock().unwrap().len();
        let again = chain
            .validate(
                &fake,
                &name("pec.example.it."),
                RecordType::MX,
                Some(&apex),
                NOW,
            )
            .await;
        assert_eq!(again.security, validation.security);
        assert_eq!(fake.asked.lock().unwrap().len(), before + 1);
    }

    #[tokio::test]
    async fn timeouts_are_undecided_and_not_remembered() {
        let (chain, root) = chain();
        let (it, example) = (Zone::new("it."), Zone::new("example.it."));
        let fake = world(&root, &it, &example);
        fake.time_out("example.it.", RecordType::DNSKEY);
        let qname = name("pec.example.it.");
        let validation = chain
            .validate(&fake, &qname, RecordType::MX, None, NOW)
            .await;
        assert!(
            matches!(
                validation.security,
                Security::Indeterminate {
                    transient: true,
                    ..
                }
            ),
            "{validation:#?}"
        );
        // The servers answer again: the next check validates (the timeout was not cached).
        fake.set(
            "example.it.",
            RecordType::DNSKEY,
            example.dnskey_answer(valid()),
            Vec::new(),
        );
        let validation = chain
            .validate(&fake, &qname, RecordType::MX, None, NOW)
            .await;
        assert!(
            matches!(validation.security, Security::Secure { .. }),
            "{validation:#?}"
        );
    }

    #[tokio::test]
    async fn an_nsec_proven_unsigned_delegation_is_insecure_and_an_orphan_ds_bogus() {
        let (chain, root) = chain();
        let (it, example) = (Zone::new("it."), Zone::new("example.it."));
        let fake = world(&root, &it, &example);
        use RecordType::*;
        let proof = nsec(&it, "example.it.", "zz.it.", &[NS, RRSIG, NSEC]);
        fake.set("example.it.", DS, Vec::new(), proof);
        let qname = name("pec.example.it.");
        let validation = chain.validate(&fake, &qname, MX, None, NOW).await;
        assert_eq!(
            validation.security,
            Security::Insecure {
                zone: name("example.it."),
                why: Insecurity::UnsignedDelegation
            }
        );
        // Never asked for the keys of a zone without DS.
        assert_eq!(fake.asked("example.it.", DNSKEY), 0);

        // The DS is back but the zone serves no keys: an orphan DS.
        let (chain, root) = super::tests::chain();
        let fake = world(&root, &it, &example);
        fake.set("example.it.", DNSKEY, Vec::new(), Vec::new());
        let validation = chain.validate(&fake, &qname, MX, None, NOW).await;
        let Security::Bogus { bogus, .. } = &validation.security else {
            panic!("{validation:#?}");
        };
        assert!(matches!(bogus, Bogus::NoDnskey { .. }), "{bogus:?}");
        let last = validation.chain.last().unwrap();
        assert_eq!(last.zone, name("example.it."));
        assert!(last.keys.is_empty() && !last.ds.is_empty());
    }
}
