//! End to end with a real Postfix (Debian's, a throwaway instance: `support::postfix`)
//! asking `pecwatch postfix` for its certified domains (socketmap
//! `virtual_mailbox_domains`), its mailboxes (socketmap `virtual_mailbox_maps`) and
//! whether mail may flow (policy service), on both backends. Mail is sent with swaks; the
//! configuration is the README's (`tests/fixtures/postfix/main.cf`).
//!
//! What this proves, through Postfix itself: mail to a mailbox of a certified domain is
//! accepted (250 after DATA) and delivered; an unknown mailbox is refused until it is
//! added; once the domain is removed, mail to it and from it is refused with 5.7.1 and
//! the Italian and English reason within seconds, and Postfix's socketmap lookup no
//! longer finds it; after the domain passes its checks again (under review) and an
//! operator approves it, mail flows again.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pecwatch::lifecycle::{self, Event, Policy};
use pecwatch::name::DomainName;
use pecwatch::registry::DomainUpdate;

use crate::support::db::{TestDb, on_both};
use crate::support::postfix::{PecwatchPostfix, Postfix, Sent};

/// The instant the commands run at (`PECWATCH_NOW`); later steps run later.
const NOW: &str = "2026-11-23T10:00:00+01:00";
/// How many times a change is polled for, [`POLL`] apart (the service reloads every
/// second).
const ATTEMPTS: u32 = 150;
const POLL: Duration = Duration::from_millis(100);

/// Runs `pecwatch ARGS` at `now` on `db`; panics with its output unless it succeeds.
fn pecwatch_at(db: &TestDb, now: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pecwatch"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("PECWATCH_CONFIG")
        .env("PECWATCH_DATABASE_URL", &db.url)
        .env("PECWATCH_NOW", now)
        .env("PECWATCH_LOG", "warn")
        .output()
        .expect("run pecwatch");
    assert!(
        output.status.success(),
        "pecwatch {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn pecwatch(db: &TestDb, args: &[&str]) -> String {
    pecwatch_at(db, NOW, args)
}

/// `NOW` plus `hours`, RFC 3339.
fn later(hours: i64) -> Timestamp {
    let now: Timestamp = NOW.parse().expect("instant");
    now + SignedDuration::from_hours(hours)
}

/// What the daily sweep commits when a removed domain's DNS is correct again: a passed
/// check, through the lifecycle (removed → under_review), at `at`.
async fn passes_checks_again(db: &TestDb, domain: &str, at: Timestamp) {
    let name = DomainName::parse(domain).expect("name");
    let current = db
        .registry
        .domain(&name)
        .await
        .expect("read the domain")
        .expect("registered");
    let check = Event::Check {
        at,
        ok: true,
        transient: false,
        codes: Vec::new(),
    };
    let outcome = lifecycle::apply(&current.status, &check, &Policy::default()).expect("a check");
    let update = DomainUpdate::new(&current, at).with_outcome(&current, outcome);
    db.registry
        .commit("test", at, update)
        .await
        .expect("commit the check");
}

/// Polls `attempt` until it gives `Ok`; panics with the last `Err` and both logs if it
/// never does.
fn eventually<T>(
    postfix: &Postfix,
    service: &PecwatchPostfix,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match attempt() {
            Ok(done) => return done,
            Err(now) => last = now,
        }
        std::thread::sleep(POLL);
    }
    panic!(
        "{what}: not after {ATTEMPTS} attempts; last:\n{last}\n--- Postfix log ---\n{}\n\
         --- pecwatch postfix log ---\n{}",
        postfix.log(),
        service.log()
    );
}

/// Sends from `from` to `to` until Postfix's answer satisfies `done` (see
/// [`eventually`]).
fn send_until(
    postfix: &Postfix,
    service: &PecwatchPostfix,
    what: &str,
    (from, to): (&str, &str),
    done: impl Fn(&Sent) -> bool,
) -> Sent {
    eventually(postfix, service, what, || {
        let sent = postfix.send(from, to);
        if done(&sent) {
            Ok(sent)
        } else {
            Err(sent.transcript)
        }
    })
}

/// Asserts that Postfix accepted the message.
fn assert_accepted(postfix: &Postfix, sent: &Sent, what: &str) {
    assert!(
        sent.accepted(),
        "{what}: not accepted:\n{}\n--- Postfix log ---\n{}",
        sent.transcript,
        postfix.log()
    );
}

#[tokio::test]
async fn a_real_postfix_enforces_certified_domains_and_mailboxes() {
    on_both(|db| async move {
        for domain in ["pec.alfa.it", "pec.via.it"] {
            pecwatch(
                &db,
                &["domains", "add", domain, "--holder-email", "h@esempio.it"],
            );
        }
        pecwatch(&db, &["mailboxes", "add", "mario@pec.alfa.it"]);
        pecwatch(&db, &["mailboxes", "add", "luca@pec.via.it"]);

        let service =
            PecwatchPostfix::start(&db.url, &[("PECWATCH_POSTFIX_CHECK_MAILBOXES", "true")]);
        let domains = format!(
            "socketmap:inet:127.0.0.1:{}:virtual_mailbox_domains",
            service.socketmap
        );
        let mailboxes = format!(
            "socketmap:inet:127.0.0.1:{}:virtual_mailbox_maps",
            service.socketmap
        );
        let postfix = Postfix::start(service.policy, service.socketmap, &mailboxes);

        // Postfix's own lookups through the socketmap.
        assert_eq!(
            postfix.postmap_query("pec.alfa.it", &domains).as_deref(),
            Some("OK")
        );
        assert_eq!(postfix.postmap_query("pec.nessuno.it", &domains), None);
        assert_eq!(
            postfix
                .postmap_query("mario@pec.alfa.it", &mailboxes)
                .as_deref(),
            Some("pec.alfa.it/mario/")
        );
        assert_eq!(postfix.postmap_query("anna@pec.alfa.it", &mailboxes), None);

        // A mailbox of a certified domain: accepted and delivered into its maildir.
        let sent = postfix.send("a@esterno.it", "mario@pec.alfa.it");
        assert_accepted(&postfix, &sent, "to mario@pec.alfa.it");
        let delivered = eventually(
            &postfix,
            &service,
            "delivery into pec.alfa.it/mario/",
            || {
                let messages = postfix.delivered("pec.alfa.it/mario");
                messages
                    .iter()
                    .find(|m| m.contains("Subject: prova pecwatch"))
                    .cloned()
                    .ok_or_else(|| format!("{} messages in the maildir", messages.len()))
            },
        );
        assert!(delivered.contains("To: mario@pec.alfa.it"), "{delivered}");

        // An unknown mailbox: refused, until it is added.
        let sent = postfix.send("a@esterno.it", "anna@pec.alfa.it");
        let refusal = sent.refusal().unwrap_or_default();
        assert!(
            refusal.starts_with("554 5.7.1 <anna@pec.alfa.it>: Recipient address rejected: ")
                && refusal.contains("Casella PEC anna@pec.alfa.it inesistente")
                && refusal.contains("PEC mailbox anna@pec.alfa.it does not exist"),
            "{}",
            sent.transcript
        );
        pecwatch(&db, &["mailboxes", "add", "anna@pec.alfa.it"]);
        send_until(
            &postfix,
            &service,
            "anna@pec.alfa.it accepted once added",
            ("a@esterno.it", "anna@pec.alfa.it"),
            Sent::accepted,
        );

        // Removed: refused to and from within seconds, and gone from the socketmap.
        let sent = postfix.send("a@esterno.it", "luca@pec.via.it");
        assert_accepted(&postfix, &sent, "to luca@pec.via.it while certified");
        pecwatch(
            &db,
            &["domains", "remove", "pec.via.it", "--reason", "prova"],
        );
        let refused = send_until(
            &postfix,
            &service,
            "mail to the removed pec.via.it refused",
            ("a@esterno.it", "luca@pec.via.it"),
            |sent| sent.refusal().is_some(),
        );
        assert_eq!(
            refused.refusal(),
            Some(
                "554 5.7.1 <luca@pec.via.it>: Recipient address rejected: Dominio PEC \
                 pec.via.it non certificato (rimosso): invio e ricezione bloccati / PEC \
                 domain pec.via.it is not certified (removed): sending and receiving are \
                 blocked"
            ),
            "{}",
            refused.transcript
        );
        assert!(!refused.accepted());
        let from_removed = postfix.send("luca@pec.via.it", "mario@pec.alfa.it");
        let refusal = from_removed.refusal().unwrap_or_default();
        assert!(
            refusal.starts_with("554 5.7.1 ")
                && refusal.contains("Dominio PEC pec.via.it non certificato (rimosso)")
                && refusal.contains("PEC domain pec.via.it is not certified (removed)"),
            "a sender in a removed domain: {}",
            from_removed.transcript
        );
        assert_eq!(postfix.postmap_query("pec.via.it", &domains), None);
        assert_eq!(postfix.postmap_query("luca@pec.via.it", &mailboxes), None);

        // Reinstated: its DNS passes the checks again (under review: still refused),
        // then an operator approves it and mail flows again.
        passes_checks_again(&db, "pec.via.it", later(1)).await;
        let under_review = send_until(
            &postfix,
            &service,
            "pec.via.it refused as under review",
            ("a@esterno.it", "luca@pec.via.it"),
            |sent| sent.refusal().is_some_and(|r| r.contains("(under_review)")),
        );
        assert!(!under_review.accepted());
        pecwatch_at(
            &db,
            &later(2).to_string(),
            &["domains", "approve", "pec.via.it"],
        );
        send_until(
            &postfix,
            &service,
            "mail to pec.via.it accepted after the approval",
            ("a@esterno.it", "luca@pec.via.it"),
            Sent::accepted,
        );
        let sent = postfix.send("luca@pec.via.it", "mario@pec.alfa.it");
        assert_accepted(&postfix, &sent, "from luca@pec.via.it after the approval");
        assert_eq!(
            postfix.postmap_query("pec.via.it", &domains).as_deref(),
            Some("OK")
        );

        // A mailbox removed: refused again.
        pecwatch(&db, &["mailboxes", "remove", "anna@pec.alfa.it"]);
        send_until(
            &postfix,
            &service,
            "anna@pec.alfa.it refused once removed",
            ("a@esterno.it", "anna@pec.alfa.it"),
            |sent| sent.refusal().is_some_and(|r| r.contains("inesistente")),
        );
    })
    .await;
}
