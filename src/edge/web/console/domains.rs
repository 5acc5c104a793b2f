//! The domains: the filtered list, one domain's page, and the operators' actions on it
//! (carried out by [`crate::actions`], as on the command line).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::{Value, context};
use serde_json::Value as Json;

use super::auth::SignedIn;
use super::{FormFields, day, span, when};
use crate::Lang;
use crate::actions::{self, Command, ExceptionChange};
use crate::check::evaluate;
use crate::finding::Code;
use crate::lifecycle::{Action, State};
use crate::name::DomainName;
use crate::profile::Profile;
use crate::registry::users::DomainQuery;
use crate::registry::{CheckRecord, Domain, OutboxFilter, RegistryError};
use crate::report::{RecordedResult, Report};
use crate::web::AppState;
use crate::web::pages::ui::{Page, build_query, encode_component, query_param};
use crate::web::pages::view;

/// Domains on one page of the list.
const PAGE_SIZE: u64 = 50;
/// Checks shown on a domain's page.
const CHECKS_SHOWN: u64 = 20;

/// `GET /console/domains?state=…&profile=…&q=…&page=…`.
pub(super) async fn list(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
) -> Response {
    let lang = page.lang;
    let state_filter = query_param(&page.uri, "state")
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<State>().ok());
    let profile = query_param(&page.uri, "profile").filter(|p| !p.is_empty());
    let search = query_param(&page.uri, "q")
        .map(|q| q.trim().chars().take(100).collect::<String>())
        .filter(|q| !q.is_empty());
    let number = query_param(&page.uri, "page")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let query = DomainQuery {
        state: state_filter,
        profile: profile.clone(),
        search: search.clone(),
        limit: PAGE_SIZE,
        offset: (number - 1) * PAGE_SIZE,
    };
    let (domains, total) = match state.registry.domain_page(&query).await {
        Ok(found) => found,
        Err(error) => return page.internal(&error),
    };
    let mut profiles: BTreeSet<String> = state.site.profiles.names.iter().cloned().collect();
    match state.registry.domain_profiles().await {
        Ok(found) => profiles.extend(found),
        Err(error) => return page.internal(&error),
    }
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let mut filters: Vec<(String, String)> = Vec::new();
    if let Some(s) = state_filter {
        filters.push(("state".into(), s.as_str().into()));
    }
    if let Some(p) = &profile {
        filters.push(("profile".into(), p.clone()));
    }
    if let Some(q) = &search {
        filters.push(("q".into(), q.clone()));
    }
    let page_href = |n: u64| {
        let mut pairs = filters.clone();
        pairs.push(("page".into(), n.to_string()));
        format!("/console/domains?{}", build_query(&pairs))
    };
    let now = state.clock.now();
    let rows: Vec<Value> = domains
        .iter()
        .map(|d| row(d, now, lang, &state.zone))
        .collect();
    let states: Vec<Value> = State::ALL
        .into_iter()
        .map(|s| context! { value => s.as_str(), label => s.label(lang) })
        .collect();
    page.render(
        StatusCode::OK,
        "console/domains.html",
        context! {
            nav => "domains",
            rows => rows,
            total => total,
            number => number,
            pages => pages,
            prev_href => (number > 1).then(|| page_href(number - 1)),
            next_href => (number < pages).then(|| page_href(number + 1)),
            states => states,
            profiles => profiles.into_iter().collect::<Vec<_>>(),
            state_filter => state_filter.map(State::as_str).unwrap_or(""),
            profile_filter => profile.unwrap_or_default(),
            search => search.unwrap_or_default(),
            filtered => !filters.is_empty(),
            ..signed.context(),
        },
    )
}

/// One domain as a row of the list.
fn row(domain: &Domain, now: Timestamp, lang: Lang, zone: &TimeZone) -> Value {
    context! {
        name => domain.name.as_str(),
        href => format!("/console/domains/{}", encode_component(domain.name.as_str())),
        state => domain.status.state.as_str(),
        state_label => domain.status.state.label(lang),
        profile => &domain.profile,
        holder => &domain.holder.email,
        deadline => domain.status.deadline.map(|d| when(d, lang, zone)),
        deadline_left => domain.status.deadline.map(|d| span(now, d, lang)),
        late => domain.status.deadline.is_some_and(|d| d <= now),
        expires => domain.status.expires.map(|d| day(d, lang, zone)),
        last_check => domain.last_check.as_ref().map(|c| context! {
            at => when(c.at, lang, zone),
            ok => c.ok,
            transient => c.transient,
            codes => c.codes.iter().map(|code| code.label()).collect::<Vec<_>>(),
        }),
    }
}

/// What a page needs to show a message after an action.
enum Flash {
    None,
    Done(&'static str),
    Problem(String),
}

/// `GET /console/domains/{name}`.
pub(super) async fn show(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
    Path(name): Path<String>,
) -> Response {
    let done = match query_param(&page.uri, "done").as_deref() {
        Some("recheck") => Flash::Done("recheck"),
        Some("approve") => Flash::Done("approve"),
        Some("reject") => Flash::Done("reject"),
        Some("renew") => Flash::Done("renew"),
        Some("remove") => Flash::Done("remove"),
        Some("exception") => Flash::Done("exception"),
        _ => Flash::None,
    };
    domain_page(&state, &signed, &page, &name, StatusCode::OK, done, None).await
}

/// A domain's page.
async fn domain_page(
    state: &AppState,
    signed: &SignedIn,
    page: &Page,
    name: &str,
    status: StatusCode,
    flash: Flash,
    fresh: Option<&Report>,
) -> Response {
    let lang = page.lang;
    let Ok(name) = DomainName::parse(name) else {
        return page.not_found();
    };
    let domain = match state.registry.domain(&name).await {
        Ok(Some(domain)) => domain,
        Ok(None) => return page.not_found(),
        Err(error) => return page.internal(&error),
    };
    match details(state, &domain, lang).await {
        Ok(details) => {
            let (done, problem) = match flash {
                Flash::None => (None, None),
                Flash::Done(what) => (Some(done_message(what, lang)), None),
                Flash::Problem(problem) => (None, Some(problem)),
            };
            page.render(
                status,
                "console/domain.html",
                context! {
                    nav => "domains",
                    done => done,
                    problem => problem,
                    fresh => fresh.map(|report| view::report(report, lang)),
                    ..context! { ..details, ..signed.context() },
                },
            )
        }
        Err(error) => page.internal(&error),
    }
}

fn done_message(what: &str, lang: Lang) -> &'static str {
    match (what, lang) {
        ("recheck", Lang::It) => "Controllo richiesto.",
        ("recheck", Lang::En) => "Check requested.",
        ("approve", Lang::It) => {
            "Reinserimento approvato: il dominio è di nuovo certificato e l'intestatario riceve la conferma."
        }
        ("approve", Lang::En) => {
            "Reinstatement approved: the domain is certified again and the holder is notified."
        }
        ("reject", Lang::It) => {
            "Reinserimento respinto: il dominio resta rimosso e l'intestatario riceve l'avviso."
        }
        ("reject", Lang::En) => {
            "Reinstatement rejected: the domain stays removed and the holder is notified."
        }
        ("renew", Lang::It) => "Certificazione rinnovata.",
        ("renew", Lang::En) => "Certification renewed.",
        ("remove", Lang::It) => "Dominio rimosso dai domini certificati.",
        ("remove", Lang::En) => "Domain removed from the certified domains.",
        ("exception", Lang::It) => "Eccezione aggiornata.",
        (_, Lang::It) => "Fatto.",
        (_, Lang::En) => "Done.",
    }
}

/// Everything the domain's page shows.
async fn details(state: &AppState, domain: &Domain, lang: Lang) -> Result<Value, RegistryError> {
    let zone = &state.zone;
    let now = state.clock.now();
    let registry = &state.registry;
    let checks = registry.checks(domain.id, CHECKS_SHOWN + 1).await?;
    let transitions = registry.transitions(domain.id).await?;
    let notices = registry
        .outbox(&OutboxFilter {
            domain_id: Some(domain.id),
            ..OutboxFilter::default()
        })
        .await?;
    let status = &domain.status;
    let history: Vec<Value> = checks
        .iter()
        .take(CHECKS_SHOWN as usize)
        .enumerate()
        .map(|(i, check)| {
            let changes = checks.get(i + 1).map(|older| changes(older, check, lang));
            context! {
                at => when(check.summary.at, lang, zone),
                ok => check.summary.ok,
                transient => check.summary.transient,
                codes => check.summary.codes.iter().map(|c| c.label()).collect::<Vec<_>>(),
                warnings => check.summary.warnings.iter().map(|c| c.label()).collect::<Vec<_>>(),
                changes => changes.unwrap_or_default(),
                first => i + 1 == checks.len(),
            }
        })
        .collect();
    let latest = checks.first().map(|check| {
        let recorded = RecordedResult::read(&check.result).unwrap_or_default();
        let findings: Vec<Value> = recorded
            .findings
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                let fixes: Vec<Value> = f
                    .fix
                    .iter()
                    .map(|fix| context! { zone => &fix.zone, add => &fix.add, remove => &fix.remove })
                    .collect();
                context! {
                    label => f.code.unwrap_or_default().replace('_', " "),
                    severity => f.severity.map(|s| s.to_string()).unwrap_or_default(),
                    message => f.message,
                    fixes => fixes,
                }
            })
            .collect();
        context! { at => when(check.summary.at, lang, zone), ok => check.summary.ok, findings => findings }
    });
    let transitions: Vec<Value> = transitions
        .iter()
        .rev()
        .map(|t| {
            let t = &t.transition;
            context! {
                at => when(t.at, lang, zone),
                from => t.from.as_str(),
                from_label => t.from.label(lang),
                to => t.to.as_str(),
                to_label => t.to.label(lang),
                reason => t.reason.text(lang),
                actor => &t.actor,
            }
        })
        .collect();
    let notices: Vec<Value> = notices
        .iter()
        .rev()
        .map(|item| {
            let kind = item
                .payload
                .get("kind")
                .and_then(Json::as_str)
                .unwrap_or(item.kind.as_str());
            context! {
                kind => item.kind.as_str(),
                kind_label => item.kind.label(lang),
                what => kind,
                created => when(item.created, lang, zone),
                state => item.state.as_str(),
                accepted => item.accepted_at.map(|at| when(at, lang, zone)),
                attempts => item.attempts,
                error => &item.last_error,
            }
        })
        .collect();
    let deadline = status.deadline.map(|d| {
        context! {
            at => when(d, lang, zone),
            left => span(now, d, lang),
            late => d <= now,
        }
    });
    let expires = status.expires.map(|d| {
        context! {
            at => day(d, lang, zone),
            left => span(now, d, lang),
            late => d <= now,
        }
    });
    let s = status.state;
    Ok(context! {
        name => domain.name.as_str(),
        shown => domain.name.to_unicode(),
        href => format!("/console/domains/{}", encode_component(domain.name.as_str())),
        state => s.as_str(),
        state_label => s.label(lang),
        since => when(status.since, lang, zone),
        since_ago => span(status.since, now, lang),
        deadline => deadline,
        expires => expires,
        holder => context! {
            name => &domain.holder.name,
            email => &domain.holder.email,
            lang => crate::web::pages::ui::lang_code(domain.holder.lang),
        },
        reseller => &domain.reseller,
        profile => &domain.profile,
        exception => domain.exception.iter().map(ToString::to_string).collect::<Vec<_>>(),
        next_check => when(domain.next_check, lang, zone),
        episode => status.episode,
        last_codes => status.last_codes.iter().map(|c| c.label()).collect::<Vec<_>>(),
        history => history,
        latest => latest,
        transitions => transitions,
        notices => notices,
        can_approve => Action::Approve.allowed_in(s),
        can_remove => Action::Remove.allowed_in(s),
        can_renew => Action::Renew.allowed_in(s),
        can_recheck => s.is_monitored(),
        renew_default => status.expires.map(|e| {
            e.saturating_add(jiff::SignedDuration::from_hours(24 * 365)).map(|t| crate::clock::civil(t, zone, "%Y-%m-%d")).unwrap_or_default()
        }),
    })
}

/// What changed from the `older` check to the `newer` one: codes that appeared or went
/// away, and the servers whose answers changed.
fn changes(older: &CheckRecord, newer: &CheckRecord, lang: Lang) -> Vec<Value> {
    let mut out = Vec::new();
    // By name, as the codes were always listed here.
    let set = |codes: &[Code]| codes.iter().map(|c| c.as_str()).collect::<BTreeSet<&str>>();
    for (old, new) in [
        (set(&older.summary.codes), set(&newer.summary.codes)),
        (set(&older.summary.warnings), set(&newer.summary.warnings)),
    ] {
        for code in new.difference(&old) {
            out.push(context! { kind => "plus", text => format!("+ {}", code.replace('_', " ")) });
        }
        for code in old.difference(&new) {
            out.push(context! { kind => "minus", text => format!("− {}", code.replace('_', " ")) });
        }
    }
    let servers = |check: &CheckRecord| -> BTreeMap<String, (Vec<String>, Option<u64>, String)> {
        RecordedResult::read(&check.result)
            .unwrap_or_default()
            .nameservers
            .into_iter()
            .map(|s| {
                let mut records = s.records;
                records.sort();
                (
                    format!("{} ({})", s.name, s.address),
                    (records, s.serial, s.mx),
                )
            })
            .collect()
    };
    let (before, after) = (servers(older), servers(newer));
    let none = lang.pick("nessuno", "none");
    let show = |records: &[String], mx: &str| {
        if records.is_empty() {
            if mx.is_empty() {
                none.to_owned()
            } else {
                mx.to_uppercase()
            }
        } else {
            records.join(", ")
        }
    };
    for (server, (records, serial, mx)) in &after {
        match before.get(server) {
            None => out.push(context! { kind => "info", text => format!("{} {server}", lang.pick("nuovo server", "new server")) }),
            Some((old_records, old_serial, old_mx)) => {
                if old_records != records || old_mx != mx {
                    out.push(context! { kind => "info", text => format!("{server}: {} → {}", show(old_records, old_mx), show(records, mx)) });
                }
                if old_serial != serial {
                    let serial_text = |s: &Option<u64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    out.push(context! { kind => "info", text => format!("{server}: {} {} → {}", lang.pick("seriale", "serial"), serial_text(old_serial), serial_text(serial)) });
                }
            }
        }
    }
    for server in before.keys().filter(|s| !after.contains_key(*s)) {
        out.push(context! { kind => "info", text => format!("{} {server}", lang.pick("server scomparso", "server gone")) });
    }
    out
}

/// `POST /console/domains/{name}/{action}`.
pub(super) async fn act(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
    Path((name, action)): Path<(String, String)>,
    form: FormFields,
) -> Response {
    if let Some(refused) = signed.refusal(&page, &form) {
        return refused;
    }
    let lang = page.lang;
    let Ok(domain_name) = DomainName::parse(&name) else {
        return page.not_found();
    };
    let now = state.clock.now();
    let actor = signed.session.user.name.clone();
    let problem = |text: String| Flash::Problem(text);
    let outcome: Result<&'static str, Flash> = match action.as_str() {
        "recheck" => return recheck(&state, &signed, &page, &domain_name).await,
        "approve" => run(&state, &domain_name, Command::Approve, &actor, now, lang)
            .await
            .map(|()| "approve"),
        "reject" => {
            let reason = form.get("reason").unwrap_or_default().to_owned();
            run(
                &state,
                &domain_name,
                Command::Reject { reason },
                &actor,
                now,
                lang,
            )
            .await
            .map(|()| "reject")
        }
        "remove" => {
            let reason = form.get("reason").unwrap_or_default().to_owned();
            run(
                &state,
                &domain_name,
                Command::Remove { reason },
                &actor,
                now,
                lang,
            )
            .await
            .map(|()| "remove")
        }
        "renew" => {
            let text = form.get("expires").unwrap_or_default();
            match crate::clock::parse_instant(text, &state.zone) {
                Ok(expires) => run(
                    &state,
                    &domain_name,
                    Command::Renew { expires },
                    &actor,
                    now,
                    lang,
                )
                .await
                .map(|()| "renew"),
                Err(_) => Err(problem(match lang {
                    Lang::It => format!(
                        "Data non valida {:?}: serve una data come 2027-11-30.",
                        text.chars().take(40).collect::<String>()
                    ),
                    Lang::En => format!(
                        "Invalid date {:?}: expected a date such as 2027-11-30.",
                        text.chars().take(40).collect::<String>()
                    ),
                })),
            }
        }
        "exception" => {
            let add = form.get("add").unwrap_or_default().trim();
            let remove = form.get("remove").unwrap_or_default().trim();
            let parse = |text: &str| -> Result<Vec<ipnet::IpNet>, Flash> {
                if text.is_empty() {
                    return Ok(Vec::new());
                }
                actions::parse_network(text)
                    .map(|n| vec![n])
                    .map_err(|e| Flash::Problem(e.message(lang)))
            };
            match (parse(add), parse(remove)) {
                (Ok(add), Ok(remove)) => {
                    let change = ExceptionChange {
                        clear: false,
                        add,
                        remove,
                    };
                    actions::change_exception(&state.registry, &domain_name, &change, now)
                        .await
                        .map(|_| "exception")
                        .map_err(|e| Flash::Problem(e.message(lang)))
                }
                (Err(flash), _) | (_, Err(flash)) => Err(flash),
            }
        }
        _ => return page.not_found(),
    };
    match outcome {
        Ok(done) => Redirect::to(&format!(
            "/console/domains/{}?done={done}",
            encode_component(domain_name.as_str())
        ))
        .into_response(),
        Err(flash) => {
            domain_page(
                &state,
                &signed,
                &page,
                &name,
                StatusCode::CONFLICT,
                flash,
                None,
            )
            .await
        }
    }
}

/// Carries out a lifecycle command as the signed-in operator.
async fn run(
    state: &AppState,
    name: &DomainName,
    command: Command,
    actor: &str,
    now: Timestamp,
    lang: Lang,
) -> Result<(), Flash> {
    actions::act(
        &state.registry,
        &state.activation.policy,
        name,
        &command,
        actor,
        now,
    )
    .await
    .map(|_| ())
    .map_err(|e| Flash::Problem(e.message(lang)))
}

/// `recheck`: the domain is due for a check now (the sweep records it through the
/// lifecycle, as every check: `pecwatch serve` within 30 seconds, a cron sweep at its
/// next run), and the operator sees a check made on the spot.
async fn recheck(state: &AppState, signed: &SignedIn, page: &Page, name: &DomainName) -> Response {
    // Due now, as the API's recheck does: the sweep records the check and decides its
    // lifecycle effects like every other check's.
    let domain = match crate::actions::recheck(&state.registry, name, state.clock.now()).await {
        Ok(Some(domain)) => domain,
        Ok(None) => return page.not_found(),
        Err(error) => return page.internal(&error),
    };
    let profile = match state.site.profiles.get(&domain.profile) {
        Ok(profile) => Ok(profile),
        Err(_) => Profile::load(&domain.profile).map_err(|e| e.to_string()),
    };
    let report = match profile {
        Ok(mut profile) => {
            profile
                .extra_addresses
                .extend(domain.exception.iter().copied());
            match state.prober.resolve_profile(&profile).await {
                Ok(profile) => {
                    let observation = state.prober.observe(name).await;
                    let findings = evaluate(&observation, &profile);
                    Ok(
                        Report::new(name.as_str(), &observation, &profile.name, findings)
                            .with_provider(&profile.display_name),
                    )
                }
                Err(error) => Err(error.to_string()),
            }
        }
        Err(error) => Err(error),
    };
    match report {
        Ok(report) => {
            domain_page(
                state,
                signed,
                page,
                name.as_str(),
                StatusCode::OK,
                Flash::Done("recheck"),
                Some(&report),
            )
            .await
        }
        Err(error) => {
            domain_page(
                state,
                signed,
                page,
                name.as_str(),
                StatusCode::SERVICE_UNAVAILABLE,
                Flash::Problem(error),
                None,
            )
            .await
        }
    }
}
