//! A check's [`Report`] as the pages show it: the verdict in plain words, each finding
//! with why it matters, its evidence and the zone lines that fix it, and what every
//! authoritative server answered.

use minijinja::{Value, context};

use crate::Lang;
use crate::dns::Outcome;
use crate::finding::{Fix, Severity};
use crate::report::{Report, Verdict};

/// The template context of a report (`report` in `macros.html`'s `report` macro).
pub(crate) fn report(report: &Report, lang: Lang) -> Value {
    let verdict = report.verdict();
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .count();
    let warnings = report.findings.len() - errors;
    let shown = report.domain.to_unicode();
    let mut shown_fixes: Vec<&Fix> = Vec::new();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let same_as_above =
                !finding.fixes.is_empty() && finding.fixes.iter().all(|f| shown_fixes.contains(&f));
            if !same_as_above {
                shown_fixes.extend(finding.fixes.iter());
            }
            let fixes: Vec<Value> = finding
                .fixes
                .iter()
                .enumerate()
                .map(|(index, fix)| {
                    context! {
                        heading => if index == 0 {
                            lang.pick("Correzione", "Fix")
                        } else {
                            lang.pick("In alternativa", "Alternatively")
                        },
                        title => fix.case.title(lang),
                        zone => &fix.zone,
                        add => &fix.add,
                        remove => &fix.remove,
                        note => fix.note.as_ref().map(|n| n.get(lang)),
                    }
                })
                .collect();
            let evidence: Vec<Value> = finding
                .evidence
                .iter()
                .map(|e| {
                    let server = match (&e.server, e.address) {
                        (Some(name), Some(address)) => format!("{name} ({address})"),
                        (Some(name), None) => name.clone(),
                        (None, Some(address)) => address.to_string(),
                        (None, None) => "-".into(),
                    };
                    context! { server => server, query => &e.query, outcome => &e.outcome }
                })
                .collect();
            context! {
                code => finding.code.as_str(),
                label => finding.code.label(),
                severity => finding.severity().to_string(),
                message => finding.message.get(lang),
                why => finding.code.explanation(lang),
                transient => finding.transient,
                evidence => evidence,
                fixes => fixes,
                same_as_above => same_as_above,
            }
        })
        .collect();
    let servers: Vec<Value> = report
        .servers
        .iter()
        .map(|server| {
            context! {
                name => &server.name,
                address => server.address.to_string(),
                serial => server.serial,
                soa => server.soa.label(),
                soa_text => outcome_text(server.soa, lang),
                soa_ok => server.soa == Outcome::Answer,
                mx => server.mx.label(),
                mx_text => outcome_text(server.mx, lang),
                mx_ok => server.mx == Outcome::Answer,
                records => &server.records,
            }
        })
        .collect();
    // Undecided validations (no trust anchor for this root, timeouts) are not shown.
    let dnssec: Vec<Value> = report
        .dnssec
        .iter()
        .filter(|row| row.status != "indeterminate")
        .map(|row| {
            let status_text = match (row.status.as_ref(), lang) {
                ("secure", Lang::It) => "verificato (firmato)",
                ("secure", Lang::En) => "validated (signed)",
                ("insecure", Lang::It) => "non firmato (delega senza DS)",
                ("insecure", Lang::En) => "unsigned (delegation without DS)",
                (_, Lang::It) => "NON VALIDO: i resolver che verificano il DNSSEC rispondono SERVFAIL",
                (_, Lang::En) => "BOGUS: validating resolvers answer SERVFAIL",
            };
            let chain: Vec<Value> = row
                .chain
                .iter()
                .map(|link| {
                    context! {
                        zone => &link.zone,
                        ds => link.ds.join(", "),
                        keys => link.keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        valid_until => link.valid_until.and_then(|t| {
                            jiff::Timestamp::from_second(t)
                                .ok()
                                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                        }),
                    }
                })
                .collect();
            context! {
                name => &row.name,
                rtype => &row.rtype,
                status => row.status.as_ref(),
                status_text => status_text,
                ok => row.status != "bogus",
                chain => chain,
            }
        })
        .collect();
    context! {
        domain => report.domain.as_str(),
        shown => &shown,
        unicode => shown != report.domain.as_str(),
        profile => &report.profile,
        provider => &report.provider,
        zone => &report.zone,
        verdict => verdict.to_string(),
        verdict_label => verdict.label(lang),
        summary => summary(report, verdict, errors, warnings, &shown, lang),
        errors => errors,
        warnings => warnings,
        findings => findings,
        servers => servers,
        dnssec => dnssec,
    }
}

/// The verdict in one plain sentence.
fn summary(
    report: &Report,
    verdict: Verdict,
    errors: usize,
    warnings: usize,
    shown: &str,
    lang: Lang,
) -> String {
    let profile = &report.provider;
    match (verdict, lang) {
        (Verdict::Ok, Lang::It) if warnings == 0 => format!(
            "{shown} è configurato correttamente per la PEC di {profile}: la posta certificata arriva ai server del gestore."
        ),
        (Verdict::Ok, Lang::En) if warnings == 0 => format!(
            "{shown} is correctly configured for {profile}'s PEC: certified mail reaches the provider's servers."
        ),
        (Verdict::Ok, Lang::It) => format!(
            "{shown} è configurato correttamente per la PEC di {profile}; ci sono {warnings} avvisi da considerare, che non bloccano la certificazione."
        ),
        (Verdict::Ok, Lang::En) => format!(
            "{shown} is correctly configured for {profile}'s PEC; there are {warnings} warnings to consider, which do not block certification."
        ),
        (Verdict::Error, Lang::It) => format!(
            "{shown} non è configurato correttamente per la PEC di {profile}: {} da correggere. Il gestore controlla i domini certificati ogni giorno: dall'avviso ci sono 7 giorni per correggere, poi il dominio viene rimosso dai domini certificati e la PEC si blocca.",
            if errors == 1 {
                "1 errore".to_owned()
            } else {
                format!("{errors} errori")
            }
        ),
        (Verdict::Error, Lang::En) => format!(
            "{shown} is not correctly configured for {profile}'s PEC: {} to fix. The provider checks certified domains every day: from its notice there are 7 days to fix it, then the domain is removed from the certified domains and PEC mail stops.",
            if errors == 1 {
                "1 error".to_owned()
            } else {
                format!("{errors} errors")
            }
        ),
        (Verdict::TransientError, Lang::It) => format!(
            "Non è stato possibile verificare {shown}: i server DNS non hanno risposto in tempo. Può essere un problema passeggero: riprova tra qualche minuto."
        ),
        (Verdict::TransientError, Lang::En) => format!(
            "{shown} could not be verified: its DNS servers did not answer in time. It may be temporary: try again in a few minutes."
        ),
    }
}

/// What a server's answer means, in plain words.
pub(crate) fn outcome_text(outcome: Outcome, lang: Lang) -> &'static str {
    match (outcome, lang) {
        (Outcome::Answer, Lang::It) => "risposta",
        (Outcome::Answer, Lang::En) => "answer",
        (Outcome::NoData, Lang::It) => "nessun record",
        (Outcome::NoData, Lang::En) => "no record",
        (Outcome::NxDomain, Lang::It) => "nome inesistente",
        (Outcome::NxDomain, Lang::En) => "no such name",
        (Outcome::Referral, Lang::It) => "rimanda ad altri server",
        (Outcome::Referral, Lang::En) => "refers elsewhere",
        (Outcome::NotAuthoritative, Lang::It) => "risposta non autoritativa",
        (Outcome::NotAuthoritative, Lang::En) => "not authoritative",
        (Outcome::Refused, Lang::It) => "rifiuta la domanda",
        (Outcome::Refused, Lang::En) => "refuses the query",
        (Outcome::ServFail, Lang::It) => "errore del server",
        (Outcome::ServFail, Lang::En) => "server failure",
        (Outcome::OtherRcode, Lang::It) => "risposta anomala",
        (Outcome::OtherRcode, Lang::En) => "unusual reply",
        (Outcome::Timeout, Lang::It) => "non risponde (timeout)",
        (Outcome::Timeout, Lang::En) => "no reply (timeout)",
        (Outcome::Malformed, Lang::It) => "risposta malformata",
        (Outcome::Malformed, Lang::En) => "malformed reply",
        (Outcome::NetworkError, Lang::It) => "errore di rete",
        (Outcome::NetworkError, Lang::En) => "network error",
        (Outcome::NotQueried, Lang::It) => "non interrogato (indirizzo privato)",
        (Outcome::NotQueried, Lang::En) => "not queried (private address)",
    }
}
