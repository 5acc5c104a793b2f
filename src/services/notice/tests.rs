//! Tests of the notices: every kind in both languages, escaping, zone lines, dates in
//! Europe/Rome across DST changes, the stored check JSON, and operators' overrides.

use std::path::Path;

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::lifecycle::NoticeKind;

const LANGS: [Lang; 2] = [Lang::It, Lang::En];

fn templates() -> Templates {
    Templates::built_in().expect("built-in templates compile")
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("test instant")
}

fn aruba() -> Profile {
    Profile::built_in("aruba").expect("aruba")
}

/// Renders `context` with the built-in templates.
fn rendered(context: &NoticeContext) -> RenderedNotice {
    render(context, &templates()).expect("renders")
}

fn render_sample(kind: NoticeKind, lang: Lang) -> RenderedNotice {
    rendered(&NoticeContext::sample(kind, lang))
}

/// Writes `files` (name → content) under a fresh temporary directory.
fn override_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    dir
}

// ---------------------------------------------------------------- every kind

#[test]
fn every_template_set_renders_in_both_languages() {
    let templates = templates();
    for lang in LANGS {
        for preview in Preview::every() {
            let notice = preview
                .render(lang, &aruba(), &Provider::sample(lang), &templates)
                .unwrap_or_else(|e| panic!("{preview} {lang:?}: {e}"));
            let what = format!("{preview} ({lang:?})");
            assert!(
                notice.subject.starts_with("[PEC] "),
                "{what}: {}",
                notice.subject
            );
            assert!(!notice.subject.contains('\n'), "{what}");
            assert!(notice.text.len() > 200, "{what}: {}", notice.text);
            assert!(
                notice.text.ends_with('\n') && !notice.text.ends_with("\n\n"),
                "{what}"
            );
            assert!(notice.html.starts_with("<!DOCTYPE html>"), "{what}");
            assert!(
                notice
                    .html
                    .contains(&format!("<html lang=\"{}\">", lang_code(lang)))
            );
            assert!(notice.html.contains("<title>[PEC] "), "{what}");
            for part in [&notice.subject, &notice.text, &notice.html] {
                assert!(
                    !part.contains("{{") && !part.contains("{%"),
                    "{what}: {part}"
                );
            }
            for part in [&notice.subject, &notice.text] {
                assert!(
                    !part.contains("none") && !part.contains("None"),
                    "{what}: {part}"
                );
            }
            if preview != Preview::Alert {
                assert!(notice.text.contains("pec.esempio.it"), "{what}");
            }
            assert!(notice.text.contains("PEC Esempio S.p.A."), "{what}");
        }
    }
}

#[test]
fn italian_characters_survive_in_every_part() {
    let notice = render_sample(NoticeKind::ErrorFound, Lang::It);
    for needle in ["Ferrè", "Perché blocca la PEC", "è", "finché", "lunedì"] {
        assert!(notice.text.contains(needle), "text lacks {needle}");
        assert!(notice.html.contains(needle), "html lacks {needle}");
    }
    assert!(notice.html.contains("<meta charset=\"utf-8\">"));
    let copy = render(
        &NoticeContext::sample(NoticeKind::ErrorFound, Lang::It)
            .reseller_copy()
            .expect("the sample has a reseller"),
        &templates(),
    )
    .expect("renders");
    assert!(copy.text.starts_with("Spett.le Servizi Web Cantù S.r.l.,"));
    let removed = render_sample(NoticeKind::Removed, Lang::It);
    assert!(
        removed.subject.contains("è stato rimosso"),
        "{}",
        removed.subject
    );
}

#[test]
fn error_notice_subject_names_the_deadline_in_the_holders_language() {
    let it = render_sample(NoticeKind::ErrorFound, Lang::It);
    assert_eq!(
        it.subject,
        "[PEC] Errore di configurazione DNS per pec.esempio.it: correggere entro il 30/11/2026"
    );
    let en = render_sample(NoticeKind::ErrorFound, Lang::En);
    assert_eq!(
        en.subject,
        "[PEC] DNS configuration error for pec.esempio.it: fix it by 30/11/2026"
    );
}

#[test]
fn error_notice_explains_the_error_and_the_deadline() {
    let notice = render_sample(NoticeKind::ErrorFound, Lang::It);
    let text = &notice.text;
    assert!(text.starts_with("Gentile Studio Legale Ferrè & Associati,\n"));
    assert!(
        text.contains(
            "1. A NON CORRETTO\n   Il record MX di pec.esempio.it punta a mail.esempio.it"
        )
    );
    assert!(text.contains(&format!(
        "Perché blocca la PEC: {}",
        crate::finding::Code::A_NON_CORRETTO.explanation(Lang::It)
    )));
    assert!(text.contains("entro il 30 novembre 2026 alle 04:00 (ora italiana)"));
    assert!(
        text.contains("rimosso dalla lista dei domini certificati e dall'Indice dei gestori PEC")
    );
    assert!(text.contains("l'invio e la ricezione di messaggi PEC"));
    let en = render_sample(NoticeKind::ErrorFound, Lang::En);
    assert!(
        en.text
            .contains("by 30 November 2026 at 04:00 (Italian time)")
    );
    assert!(
        en.text
            .contains("Why it blocks PEC: The MX record sends mail")
    );
}

#[test]
fn error_notice_shows_the_stored_zone_lines() {
    let notice = render_sample(NoticeKind::ErrorFound, Lang::It);
    assert!(
        notice
            .text
            .contains("Come correggere — Record nella zona padre (zona esempio.it):")
    );
    assert!(
        notice
            .text
            .contains("     togliere:   pec IN MX 10 mail.esempio.it.\n")
    );
    assert!(
        notice
            .text
            .contains("     aggiungere: pec IN MX 10 mx.pec.aruba.it.\n")
    );
    assert!(
        notice
            .text
            .contains("aggiungere: pec IN NS dns.technorail.com.")
    );
    assert!(
        notice
            .html
            .contains("<span style=\"color:#067647;\">pec IN MX 10 mx.pec.aruba.it.</span>")
    );

    // Another provider: its own MX host, no delegation (InfoCert publishes no name servers).
    let infocert = Profile::built_in("infocert").expect("infocert");
    let context = NoticeContext::sample_for(NoticeKind::ErrorFound, Lang::En, &infocert);
    let notice = rendered(&context);
    assert!(
        notice
            .text
            .contains("     add:    pec IN MX 10 mx.cert.legalmail.it.\n")
    );
    assert!(!notice.text.contains("IN NS"));
}

#[test]
fn html_escapes_hostile_user_data() {
    let hostile = "<script>alert('x')</script>";
    let mut context = NoticeContext::sample(NoticeKind::ErrorFound, Lang::It);
    context.holder_name = Some(hostile.to_owned());
    context.reseller = Some(format!("Rivenditore {hostile}"));
    context.provider.support = "<a href=\"javascript:x\">aiuto</a>".to_owned();
    let check = json!({"findings": [{
        "code": "MX_NON_DEFINITO", "severity": "error",
        "message": "MX NON DEFINITO: <img src=x onerror=alert(1)>",
        "fix": [{"case": "parent_zone", "zone": "esempio.it",
                 "add": ["pec IN MX 10 mx.pec.aruba.it. <b>"], "remove": [], "note": null}],
    }]});
    let context = context.with_check(&check).expect("a check");
    for context in [context.clone(), context.reseller_copy().expect("reseller")] {
        let notice = rendered(&context);
        assert!(!notice.html.contains("<script>"), "{}", notice.html);
        assert!(!notice.html.contains("<img"), "{}", notice.html);
        assert!(!notice.html.contains("<b>"));
        assert!(!notice.html.contains("<a href=\"javascript"));
        assert!(notice.html.contains("&lt;script&gt;"));
        // The plain-text part is not HTML: it keeps the text as it is.
        assert!(notice.text.contains(hostile));
    }
}

#[test]
fn under_review_goes_to_operators_with_the_commands() {
    let notice = render_sample(NoticeKind::UnderReview, Lang::It);
    assert!(notice.text.starts_with("Buongiorno,\n"));
    assert!(
        notice
            .text
            .contains("pecwatch domains approve pec.esempio.it")
    );
    assert!(
        notice
            .text
            .contains("pecwatch domains reject pec.esempio.it")
    );
    assert!(
        notice
            .text
            .contains("Rivenditore: Servizi Web Cantù S.r.l.")
    );
}

#[test]
fn expiry_warnings_take_their_days_from_the_kind() {
    let thirty = render_sample(NoticeKind::ExpiryWarning { days: 30 }, Lang::It);
    assert!(
        thirty
            .text
            .contains("scade tra 30 giorni, il 23 dicembre 2026 alle 23:59 (ora italiana)"),
        "{}",
        thirty.text
    );
    let seven = render_sample(NoticeKind::ExpiryWarning { days: 7 }, Lang::En);
    assert!(
        seven
            .text
            .contains("expires in 7 days, on 30 November 2026 at 23:59"),
        "{}",
        seven.text
    );
    let one = render_sample(NoticeKind::ExpiryWarning { days: 1 }, Lang::It);
    assert!(one.text.contains("scade tra 1 giorno,"), "{}", one.text);
}

#[test]
fn activation_carries_the_set_password_link() {
    let notice = render_sample(NoticeKind::Activated, Lang::It);
    let link = "https://pec-esempio.it/imposta-password?token=7f3c9a1e5b";
    assert!(notice.text.contains(&format!("    {link}\n")));
    assert!(
        notice.html.contains(&format!("href=\"{link}\""))
            || notice.html.contains("href=\"https:&#x2f;&#x2f;")
    );
    assert!(notice.text.contains("postmaster@pec.esempio.it"));
    assert!(
        notice
            .text
            .contains("pec.esempio.it. IN MX 10 mx.pec.aruba.it.")
    );
    let mut without = NoticeContext::sample(NoticeKind::Activated, Lang::It);
    without.set_password_link = None;
    let notice = rendered(&without);
    assert!(!notice.text.contains("password"));
}

#[test]
fn a_missing_holder_name_or_deadline_reads_naturally() {
    let mut context = NoticeContext::sample(NoticeKind::ErrorFound, Lang::It);
    context.holder_name = None;
    context.deadline = None;
    let notice = rendered(&context);
    assert!(notice.text.starts_with("Gentile Cliente,\n"));
    assert!(notice.text.contains("al più presto"));
    assert_eq!(
        notice.subject,
        "[PEC] Errore di configurazione DNS per pec.esempio.it"
    );
}

#[test]
fn unicode_domains_show_both_forms() {
    let mut context = NoticeContext::sample(NoticeKind::Corrected, Lang::It);
    context.domain = DomainName::parse("pec.caffè.it").expect("idn");
    let notice = rendered(&context);
    assert!(notice.subject.contains("pec.caffè.it"));
    assert!(notice.text.contains("pec.caffè.it (pec.xn--caff-8oa.it)"));
    // The zone line is written with A-labels, as a zone file needs.
    assert!(
        notice
            .text
            .contains("pec.xn--caff-8oa.it. IN MX 10 mx.pec.aruba.it.")
    );
}

#[test]
fn alert_renders_the_held_sweep_payload() {
    let payload = json!({"alert": "sweep_held", "sweep": 7, "reason": "share of new failures 12% > 5%", "to": []});
    let provider = Provider {
        name: "Gestore".into(),
        support: "-".into(),
    };
    let alert = AlertContext::from_payload(
        &payload,
        Some(at("2026-07-01T01:00:00Z")),
        Lang::It,
        provider.clone(),
    )
    .expect("an alert");
    let notice = render_alert(&alert, &templates()).expect("renders");
    assert_eq!(
        notice.subject,
        "[PEC] Controllo n. 7 sospeso: nessun dominio ha cambiato stato"
    );
    assert!(
        notice.text.contains("avviato il 1º luglio 2026 alle 03:00"),
        "{}",
        notice.text
    );
    assert!(
        notice
            .text
            .contains("Motivo: share of new failures 12% > 5%")
    );
    assert!(notice.html.contains("12% &gt; 5%"));
    let bad = AlertContext::from_payload(&json!({"sweep": 7}), None, Lang::En, provider);
    assert!(matches!(bad, Err(NoticeError::BadAlert(_))));
}

#[test]
fn alert_about_a_domain_names_it() {
    // The payload of a lifecycle effect (an error notice that bounced).
    let payload = json!({"effect": "alert_operators", "domain": "pec.esempio.it", "reason": "the error notice bounced"});
    let provider = Provider {
        name: "Gestore".into(),
        support: "-".into(),
    };
    for (lang, subject, line) in [
        (
            Lang::It,
            "[PEC] Dominio pec.esempio.it: serve un operatore",
            "il dominio pec.esempio.it richiede l'intervento di un operatore (il 1º luglio 2026 alle 03:00)",
        ),
        (
            Lang::En,
            "[PEC] Domain pec.esempio.it: an operator is needed",
            "domain pec.esempio.it needs an operator",
        ),
    ] {
        let alert = AlertContext::from_payload(
            &payload,
            Some(at("2026-07-01T01:00:00Z")),
            lang,
            provider.clone(),
        )
        .expect("an alert");
        assert_eq!(alert.domain.as_deref(), Some("pec.esempio.it"));
        let notice = render_alert(&alert, &templates()).expect("renders");
        assert_eq!(notice.subject, subject);
        assert!(notice.text.contains(line), "{}", notice.text);
        assert!(
            notice.text.contains("the error notice bounced"),
            "{}",
            notice.text
        );
        assert!(!notice.text.contains("sospeso") && !notice.text.contains("held"));
        assert!(
            notice.html.contains("<strong>pec.esempio.it</strong>"),
            "{}",
            notice.html
        );
    }
}

// ---------------------------------------------------------------- dates

#[test]
fn deadlines_show_in_rome_time_across_dst_changes() {
    // Summer (CEST, +02:00) and winter (CET, +01:00): the same UTC hour reads differently.
    let summer = LocalTime::new(at("2026-10-24T02:00:00Z"), Lang::It).expect("time");
    assert_eq!(summer.datetime, "24 ottobre 2026 alle 04:00");
    assert_eq!(summer.iso, "2026-10-24T04:00:00+02:00");
    let winter = LocalTime::new(at("2026-10-26T02:00:00Z"), Lang::It).expect("time");
    assert_eq!(winter.datetime, "26 ottobre 2026 alle 03:00");
    assert_eq!(winter.iso, "2026-10-26T03:00:00+01:00");
    // Spring forward: 01:30 UTC on 29 March 2026 is 03:30 CEST.
    let spring = LocalTime::new(at("2026-03-29T01:30:00Z"), Lang::En).expect("time");
    assert_eq!(spring.datetime, "29 March 2026 at 03:30");

    // An error notice accepted at 04:00 CEST on 22 October: seven exact days later the
    // clocks have gone back, so the deadline is 03:00 CET on 29 October.
    let mut context = NoticeContext::sample(NoticeKind::ErrorFound, Lang::It);
    context.deadline = Some(at("2026-10-29T02:00:00Z"));
    let notice = rendered(&context);
    assert!(
        notice
            .text
            .contains("entro il 29 ottobre 2026 alle 03:00 (ora italiana)")
    );
    assert!(notice.subject.ends_with("correggere entro il 29/10/2026"));
}

#[test]
fn italian_dates_use_articles_and_elisions() {
    let day = |text: &str| LocalTime::new(at(text), Lang::It).expect("time");
    let first = day("2026-12-01T03:00:00Z");
    assert_eq!(first.the_datetime, "il 1º dicembre 2026 alle 04:00");
    assert_eq!(first.short, "01/12/2026");
    assert_eq!(day("2026-12-08T03:00:00Z").the_date, "l'8 dicembre 2026");
    assert_eq!(day("2026-12-11T03:00:00Z").the_short, "l'11/12/2026");
    assert_eq!(
        day("2026-12-18T00:15:00Z").datetime,
        "18 dicembre 2026 all'01:15"
    );
    assert_eq!(day("2026-12-18T12:00:00Z").time, "13:00");
    let en = LocalTime::new(at("2026-12-08T00:15:00Z"), Lang::En).expect("time");
    assert_eq!(en.the_datetime, "8 December 2026 at 01:15");
}

// ---------------------------------------------------------------- stored check JSON

#[test]
fn errors_come_from_the_stored_check_json() {
    let fix = json!({"case": "parent_zone", "zone": "x.it", "add": ["pec IN MX 10 mx.pec.aruba.it."], "remove": [], "note": null});
    let check = json!({
        "domain": "pec.x.it",
        "findings": [
            {"code": "MX_NON_DEFINITO", "severity": "error", "message": "MX NON DEFINITO: pec.x.it non ha record MX.", "transient": false, "servers": [], "fix": [fix]},
            {"code": "NS_SINGOLO", "severity": "warning", "message": "NS SINGOLO: …", "fix": []},
            {"code": "NS_NON_ALLINEATI", "severity": "error", "message": "NS NON ALLINEATI: ns2 risponde NODATA.", "transient": true, "fix": [fix]},
            {"code": "FUTURO_CODICE", "severity": "error", "message": "Qualcosa di nuovo.", "extra": 1},
        ],
    });
    let errors = ErrorDetail::from_check(&check, Lang::It).expect("a check");
    let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        ["MX_NON_DEFINITO", "NS_NON_ALLINEATI", "FUTURO_CODICE"]
    );
    assert_eq!(errors[0].label, "MX NON DEFINITO");
    assert_eq!(
        errors[0].message, "pec.x.it non ha record MX.",
        "a domain keeps its case"
    );
    assert_eq!(errors[1].message, "Ns2 risponde NODATA.");
    assert_eq!(errors[0].fixes[0].title, "Record nella zona padre");
    assert!(!errors[0].same_fix_as_above);
    // The same fix again is referred to, not repeated.
    assert!(errors[1].same_fix_as_above && errors[1].fixes.is_empty());
    assert!(errors[1].transient);
    // An unknown code still shows, without an explanation.
    assert_eq!(errors[2].why, "");
    assert!(errors[2].fixes.is_empty());

    let passing = json!({"findings": [], "ok": true});
    assert!(
        ErrorDetail::from_check(&passing, Lang::It)
            .expect("a check")
            .is_empty()
    );
    for bad in [
        json!("text"),
        json!({"ok": false}),
        json!({"findings": [{"severity": "error"}]}),
    ] {
        assert!(
            matches!(
                ErrorDetail::from_check(&bad, Lang::It),
                Err(NoticeError::BadCheck(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_real_report_json_reads_back() {
    // The sample is written in the shape of Report::view; this pins that shape.
    let check = sample_check(
        &DomainName::parse("pec.esempio.it").expect("name"),
        &aruba(),
        Lang::En,
    );
    let context = NoticeContext::sample(NoticeKind::Removed, Lang::En)
        .with_check(&check)
        .expect("a check");
    assert_eq!(context.errors.len(), 1);
    assert_eq!(context.errors[0].fixes.len(), 2);
    assert_eq!(
        context.errors[0].fixes[1].title,
        "Delegation to the provider's DNS"
    );
    let notice = rendered(&context);
    assert!(notice.text.contains("Error found at the last check:"));
}

// ---------------------------------------------------------------- overrides

#[test]
fn an_override_replaces_one_file_and_keeps_the_others() {
    let dir = override_dir(&[
        (
            "it/error_found.subject",
            "Avviso urgente per {{ domain.display }}",
        ),
        ("it/footer_extra.txt", "unused partial"),
        ("it/README.md", "ignored: not a template"),
    ]);
    let templates = Templates::load(dir.path()).expect("loads");
    let notice = render(
        &NoticeContext::sample(NoticeKind::ErrorFound, Lang::It),
        &templates,
    )
    .expect("renders");
    assert_eq!(notice.subject, "Avviso urgente per pec.esempio.it");
    assert!(
        notice.text.contains("Perché blocca la PEC"),
        "the built-in text stays"
    );
    assert!(
        notice
            .html
            .contains("<title>Avviso urgente per pec.esempio.it</title>")
    );
    let english = render(
        &NoticeContext::sample(NoticeKind::ErrorFound, Lang::En),
        &templates,
    )
    .expect("renders");
    assert!(english.subject.starts_with("[PEC] DNS configuration error"));
    let names: Vec<&str> = templates.overrides().map(|(name, _)| name).collect();
    assert_eq!(names, ["it/error_found.subject", "it/footer_extra.txt"]);
    templates
        .verify(&aruba(), &Provider::sample(Lang::It))
        .expect("the overrides render");
}

#[test]
fn an_overridden_base_layout_applies_to_every_notice() {
    let dir = override_dir(&[(
        "en/base.txt",
        "ACME PEC\n\n{% block greeting %}Hi,{% endblock %}\n\n{% block body %}{% endblock %}\n{% block closing %}{% endblock %}{% block footer %}{% endblock %}",
    )]);
    let templates = Templates::load(dir.path()).expect("loads");
    for kind in [NoticeKind::Corrected, NoticeKind::Expired] {
        let notice = render(&NoticeContext::sample(kind, Lang::En), &templates).expect("renders");
        assert!(
            notice.text.starts_with("ACME PEC\n\nHi,\n"),
            "{}",
            notice.text
        );
    }
}

#[test]
fn a_template_that_does_not_compile_is_an_error_naming_the_file() {
    let dir = override_dir(&[("it/corrected.txt", "Gentile {{ holder.name }},\n{% if %}\n")]);
    let error = Templates::load(dir.path()).expect_err("a syntax error");
    let path = dir.path().join("it/corrected.txt");
    match &error {
        NoticeError::Template {
            name, file, line, ..
        } => {
            assert_eq!(name, "it/corrected.txt");
            assert_eq!(Path::new(file), path);
            assert_eq!(*line, Some(2));
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("line 2"),
        "{message}"
    );
}

#[test]
fn a_template_that_does_not_render_is_an_error_naming_the_file() {
    // Compiles, but names a variable that does not exist; and a missing include.
    let dir = override_dir(&[
        (
            "en/removed.txt",
            "{% extends \"en/base.txt\" %}{% block body %}\nDear {{ holdr.name }}\n{% endblock %}",
        ),
        ("en/expired.html", "{% include \"en/nowhere.html\" %}"),
    ]);
    let templates = Templates::load(dir.path()).expect("compiles");
    let error = render(
        &NoticeContext::sample(NoticeKind::Removed, Lang::En),
        &templates,
    )
    .expect_err("an undefined variable");
    let message = error.to_string();
    let path = dir.path().join("en/removed.txt");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("line 2") && message.contains("undefined"),
        "{message}"
    );

    let error = render(
        &NoticeContext::sample(NoticeKind::Expired, Lang::En),
        &templates,
    )
    .expect_err("a missing include");
    assert!(error.to_string().contains("en/nowhere.html"), "{error}");
    assert!(
        templates
            .verify(&aruba(), &Provider::sample(Lang::It))
            .is_err()
    );
    // The other notices still render.
    render(
        &NoticeContext::sample(NoticeKind::Corrected, Lang::En),
        &templates,
    )
    .expect("renders");
}

#[test]
fn a_missing_template_directory_is_an_error() {
    let error = Templates::load(Path::new("/nonexistent/pecwatch/templates")).expect_err("missing");
    assert!(matches!(error, NoticeError::Io { .. }));
    assert!(
        error
            .to_string()
            .contains("/nonexistent/pecwatch/templates")
    );
}

#[test]
fn previews_parse_from_event_names() {
    let parse = |s: &str| s.parse::<Preview>();
    assert_eq!(
        parse("error_found"),
        Ok(Preview::Notice(NoticeKind::ErrorFound))
    );
    assert_eq!(
        parse("expiry_warning_7"),
        Ok(Preview::Notice(NoticeKind::ExpiryWarning { days: 7 }))
    );
    assert_eq!(parse("alert"), Ok(Preview::Alert));
    assert_eq!(
        parse("reseller_copy"),
        Ok(Preview::ResellerCopy(NoticeKind::ErrorFound))
    );
    assert_eq!(
        parse("reseller_copy_removed"),
        Ok(Preview::ResellerCopy(NoticeKind::Removed))
    );
    assert!(parse("error").is_err());
    assert!(parse("reseller_copy_nothing").is_err());
    for preview in Preview::every() {
        assert_eq!(parse(&preview.to_string()), Ok(preview));
    }
    // Every template set has a preview.
    for event in EVENTS {
        assert!(
            Preview::every().iter().any(|p| match p {
                Preview::Notice(kind) => event_name(*kind) == event,
                Preview::ResellerCopy(_) => event == RESELLER_COPY,
                Preview::Alert => event == ALERT,
            }),
            "{event}"
        );
    }
}

#[test]
fn an_empty_support_line_and_a_reseller_address_read_naturally() {
    let mut context = NoticeContext::sample(NoticeKind::Corrected, Lang::It);
    context.provider.support = String::new();
    context.reseller = Some("partner@rivendita.it".to_owned());
    let notice = rendered(&context);
    assert!(
        notice
            .text
            .contains("il nostro servizio di assistenza è a Sua disposizione.\n")
    );
    assert!(notice.html.contains("è a Sua disposizione.</p>"));
    let copy = rendered(&context.reseller_copy().expect("reseller"));
    assert!(copy.text.starts_with("Gentile Partner,\n"), "{}", copy.text);
    assert!(copy.text.contains("al rivenditore partner@rivendita.it"));
    assert!(
        copy.subject
            .starts_with("[PEC] Copia per il rivenditore – Configurazione DNS corretta")
    );
}

#[test]
fn the_default_provider_name_starts_its_sentences() {
    // "Il gestore PEC" (the default [notices] provider_name) is capitalised: it must never
    // stand in the middle of a sentence ("…, Il gestore PEC non può…", "di Il gestore").
    for kind in [
        NoticeKind::ErrorFound,
        NoticeKind::Removed,
        NoticeKind::UnderReview,
    ] {
        let mut context = NoticeContext::sample(kind, Lang::It);
        context.provider.name = "Il gestore PEC".into();
        let notice = rendered(&context);
        for part in [&notice.text, &notice.html] {
            for (at, _) in part.match_indices("Il gestore PEC") {
                // A sentence's or a line's start (the signature), or a parenthesis.
                let line_start = part[..at].ends_with(['\n', '(', '>']);
                let before = part[..at].trim_end();
                let starts = line_start || before.is_empty() || before.ends_with(['.', '!', '?']);
                assert!(starts, "{kind:?}: mid-sentence at {at} in {part}");
            }
        }
    }
    let notice = render_sample(NoticeKind::ErrorFound, Lang::It);
    assert!(
        notice
            .text
            .contains("PEC Esempio S.p.A. non può garantire la consegna"),
        "{}",
        notice.text
    );
}

#[test]
fn a_dnssec_error_says_why_a_signed_zone_blocks_pec_and_what_to_do() {
    let fix = json!({
        "case": "registration", "zone": "x.it", "add": [],
        "remove": ["x.it. IN DS 4242 13 2 ABCD"],
        "note": "Togliere il DS di x.it. presso il registrar (la zona non è più firmata, …)",
    });
    let check = json!({
        "domain": "pec.x.it",
        "findings": [
            {"code": "DNSSEC_NON_VALIDO", "severity": "error", "message": "Il record MX di pec.x.it non supera la verifica DNSSEC: …", "transient": false, "fix": [fix]},
            // Lowered to a warning by the profile: not in the notice.
            {"code": "DNSSEC_IN_SCADENZA", "severity": "warning", "message": "…", "fix": []},
        ],
    });
    let errors = ErrorDetail::from_check(&check, Lang::It).expect("a check");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].label, "DNSSEC NON VALIDO");
    assert!(errors[0].why.contains("SERVFAIL"), "{}", errors[0].why);
    assert_eq!(
        errors[0].fixes[0].title,
        "Registrazione o delega del dominio"
    );
    assert_eq!(errors[0].fixes[0].remove, ["x.it. IN DS 4242 13 2 ABCD"]);
    assert!(
        errors[0].fixes[0]
            .note
            .as_deref()
            .unwrap()
            .contains("registrar")
    );
    let en = ErrorDetail::from_check(&check, Lang::En).expect("a check");
    assert!(en[0].why.contains("validate DNSSEC"), "{}", en[0].why);
}
