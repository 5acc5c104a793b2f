//! Realistic sample data, for `pecwatch notices preview`, [`Templates::verify`] and tests.
//!
//! The sample domain is `pec.esempio.it`, whose MX points to the holder's own mail server
//! (`A NON CORRETTO`, the hybrid configuration the providers refuse); its check result is
//! written exactly as a sweep stores a [`Report::view`](crate::report::Report::view), with
//! the zone lines for the given profile.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value as Json, json};

use super::{
    ALERT, AlertContext, NoticeContext, NoticeError, Provider, RESELLER_COPY, RenderedNotice,
    Templates, render, render_alert,
};
use crate::Lang;
use crate::lifecycle::{NoticeKind, UnknownName};
use crate::name::DomainName;
use crate::profile::Profile;

/// The sample's certified domain.
pub const SAMPLE_DOMAIN: &str = "pec.esempio.it";
/// The sample's "now": 23 November 2026, 04:00 in Rome.
const NOW: &str = "2026-11-23T03:00:00Z";
/// The sample's deadline: seven days later, 30 November 2026 at 04:00 in Rome.
const DEADLINE: &str = "2026-11-30T03:00:00Z";
/// The sample's expiry: the end of 30 November 2027 in Rome.
const EXPIRES: &str = "2027-11-30T22:59:59Z";

/// Something `pecwatch notices preview` can render with sample data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preview {
    /// A notice of this kind.
    Notice(NoticeKind),
    /// The reseller's copy of a notice of this kind.
    ResellerCopy(NoticeKind),
    /// The operators' alert about a held sweep.
    Alert,
}

impl Preview {
    /// One preview of every template set: every kind (expiry warnings at 30 and 7 days),
    /// the reseller's copy of an error notice, the alert.
    pub fn every() -> Vec<Preview> {
        let kinds = [
            NoticeKind::ErrorFound,
            NoticeKind::Corrected,
            NoticeKind::Removed,
            NoticeKind::UnderReview,
            NoticeKind::Reinstated,
            NoticeKind::Rejected,
            NoticeKind::Expired,
            NoticeKind::ExpiryWarning { days: 30 },
            NoticeKind::ExpiryWarning { days: 7 },
            NoticeKind::Activated,
        ];
        kinds
            .into_iter()
            .map(Preview::Notice)
            .chain([
                Preview::ResellerCopy(NoticeKind::ErrorFound),
                Preview::Alert,
            ])
            .collect()
    }

    /// Renders this preview in `lang` with sample data for `profile`, signed by
    /// `provider`.
    pub fn render(
        self,
        lang: Lang,
        profile: &Profile,
        provider: &Provider,
        templates: &Templates,
    ) -> Result<RenderedNotice, NoticeError> {
        let sample = |kind, for_reseller| NoticeContext {
            for_reseller,
            provider: provider.clone(),
            ..NoticeContext::sample_for(kind, lang, profile)
        };
        match self {
            Preview::Notice(kind) => render(&sample(kind, false), templates),
            Preview::ResellerCopy(kind) => render(&sample(kind, true), templates),
            Preview::Alert => {
                let alert = AlertContext {
                    provider: provider.clone(),
                    ..AlertContext::sample(lang)
                };
                render_alert(&alert, templates)
            }
        }
    }
}

impl FromStr for Preview {
    type Err = UnknownName;

    /// A notice kind (`error_found`, `expiry_warning_7`), `alert`, `reseller_copy` (the
    /// copy of an error notice) or `reseller_copy_KIND` (`reseller_copy_removed`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == ALERT {
            return Ok(Preview::Alert);
        }
        if s == RESELLER_COPY {
            return Ok(Preview::ResellerCopy(NoticeKind::ErrorFound));
        }
        if let Some(kind) = s.strip_prefix("reseller_copy_") {
            return kind.parse().map(Preview::ResellerCopy);
        }
        s.parse().map(Preview::Notice)
    }
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preview::Notice(kind) => write!(f, "{kind}"),
            Preview::ResellerCopy(kind) => write!(f, "{RESELLER_COPY}_{kind}"),
            Preview::Alert => f.write_str(ALERT),
        }
    }
}

impl Provider {
    /// A sample provider: a display name and a support line in `lang`.
    pub fn sample(lang: Lang) -> Self {
        Provider {
            name: "PEC Esempio S.p.A.".to_owned(),
            support: lang
                .pick(
                    "assistenza@pec-esempio.it, dal lunedì al venerdì dalle 8:00 alle 19:00",
                    "assistenza@pec-esempio.it, Monday to Friday from 8:00 to 19:00",
                )
                .to_owned(),
        }
    }
}

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

impl NoticeContext {
    /// A realistic `kind` notice in `lang` about `pec.esempio.it`, checked against the
    /// built-in `aruba` profile.
    pub fn sample(kind: NoticeKind, lang: Lang) -> Self {
        let aruba = Profile::built_in("aruba").expect("the built-in aruba profile");
        Self::sample_for(kind, lang, &aruba)
    }

    /// A realistic `kind` notice in `lang` about `pec.esempio.it`, checked against
    /// `profile` (its zone lines are the profile's).
    pub fn sample_for(kind: NoticeKind, lang: Lang, profile: &Profile) -> Self {
        let domain = DomainName::parse(SAMPLE_DOMAIN).expect("a valid constant name");
        let now = instant(NOW);
        let expires = match kind {
            NoticeKind::ExpiryWarning { days } => {
                let days = days.clamp(0, 3650);
                // The end of that day in Rome: 22:59:59 UTC in winter.
                now.checked_add(SignedDuration::from_secs((days * 24 + 19) * 3600 + 3599))
                    .unwrap_or(now)
            }
            NoticeKind::Expired => instant("2026-11-22T22:59:59Z"),
            _ => instant(EXPIRES),
        };
        let with_errors = matches!(
            kind,
            NoticeKind::ErrorFound | NoticeKind::Removed | NoticeKind::Rejected
        );
        let mut context = NoticeContext {
            kind,
            domain: domain.clone(),
            holder_name: Some("Studio Legale Ferrè & Associati".to_owned()),
            holder_email: "amministrazione@esempio.it".to_owned(),
            lang,
            reseller: Some("Servizi Web Cantù S.r.l.".to_owned()),
            profile: profile.into(),
            deadline: matches!(kind, NoticeKind::ErrorFound | NoticeKind::Removed)
                .then(|| instant(DEADLINE)),
            expires: Some(expires),
            episode: 1,
            errors: Vec::new(),
            set_password_link: (kind == NoticeKind::Activated)
                .then(|| "https://pec-esempio.it/imposta-password?token=7f3c9a1e5b".to_owned()),
            provider: Provider::sample(lang),
            for_reseller: false,
        };
        if with_errors {
            // The sample check is well formed: reading it back cannot fail.
            if let Ok(errors) =
                super::ErrorDetail::from_check(&sample_check(&domain, profile, lang), lang)
            {
                context.errors = errors;
            }
        }
        context
    }
}

impl AlertContext {
    /// A realistic held-sweep alert in `lang`.
    pub fn sample(lang: Lang) -> Self {
        AlertContext {
            sweep: Some(412),
            domain: None,
            reason: lang
                .pick(
                    "domini sentinella in errore prima del controllo: pec.ok.it (NS_NON_DEFINITO)",
                    "canary domains failing before the sweep: pec.ok.it (NS_NON_DEFINITO)",
                )
                .to_owned(),
            at: Some(instant(NOW)),
            lang,
            provider: Provider::sample(lang),
        }
    }
}

/// The stored check result of the sample domain: its MX points to the holder's own mail
/// server (`A_NON_CORRETTO`), as a sweep records `Report::view`.
pub fn sample_check(domain: &DomainName, profile: &Profile, lang: Lang) -> Json {
    let zone = domain
        .as_str()
        .split_once('.')
        .map_or(domain.as_str(), |(_, parent)| parent)
        .to_owned();
    let owner = domain
        .relative_to(&zone)
        .unwrap_or_else(|| format!("{domain}."));
    let own_host = format!("mail.{zone}");
    let wrong = format!("{owner} IN MX {} {own_host}.", profile.mx_preference);
    let right = format!(
        "{owner} IN MX {} {}.",
        profile.mx_preference, profile.mx_host
    );
    let provider = &profile.display_name;
    let message = match lang {
        Lang::It => format!(
            "A NON CORRETTO: il record MX di {domain} punta a {own_host} (203.0.113.10), che non è un server di posta PEC di {provider} ({}).",
            profile.mx_host
        ),
        Lang::En => format!(
            "A NON CORRETTO: the MX record of {domain} points to {own_host} (203.0.113.10), which is not a PEC mail server of {provider} ({}).",
            profile.mx_host
        ),
    };
    let mut fixes = vec![json!({
        "case": "parent_zone", "zone": zone, "add": [right], "remove": [wrong], "note": null,
    })];
    if !profile.nameservers.is_empty() {
        let delegation: Vec<String> = profile
            .nameservers
            .iter()
            .map(|ns| format!("{owner} IN NS {ns}."))
            .collect();
        let note = match lang {
            Lang::It => format!(
                "In alternativa, delegare {domain} ai DNS di {provider}: sarà {provider} a pubblicare il record MX."
            ),
            Lang::En => format!(
                "Alternatively, delegate {domain} to {provider}'s DNS: {provider} will publish the MX record."
            ),
        };
        fixes.push(json!({
            "case": "delegation", "zone": zone, "add": delegation, "remove": [wrong], "note": note,
        }));
    }
    let servers = ["203.0.113.1", "203.0.113.2"]
        .iter()
        .enumerate()
        .map(|(index, address)| {
            json!({
                "server": format!("ns{}.{zone}", index + 1),
                "address": address,
                "query": format!("{domain} MX"),
                "outcome": format!("ANSWER: {domain} MX {} {own_host}.", profile.mx_preference),
            })
        })
        .collect::<Vec<_>>();
    json!({
        "domain": domain,
        "input": domain,
        "ok": false,
        "transient": false,
        "verdict": "error",
        "codes": ["A_NON_CORRETTO"],
        "warnings": [],
        "profile": provider,
        "zone": zone,
        "findings": [{
            "code": "A_NON_CORRETTO",
            "severity": "error",
            "message": message,
            "transient": false,
            "servers": servers,
            "fix": fixes,
        }],
        "nameservers": [],
    })
}
