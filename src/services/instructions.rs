//! The customer's DNS instructions for activating PEC on a domain (`pecwatch instructions`).
//!
//! Before activation the provider tells the customer exactly what to write in which zone.
//! The providers' guides (seeds 002–004) distinguish the cases this module detects from DNS,
//! with the prober's [`Observation`] of the name:
//!
//! | case | how it is recognised | what the customer does |
//! |---|---|---|
//! | (i) [`Case::AddToParentZone`] | the name is a node of its parent's zone (missing, or without the right MX) | `pec IN MX 10 <mx host>.` in the parent zone (named, with its servers) |
//! | (ii) [`Case::AddToOwnZone`] | the name is its own zone (SOA at the name), on the customer's servers | `@ IN MX 10 <mx host>.` in that zone |
//! | (iii) [`Case::ProviderZone`] | the zone that holds the name is on the provider's name servers | nothing: the provider writes the MX at activation |
//! | (iv) [`Case::DelegatedToProvider`] | the name is delegated to the provider's name servers | nothing more than the NS lines shown in the parent zone: the provider creates the zone at activation |
//! | (v) [`Case::AlreadyCorrect`] | every server answers exactly the provider's MX | nothing |
//!
//! In (i) and (ii), when the provider publishes name servers, the alternative is given as
//! well: delegate the name to them ([`Delegation`]: the NS lines for the parent zone).
//! Existing data that conflicts is named for removal: MX records to other hosts (no hybrid
//! configuration) and a CNAME at the name (which cannot coexist with an MX). Error cases:
//! the parent domain does not exist or does not resolve ([`Case::ParentNotResolvable`]),
//! or none of the zone's servers answers ([`Case::ServersFailing`]). An e-mail address is
//! accepted and its domain used (the output says so).
//!
//! [`decide`] is pure (an observation and a profile in, [`Instructions`] out);
//! [`Instructions::to_text`] renders them in Italian or English, and they serialize to
//! JSON for the API.

use std::collections::BTreeSet;

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::check::observation::{Observation, ZoneObservation};
use crate::dns::{Data, Outcome, fqdn};
use crate::name::display_name;
use crate::profile::Profile;

/// What the customer has to do for one name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Instructions {
    /// The input as given.
    pub input: String,
    /// The name (A-labels, no trailing dot).
    pub domain: String,
    /// Whether the input was an e-mail address (its domain is used).
    pub from_email: bool,
    /// The provider profile.
    pub profile: String,
    /// The provider's name for people (`Aruba`).
    #[serde(skip)]
    pub provider: String,
    /// The MX record the provider asks for (`MX 10 mx.pec.aruba.it.`).
    pub mx: String,
    /// The case and its lines.
    #[serde(flatten)]
    pub case: Case,
}

/// Lines for one zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZoneEdit {
    /// The zone to edit (no trailing dot).
    pub zone: String,
    /// Its name servers, `name (address)`.
    pub servers: Vec<String>,
    /// Zone-file lines to add.
    pub add: Vec<String>,
    /// Zone-file lines to remove.
    pub remove: Vec<String>,
}

/// The alternative: delegate the name to the provider's name servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delegation {
    /// The zone that holds the delegation (the name's parent zone).
    pub zone: String,
    /// NS lines to add.
    pub add: Vec<String>,
    /// Lines to remove (a delegation point holds no other data).
    pub remove: Vec<String>,
}

/// The customer's case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "case", rename_all = "snake_case")]
pub enum Case {
    /// (i) The name is (or will be) a node of its parent's zone: add the MX there.
    AddToParentZone {
        /// Whether the name exists already.
        exists: bool,
        /// The edit of the parent zone.
        edit: ZoneEdit,
        /// The alternative, when the provider publishes name servers.
        delegation: Option<Delegation>,
    },
    /// (ii) The name is its own zone: add the MX at its apex.
    AddToOwnZone {
        /// The edit of the name's zone.
        edit: ZoneEdit,
        /// The alternative, when the provider publishes name servers.
        delegation: Option<Delegation>,
    },
    /// (iii) The zone holding the name is on the provider's DNS: nothing to do.
    ProviderZone {
        /// The zone.
        zone: String,
        /// Its servers.
        servers: Vec<String>,
        /// The MX lines found now (replaced by the provider).
        current: Vec<String>,
    },
    /// (iv) The name is delegated to the provider's name servers: nothing more to do.
    DelegatedToProvider {
        /// The zone holding the delegation (the parent), when known.
        parent_zone: Option<String>,
        /// The NS lines of the delegation, as they must be in the parent zone.
        ns: Vec<String>,
        /// Whether the provider's servers already serve the zone.
        served: bool,
    },
    /// (v) Every server already answers exactly the provider's MX.
    AlreadyCorrect {
        /// The zone holding the name.
        zone: String,
        /// Its servers.
        servers: Vec<String>,
    },
    /// The name's parent domain does not exist or cannot be resolved.
    ParentNotResolvable {
        /// The registrable domain to register or fix (`example.it`), when known.
        registrable: Option<String>,
        /// The lookups that failed, as evidence.
        lookups: Vec<String>,
    },
    /// None of the zone's servers gives an answer.
    ServersFailing {
        /// The zone.
        zone: String,
        /// Each server and what it did.
        servers: Vec<String>,
    },
}

impl Case {
    /// Whether the customer has something to do in DNS.
    pub fn needs_action(&self) -> bool {
        matches!(
            self,
            Self::AddToParentZone { .. } | Self::AddToOwnZone { .. }
        )
    }

    /// Whether the name cannot be set up as things are (an error of the customer's DNS).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Self::ParentNotResolvable { .. } | Self::ServersFailing { .. }
        )
    }
}

/// The instructions for `input`, whose name was observed as `observation`, for `profile`
/// (whose `nameservers` are the provider's DNS).
pub fn decide(input: &str, observation: &Observation, profile: &Profile) -> Instructions {
    let domain = observation.domain.as_str().to_string();
    let from_email = input.contains('@');
    let host = format!("{}.", profile.mx_host);
    let case = match &observation.zone {
        Err(failure) => Case::ParentNotResolvable {
            registrable: None,
            lookups: failure
                .lookups
                .iter()
                .map(|l| format!("{} {}: {}", fqdn(&l.name), l.rtype, l.reply.summary()))
                .collect(),
        },
        Ok(zone) => decide_zone(observation, zone, profile, &host),
    };
    Instructions {
        input: input.trim().to_string(),
        domain,
        from_email,
        profile: profile.name.clone(),
        provider: profile.display_name.clone(),
        mx: format!("MX {} {host}", profile.mx_preference),
        case,
    }
}

/// What the servers of the name's zone say about it, read once for every case.
struct Scene<'a> {
    observation: &'a Observation,
    zone: &'a ZoneObservation,
    profile: &'a Profile,
    /// The provider's MX target, with its trailing dot.
    host: &'a str,
    /// The zone's apex (no trailing dot).
    apex: String,
    /// The name relative to the apex (`pec`), or the name with a trailing dot.
    label: String,
    /// The zone's servers, `name (address)`.
    servers: Vec<String>,
    /// The NS set the zone's own servers give, and the one its parent gives.
    zone_ns: Vec<String>,
    parent_ns: Vec<String>,
    /// How many servers gave authoritative data, and how many of them said NXDOMAIN.
    answering: usize,
    nxdomain: usize,
    /// Whether some server answered and every one answered exactly the provider's MX.
    correct: bool,
    /// Every MX (preference, target) any server gave.
    mx_lines: BTreeSet<(u16, String)>,
    /// The targets of a CNAME at the name.
    aliases: BTreeSet<String>,
}

impl<'a> Scene<'a> {
    fn read(
        observation: &'a Observation,
        zone: &'a ZoneObservation,
        profile: &'a Profile,
        host: &'a str,
    ) -> Self {
        let qname = observation.domain.to_dns();
        let apex = display_name(&zone.apex);
        let label = observation
            .domain
            .relative_to(&apex)
            .unwrap_or_else(|| format!("{}.", observation.domain));
        let names = |set: &Option<Vec<Name>>| -> Vec<String> {
            set.iter().flatten().map(display_name).collect()
        };
        let wanted = [(profile.mx_preference, host.to_string())];
        let mut scene = Scene {
            observation,
            zone,
            profile,
            host,
            apex,
            label,
            servers: server_list(zone),
            zone_ns: names(&zone.zone_ns),
            parent_ns: names(&zone.parent_ns),
            answering: 0,
            nxdomain: 0,
            correct: true,
            mx_lines: BTreeSet::new(),
            aliases: BTreeSet::new(),
        };
        for server in &zone.servers {
            let reply = &server.mx;
            if !reply.outcome.is_authoritative_data() {
                continue;
            }
            scene.answering += 1;
            if reply.outcome == Outcome::NxDomain {
                scene.nxdomain += 1;
            }
            let set: Vec<(u16, String)> = reply
                .mx_set(&qname)
                .into_iter()
                .map(|(p, e)| (p, fqdn(&e)))
                .collect();
            if set != wanted {
                scene.correct = false;
            }
            scene.mx_lines.extend(set);
            for rr in &reply.answers {
                if let Data::Cname { target } = &rr.data
                    && rr.name == qname.to_lowercase()
                {
                    scene.aliases.insert(fqdn(target));
                }
            }
        }
        scene.correct &= scene.answering > 0;
        scene
    }

    /// Whether one of `set` is a name server of the provider.
    fn on_provider(&self, set: &[String]) -> bool {
        set.iter()
            .any(|ns| self.profile.nameservers.iter().any(|n| n.as_str() == ns))
    }

    /// The MX lines found, written with `owner` (`@` or the label).
    fn mx_lines_as(&self, owner: &str) -> Vec<String> {
        self.mx_lines
            .iter()
            .map(|(p, e)| format!("{owner} IN MX {p} {e}"))
            .collect()
    }

    fn already_correct(self) -> Case {
        Case::AlreadyCorrect {
            zone: self.apex,
            servers: self.servers,
        }
    }

    fn servers_failing(&self) -> Case {
        Case::ServersFailing {
            zone: self.apex.clone(),
            servers: failing_servers(self.zone),
        }
    }
}

fn decide_zone(
    observation: &Observation,
    zone: &ZoneObservation,
    profile: &Profile,
    host: &str,
) -> Case {
    let scene = Scene::read(observation, zone, profile, host);
    if zone.apex == observation.domain.to_dns() {
        decide_own_zone(scene)
    } else {
        decide_node(scene)
    }
}

/// The name is its own zone (SOA at the name).
fn decide_own_zone(scene: Scene<'_>) -> Case {
    let (observation, zone, profile) = (scene.observation, scene.zone, scene.profile);
    let delegated = if scene.parent_ns.is_empty() {
        &scene.zone_ns
    } else {
        &scene.parent_ns
    };
    if scene.on_provider(delegated) {
        let served = zone
            .servers
            .iter()
            .any(|s| s.soa.outcome == Outcome::Answer);
        if served && scene.correct {
            return scene.already_correct();
        }
        let parent = zone.parent_apex.as_ref().map(display_name);
        let owner = parent
            .as_deref()
            .and_then(|p| observation.domain.relative_to(p))
            .unwrap_or_else(|| format!("{}.", observation.domain));
        return Case::DelegatedToProvider {
            ns: profile
                .nameservers
                .iter()
                .map(|ns| format!("{owner} IN NS {ns}."))
                .collect(),
            parent_zone: parent,
            served,
        };
    }
    if scene.answering == 0 {
        return scene.servers_failing();
    }
    if scene.correct {
        return scene.already_correct();
    }
    let correct_line = format!("@ IN MX {} {}", profile.mx_preference, scene.host);
    let present = scene.mx_lines_as("@");
    let delegation = zone
        .parent_apex
        .as_ref()
        .map(display_name)
        .and_then(|parent| {
            let owner = observation.domain.relative_to(&parent)?;
            delegation(
                profile,
                &parent,
                &owner,
                delegated
                    .iter()
                    .map(|ns| format!("{owner} IN NS {ns}."))
                    .collect(),
            )
        });
    let edit = ZoneEdit {
        zone: scene.apex,
        servers: scene.servers,
        add: present
            .iter()
            .all(|l| *l != correct_line)
            .then(|| correct_line.clone())
            .into_iter()
            .collect(),
        remove: present.into_iter().filter(|l| *l != correct_line).collect(),
    };
    Case::AddToOwnZone { edit, delegation }
}

/// The name is a node of the zone `scene.apex`.
fn decide_node(scene: Scene<'_>) -> Case {
    let (observation, profile) = (scene.observation, scene.profile);
    let zone_set = if scene.zone_ns.is_empty() {
        &scene.parent_ns
    } else {
        &scene.zone_ns
    };
    let label = scene.label.clone();
    let current = scene.mx_lines_as(&label);
    if scene.on_provider(zone_set) {
        if scene.correct {
            return scene.already_correct();
        }
        return Case::ProviderZone {
            zone: scene.apex,
            servers: scene.servers,
            current,
        };
    }
    if scene.answering == 0 {
        return scene.servers_failing();
    }
    let exists = scene.nxdomain < scene.answering;
    if !exists && !scene.apex.contains('.') {
        // Not even the registrable domain exists under the TLD.
        let labels: Vec<&str> = observation.domain.as_str().split('.').collect();
        let registrable = labels[labels.len().saturating_sub(2)..].join(".");
        return Case::ParentNotResolvable {
            registrable: Some(registrable),
            lookups: scene
                .zone
                .servers
                .iter()
                .map(|s| {
                    format!(
                        "{} ({}): {} MX → {}",
                        display_name(&s.name),
                        s.address,
                        observation.domain,
                        s.mx.summary()
                    )
                })
                .collect(),
        };
    }
    if scene.correct && scene.aliases.is_empty() {
        return scene.already_correct();
    }
    let correct_line = format!("{label} IN MX {} {}", profile.mx_preference, scene.host);
    let cnames = scene
        .aliases
        .iter()
        .map(|t| format!("{label} IN CNAME {t}"));
    let mut remove: Vec<String> = current
        .iter()
        .filter(|l| **l != correct_line)
        .cloned()
        .collect();
    remove.extend(cnames.clone());
    let add = current
        .iter()
        .all(|l| *l != correct_line)
        .then(|| correct_line.clone())
        .into_iter()
        .collect();
    let mut conflicting = current;
    conflicting.extend(cnames);
    let delegation = delegation(profile, &scene.apex, &label, conflicting);
    Case::AddToParentZone {
        exists,
        edit: ZoneEdit {
            zone: scene.apex,
            servers: scene.servers,
            add,
            remove,
        },
        delegation,
    }
}

/// Case (i) in words: the name missing, without the MX, or with data to remove.
fn parent_zone_situation(lang: Lang, domain: &str, exists: bool, edit: &ZoneEdit) -> String {
    match (lang, exists, edit.add.is_empty()) {
        (Lang::It, false, _) => format!(
            "il nome {domain} non esiste: va creato nella zona {}.",
            edit.zone
        ),
        (Lang::It, true, false) => format!(
            "il nome {domain} è nella zona {} ma non ha il record MX richiesto.",
            edit.zone
        ),
        (Lang::It, true, true) => format!(
            "il nome {domain} è nella zona {} e ha, oltre al record MX richiesto, dati da rimuovere.",
            edit.zone
        ),
        (Lang::En, false, _) => format!(
            "name {domain} does not exist: create it in zone {}.",
            edit.zone
        ),
        (Lang::En, true, false) => format!(
            "name {domain} is in zone {} but lacks the required MX record.",
            edit.zone
        ),
        (Lang::En, true, true) => format!(
            "name {domain} is in zone {} and has, besides the required MX record, data to remove.",
            edit.zone
        ),
    }
}

/// Zone-file lines, each marked with `sign` (`+` add, `-` remove, ` ` as they are).
fn push_lines(out: &mut String, sign: char, lines: &[String]) {
    for line in lines {
        out.push_str(&format!("      {sign} {line}\n"));
    }
}

/// The delegation alternative in `zone` for `owner`, when the provider has name servers.
fn delegation(
    profile: &Profile,
    zone: &str,
    owner: &str,
    remove: Vec<String>,
) -> Option<Delegation> {
    if profile.nameservers.is_empty() {
        return None;
    }
    Some(Delegation {
        zone: zone.to_string(),
        add: profile
            .nameservers
            .iter()
            .map(|ns| format!("{owner} IN NS {ns}."))
            .collect(),
        remove,
    })
}

/// `name (address)` of every server, in order, without repeats.
fn server_list(zone: &ZoneObservation) -> Vec<String> {
    let mut seen = Vec::new();
    for server in &zone.servers {
        let entry = format!("{} ({})", display_name(&server.name), server.address);
        if !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    seen
}

fn failing_servers(zone: &ZoneObservation) -> Vec<String> {
    zone.servers
        .iter()
        .map(|s| {
            format!(
                "{} ({}): {}",
                display_name(&s.name),
                s.address,
                s.mx.summary()
            )
        })
        .collect()
}

impl Instructions {
    /// The instructions as text for people.
    pub fn to_text(&self, lang: Lang) -> String {
        let t = |it: &str, en: &str| lang.pick(it, en).to_string();
        let domain = &self.domain;
        let mut out = format!(
            "{domain} — {} ({} {})\n",
            t("istruzioni DNS per la PEC", "DNS instructions for PEC"),
            t("profilo", "profile"),
            self.profile
        );
        if self.from_email {
            out += &format!(
                "  {}\n",
                match lang {
                    Lang::It => format!(
                        "«{}» è un indirizzo e-mail: si usa il suo dominio {domain}.",
                        self.input
                    ),
                    Lang::En => format!(
                        "\"{}\" is an e-mail address: its domain {domain} is used.",
                        self.input
                    ),
                }
            );
        }
        self.render_case(&mut out, lang);
        out
    }

    /// The case and its lines, after the heading.
    fn render_case(&self, out: &mut String, lang: Lang) {
        let t = |it: &str, en: &str| lang.pick(it, en).to_string();
        let domain = &self.domain;
        let provider = &self.provider;
        match &self.case {
            Case::AddToParentZone {
                exists,
                edit,
                delegation,
            } => {
                let what = parent_zone_situation(lang, domain, *exists, edit);
                self.render_zone_change(out, lang, &what, edit, delegation.as_ref());
            }
            Case::AddToOwnZone { edit, delegation } => {
                let what = match lang {
                    Lang::It => format!(
                        "{domain} è una zona propria: il record MX va all'apice della zona {}.",
                        edit.zone
                    ),
                    Lang::En => format!(
                        "{domain} is a zone of its own: the MX record goes at the apex of zone {}.",
                        edit.zone
                    ),
                };
                self.render_zone_change(out, lang, &what, edit, delegation.as_ref());
            }
            Case::ProviderZone {
                zone,
                servers,
                current,
            } => {
                *out += &match lang {
                    Lang::It => format!(
                        "  Nulla da fare: la zona {zone} è sui DNS di {provider} ({}); il record MX di {domain} viene scritto da {provider} all'attivazione.\n",
                        servers.join(", ")
                    ),
                    Lang::En => format!(
                        "  Nothing to do: zone {zone} is on {provider}'s DNS ({}); {provider} writes the MX record of {domain} at activation.\n",
                        servers.join(", ")
                    ),
                };
                if !current.is_empty() {
                    *out += &format!(
                        "    {} {}\n",
                        t(
                            "Record MX attuali, che saranno sostituiti:",
                            "Current MX records, to be replaced:"
                        ),
                        current.join("; ")
                    );
                }
            }
            Case::DelegatedToProvider {
                parent_zone,
                ns,
                served,
            } => {
                let parent = parent_zone.clone().unwrap_or_else(|| "?".into());
                *out += &match lang {
                    Lang::It => format!(
                        "  Nulla da fare: {domain} è delegato ai DNS di {provider} nella zona {parent}:\n"
                    ),
                    Lang::En => format!(
                        "  Nothing to do: {domain} is delegated to {provider}'s DNS in zone {parent}:\n"
                    ),
                };
                push_lines(out, ' ', ns);
                *out += &format!(
                    "    {}\n",
                    match (lang, served) {
                        (Lang::It, false) => format!(
                            "{provider} crea la zona {domain}, con il record MX, all'attivazione."
                        ),
                        (Lang::It, true) => format!(
                            "La zona {domain} è servita da {provider}, che ne scrive il record MX all'attivazione."
                        ),
                        (Lang::En, false) => format!(
                            "{provider} creates zone {domain}, with its MX record, at activation."
                        ),
                        (Lang::En, true) => format!(
                            "Zone {domain} is served by {provider}, which writes its MX record at activation."
                        ),
                    }
                );
            }
            Case::AlreadyCorrect { zone, servers } => {
                *out += &match lang {
                    Lang::It => format!(
                        "  Nulla da fare: tutti i server della zona {zone} ({}) rispondono già con il record {} richiesto.\n",
                        servers.join(", "),
                        self.mx
                    ),
                    Lang::En => format!(
                        "  Nothing to do: every server of zone {zone} ({}) already answers the required {} record.\n",
                        servers.join(", "),
                        self.mx
                    ),
                };
            }
            Case::ParentNotResolvable { .. } | Case::ServersFailing { .. } => {
                self.render_error(out, lang);
            }
        }
    }

    /// The two errors of the customer's DNS, with their evidence.
    fn render_error(&self, out: &mut String, lang: Lang) {
        let domain = &self.domain;
        match &self.case {
            Case::ParentNotResolvable {
                registrable,
                lookups,
            } => {
                *out += &match (lang, registrable) {
                    (Lang::It, Some(r)) => format!(
                        "  Errore: il dominio {r} non esiste: registrarlo (o verificarne la delega presso il registro), poi richiedere di nuovo le istruzioni.\n"
                    ),
                    (Lang::It, None) => format!(
                        "  Errore: la zona che dovrebbe contenere {domain} non si risolve: verificare il dominio e la sua delega.\n"
                    ),
                    (Lang::En, Some(r)) => format!(
                        "  Error: domain {r} does not exist: register it (or check its delegation with the registry), then ask for the instructions again.\n"
                    ),
                    (Lang::En, None) => format!(
                        "  Error: the zone that should hold {domain} does not resolve: check the domain and its delegation.\n"
                    ),
                };
                for lookup in lookups {
                    *out += &format!("    {lookup}\n");
                }
            }
            Case::ServersFailing { zone, servers } => {
                *out += &match lang {
                    Lang::It => format!(
                        "  Errore: nessun server DNS della zona {zone} risponde: correggerli prima dell'attivazione.\n"
                    ),
                    Lang::En => format!(
                        "  Error: no DNS server of zone {zone} answers: fix them before activation.\n"
                    ),
                };
                for server in servers {
                    *out += &format!("    {server}\n");
                }
            }
            _ => {}
        }
    }

    /// The case line, the edit of one zone, and the delegation alternative.
    fn render_zone_change(
        &self,
        out: &mut String,
        lang: Lang,
        what: &str,
        edit: &ZoneEdit,
        delegation: Option<&Delegation>,
    ) {
        *out += &format!("  {} {what}\n", lang.pick("Caso:", "Case:"));
        render_edit(out, lang, edit);
        push_lines(out, '+', &edit.add);
        push_lines(out, '-', &edit.remove);
        *out += &format!("    {}\n", propagate(lang));
        if let Some(d) = delegation {
            render_delegation(out, lang, &self.domain, &self.provider, d);
        }
    }

    /// The instructions as one JSON view (the text in `lang` as `text`).
    pub fn view(&self, lang: Lang) -> InstructionsView {
        InstructionsView {
            instructions: self.clone(),
            needs_action: self.case.needs_action(),
            text: self.to_text(lang),
        }
    }

    /// The [`view`](Self::view) as a JSON value.
    pub fn to_json(&self, lang: Lang) -> serde_json::Value {
        serde_json::to_value(self.view(lang)).unwrap_or(serde_json::Value::Null)
    }
}

/// What `pecwatch instructions --format json` prints and `GET
/// /api/v1/instructions/{domain}` answers: the instructions, whether the customer has
/// anything to do, and the text for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstructionsView {
    /// The instructions.
    #[serde(flatten)]
    pub instructions: Instructions,
    /// Whether the customer has to change their DNS.
    pub needs_action: bool,
    /// The instructions for people, in the asked language.
    pub text: String,
}

fn render_edit(out: &mut String, lang: Lang, edit: &ZoneEdit) {
    let servers = if edit.servers.is_empty() {
        String::new()
    } else {
        format!(
            " ({}: {})",
            lang.pick("server", "servers"),
            edit.servers.join(", ")
        )
    };
    out.push_str(&match lang {
        Lang::It => format!("    Nella zona {}{servers}:\n", edit.zone),
        Lang::En => format!("    In zone {}{servers}:\n", edit.zone),
    });
}

fn propagate(lang: Lang) -> &'static str {
    lang.pick(
        "Il record va propagato a tutti i server autoritativi della zona (master e slave).",
        "The record must reach every authoritative server of the zone (master and slaves).",
    )
}

fn render_delegation(out: &mut String, lang: Lang, domain: &str, provider: &str, d: &Delegation) {
    out.push_str(&match lang {
        Lang::It => format!(
            "  In alternativa, delegare {domain} ai DNS di {provider}, nella zona {}:\n",
            d.zone
        ),
        Lang::En => format!(
            "  Alternatively, delegate {domain} to {provider}'s DNS, in zone {}:\n",
            d.zone
        ),
    });
    for line in &d.add {
        out.push_str(&format!("      + {line}\n"));
    }
    for line in &d.remove {
        out.push_str(&format!("      - {line}\n"));
    }
    out.push_str(&format!(
        "    {}\n",
        match lang {
            Lang::It => format!("{provider} crea allora la zona {domain} con il record MX."),
            Lang::En => format!("{provider} then creates zone {domain} with the MX record."),
        }
    ));
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::check::observation::{ServerObservation, ZoneFailure};
    use crate::dns::{Reply, Rr};
    use crate::name::DomainName;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn profile() -> Profile {
        let mut p = Profile::built_in("aruba").unwrap();
        p.nameservers = vec![
            DomainName::parse("dns1.aruba.it").unwrap(),
            DomainName::parse("dns2.aruba.it").unwrap(),
        ];
        p
    }

    fn reply(outcome: Outcome, answers: Vec<Rr>) -> Reply {
        Reply {
            answers,
            ..Reply::failed(outcome, None)
        }
    }

    fn mx(owner: &str, preference: u16, exchange: &str) -> Rr {
        Rr {
            name: name(owner),
            ttl: 60,
            data: Data::Mx {
                preference,
                exchange: name(exchange),
            },
        }
    }

    fn soa(apex: &str) -> Rr {
        Rr {
            name: name(apex),
            ttl: 60,
            data: Data::Soa {
                mname: name("ns1.x."),
                rname: name("h.x."),
                serial: 1,
            },
        }
    }

    /// An observation of `domain` in zone `apex` served by `ns` (two servers) whose MX
    /// reply is `mx`.
    fn observed(
        domain: &str,
        apex: &str,
        ns: &[&str],
        parent: Option<&str>,
        mx: Reply,
    ) -> Observation {
        let servers = ns
            .iter()
            .enumerate()
            .map(|(i, host)| ServerObservation {
                name: name(&format!("{host}.")),
                address: IpAddr::from([127, 53, 9, i as u8 + 1]),
                public: false,
                soa: reply(Outcome::Answer, vec![soa(apex)]),
                mx: mx.clone(),
            })
            .collect();
        let ns_names = Some(ns.iter().map(|h| name(&format!("{h}."))).collect());
        Observation {
            domain: DomainName::parse(domain).unwrap(),
            resolver: None,
            zone: Ok(ZoneObservation {
                apex: name(apex),
                zone_ns: ns_names.clone(),
                parent_ns: ns_names,
                parent_apex: parent.map(name),
                servers,
                unresolved_ns: Vec::new(),
                targets: Vec::new(),
            }),
            dnssec: None,
        }
    }

    const CUSTOMER: [&str; 2] = ["ns1.cliente.it", "ns2.cliente.it"];
    const PROVIDER: [&str; 2] = ["dns1.aruba.it", "dns2.aruba.it"];

    #[test]
    fn case_i_name_missing_in_parent_zone() {
        let o = observed(
            "pec.nuovo.it",
            "nuovo.it.",
            &CUSTOMER,
            Some("it."),
            reply(Outcome::NxDomain, vec![]),
        );
        let i = decide("pec.nuovo.it", &o, &profile());
        let Case::AddToParentZone {
            exists,
            edit,
            delegation,
        } = &i.case
        else {
            panic!("{i:?}")
        };
        assert!(!exists);
        assert_eq!(edit.zone, "nuovo.it");
        assert_eq!(edit.add, vec!["pec IN MX 10 mx.pec.aruba.it."]);
        assert!(edit.remove.is_empty());
        assert_eq!(edit.servers[0], "ns1.cliente.it (127.53.9.1)");
        let d = delegation.as_ref().unwrap();
        assert_eq!(
            d.add,
            vec!["pec IN NS dns1.aruba.it.", "pec IN NS dns2.aruba.it."]
        );
        assert!(i.case.needs_action());
        let text = i.to_text(Lang::It);
        assert!(text.contains("+ pec IN MX 10 mx.pec.aruba.it."), "{text}");
        assert!(i.to_text(Lang::En).contains("does not exist"));
    }

    #[test]
    fn case_i_conflicts_are_removed() {
        let answers = vec![
            mx("pec.hybrid.it.", 10, "mx.pec.aruba.it."),
            mx("pec.hybrid.it.", 20, "mail.hybrid.it."),
        ];
        let o = observed(
            "pec.hybrid.it",
            "hybrid.it.",
            &CUSTOMER,
            Some("it."),
            reply(Outcome::Answer, answers),
        );
        let i = decide("pec.hybrid.it", &o, &profile());
        let Case::AddToParentZone {
            exists,
            edit,
            delegation,
        } = &i.case
        else {
            panic!()
        };
        assert!(exists);
        assert!(edit.add.is_empty());
        assert_eq!(edit.remove, vec!["pec IN MX 20 mail.hybrid.it."]);
        assert_eq!(delegation.as_ref().unwrap().remove.len(), 2);
        // A CNAME at the name.
        let alias = Rr {
            name: name("pec.conflitto.it."),
            ttl: 60,
            data: Data::Cname {
                target: name("www.conflitto.it."),
            },
        };
        let o = observed(
            "pec.conflitto.it",
            "conflitto.it.",
            &CUSTOMER,
            Some("it."),
            reply(Outcome::NoData, vec![alias]),
        );
        let i = decide("pec.conflitto.it", &o, &profile());
        let Case::AddToParentZone { edit, .. } = &i.case else {
            panic!()
        };
        assert_eq!(edit.remove, vec!["pec IN CNAME www.conflitto.it."]);
        assert_eq!(edit.add, vec!["pec IN MX 10 mx.pec.aruba.it."]);
    }

    #[test]
    fn case_ii_own_zone() {
        let o = observed(
            "pec.propria.it",
            "pec.propria.it.",
            &CUSTOMER,
            Some("propria.it."),
            reply(Outcome::NoData, vec![]),
        );
        let i = decide("pec.propria.it", &o, &profile());
        let Case::AddToOwnZone { edit, delegation } = &i.case else {
            panic!("{i:?}")
        };
        assert_eq!(edit.zone, "pec.propria.it");
        assert_eq!(edit.add, vec!["@ IN MX 10 mx.pec.aruba.it."]);
        let d = delegation.as_ref().unwrap();
        assert_eq!(d.zone, "propria.it");
        assert_eq!(
            d.remove,
            vec!["pec IN NS ns1.cliente.it.", "pec IN NS ns2.cliente.it."]
        );
    }

    #[test]
    fn case_iii_iv_v() {
        let o = observed(
            "pec.ospitato.it",
            "ospitato.it.",
            &PROVIDER,
            Some("it."),
            reply(Outcome::NxDomain, vec![]),
        );
        assert!(matches!(
            decide("x", &o, &profile()).case,
            Case::ProviderZone { .. }
        ));
        let mut o = observed(
            "pec.attesa.it",
            "pec.attesa.it.",
            &PROVIDER,
            Some("attesa.it."),
            reply(Outcome::Refused, vec![]),
        );
        if let Ok(zone) = &mut o.zone {
            for s in &mut zone.servers {
                s.soa = reply(Outcome::Refused, vec![]);
            }
        }
        let i = decide("pec.attesa.it", &o, &profile());
        assert_eq!(
            i.case,
            Case::DelegatedToProvider {
                parent_zone: Some("attesa.it".into()),
                ns: vec![
                    "pec IN NS dns1.aruba.it.".into(),
                    "pec IN NS dns2.aruba.it.".into()
                ],
                served: false,
            }
        );
        let ok = reply(
            Outcome::Answer,
            vec![mx("pec.ok.it.", 10, "mx.pec.aruba.it.")],
        );
        let o = observed("mario@pec.ok.it", "ok.it.", &CUSTOMER, Some("it."), ok);
        let i = decide("mario@pec.ok.it", &o, &profile());
        assert!(matches!(i.case, Case::AlreadyCorrect { .. }));
        assert!(i.from_email && i.domain == "pec.ok.it");
        assert!(i.to_text(Lang::En).contains("its domain pec.ok.it is used"));
    }

    #[test]
    fn error_cases() {
        let o = Observation {
            domain: DomainName::parse("pec.nxparent.it").unwrap(),
            resolver: None,
            zone: Err(ZoneFailure {
                lookups: Vec::new(),
            }),
            dnssec: None,
        };
        assert!(decide("pec.nxparent.it", &o, &profile()).case.is_error());
        let o = observed(
            "pec.nxparent.it",
            "it.",
            &["a.nic.it"],
            None,
            reply(Outcome::NxDomain, vec![]),
        );
        let i = decide("pec.nxparent.it", &o, &profile());
        assert!(
            matches!(&i.case, Case::ParentNotResolvable { registrable: Some(r), .. } if r == "nxparent.it"),
            "{i:?}"
        );
        let o = observed(
            "pec.dead.it",
            "dead.it.",
            &CUSTOMER,
            Some("it."),
            reply(Outcome::Timeout, vec![]),
        );
        assert!(matches!(
            decide("pec.dead.it", &o, &profile()).case,
            Case::ServersFailing { .. }
        ));
        let json = decide("pec.dead.it", &o, &profile()).to_json(Lang::En);
        assert_eq!(json["case"], "servers_failing");
        assert_eq!(json["needs_action"], false);
    }
}
