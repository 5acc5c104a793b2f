//! Notices over real SMTP (`tests/fixtures/smtp/server.py`, aiosmtpd): what the holder
//! receives, the deadline counted from the acceptance, a mail server down for an hour,
//! refusals, resending, and exactly-once delivery.

use pecwatch::lifecycle::State;
use pecwatch::name::DomainName;
use pecwatch::registry::{AlertKind, Domain, OutboxFilter, OutboxState, Registry};
use serde_json::Value;

use crate::support::cli::run;
use crate::support::db::{TestDb, on_both};
use crate::support::smtp::{Security, SmtpServer};

/// Runs pecwatch at `now` on `db` against the lab and `smtp`; returns stdout, panics on
/// another exit status than `expected`.
fn pecwatch(db: &TestDb, smtp: &SmtpServer, now: &str, args: &[&str], expected: i32) -> String {
    pecwatch_with(db, smtp, now, args, &[], expected)
}

/// [`pecwatch`] with more environment variables.
fn pecwatch_with(
    db: &TestDb,
    smtp: &SmtpServer,
    now: &str,
    args: &[&str],
    extra: &[(&str, &str)],
    expected: i32,
) -> String {
    let relay = smtp.url();
    let mut env = vec![
        ("PECWATCH_SMTP_URL", relay.as_str()),
        (
            "PECWATCH_SMTP_FROM",
            "Monitor PEC <monitor@gestore.example>",
        ),
        ("PECWATCH_SWEEP_OPERATORS", "noc@gestore.example"),
        ("PECWATCH_NOTICES_PROVIDER_NAME", "Gestore PEC di prova"),
    ];
    env.extend_from_slice(extra);
    let output = run(&db.url, now, args, &env, expected);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Registers `domain` for `holder` and confirms its failure: two sweeps an hour apart
/// (at 03:00 and 04:00 Rome on 23 November 2026).
fn register_and_confirm(db: &TestDb, smtp: &SmtpServer, domain: &str, holder: &str) {
    let t0 = "2026-11-23T02:00:00+01:00";
    pecwatch(
        db,
        smtp,
        t0,
        &[
            "domains",
            "add",
            domain,
            "--holder-email",
            holder,
            "--holder-name",
            "Niccolò Rossi <Srl>",
            "--reseller",
            "rivenditore@rivendita.example",
            "--expires",
            "2027-06-30",
        ],
        0,
    );
    pecwatch(db, smtp, "2026-11-23T03:00:00+01:00", &["sweep"], 0);
    pecwatch(db, smtp, "2026-11-23T04:00:00+01:00", &["sweep"], 0);
}

async fn domain(registry: &Registry, name: &str) -> Domain {
    registry
        .domain(&DomainName::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap()
}

fn send(db: &TestDb, smtp: &SmtpServer, now: &str) -> Value {
    let out = pecwatch(db, smtp, now, &["notices", "send", "--format", "json"], 0);
    serde_json::from_str(&out).expect("send prints JSON")
}

#[tokio::test]
async fn the_error_notice_as_received_and_the_deadline_from_its_acceptance() {
    on_both(|db| async move {
        let smtp = SmtpServer::start();
        register_and_confirm(&db, &smtp, "pec.nomx.it", "titolare@esempio.it");
        let queued = domain(&db.registry, "pec.nomx.it").await;
        assert_eq!(queued.status.state, State::InError);
        assert_eq!(
            queued.status.deadline, None,
            "not before the notice is accepted"
        );

        let sent = send(&db, &smtp, "2026-11-23T04:05:00+01:00");
        assert_eq!(
            (sent["sent"].as_u64(), sent["failed"].as_u64()),
            (Some(1), Some(0))
        );
        let after = domain(&db.registry, "pec.nomx.it").await;
        assert_eq!(
            after.status.deadline,
            Some("2026-11-30T03:05:00Z".parse().unwrap()),
            "7 days from the acceptance (04:05 Rome)"
        );

        let received = smtp.received();
        assert_eq!(
            received.len(),
            2,
            "the holder's notice and the reseller's copy"
        );
        let notice = &received[0];
        assert_eq!(notice.mail_from, "monitor@gestore.example");
        assert_eq!(notice.rcpt_tos, ["titolare@esempio.it"]);
        assert_eq!(notice.parsed["type"], "multipart/alternative");
        let subject = notice.header("Subject").unwrap();
        assert!(subject.contains("pec.nomx.it"), "{subject}");
        assert!(
            notice
                .header("Message-ID")
                .unwrap()
                .starts_with("<pecwatch.")
        );
        assert!(notice.header("Date").is_some());
        assert!(
            notice.header("To").unwrap().contains("Niccolò Rossi"),
            "{:?}",
            notice.header("To")
        );
        // On the wire the headers are 7-bit (RFC 2047 encoded words), the parts UTF-8.
        let to_line = notice.raw.lines().find(|l| l.starts_with("To:")).unwrap();
        assert!(to_line.contains("=?utf-8?"), "{to_line}");
        assert!(
            notice.raw.lines().all(|l| l.is_ascii()),
            "7-bit on the wire"
        );
        let text = notice.part("text/plain").unwrap();
        assert_eq!(text["charset"], "utf-8");
        let text = text["text"].as_str().unwrap();
        assert!(text.contains("Niccolò"), "{text}");
        assert!(
            text.contains("pec.nomx.it esiste ma non ha alcun record MX"),
            "{text}"
        );
        assert!(
            text.contains("aggiungere: pec IN MX 10 mx.pec.aruba.it."),
            "{text}"
        );
        assert!(text.contains("30 novembre 2026 alle 04:05"), "{text}");
        let html = notice.part("text/html").unwrap()["text"].as_str().unwrap();
        assert!(
            html.contains("Niccolò Rossi &lt;Srl&gt;"),
            "escaped: {html}"
        );
        assert!(!html.contains("<Srl>"));
        let copy = &received[1];
        assert_eq!(copy.rcpt_tos, ["rivenditore@rivendita.example"]);
        assert_ne!(copy.header("Message-ID"), notice.header("Message-ID"));

        // Exactly once: nothing more to send, and the outbox says what the server said.
        let again = send(&db, &smtp, "2026-11-23T05:00:00+01:00");
        assert_eq!(again["sent"], 0);
        assert_eq!(smtp.received().len(), 2);
        let items = db.registry.outbox(&OutboxFilter::default()).await.unwrap();
        let item = items
            .iter()
            .find(|i| i.key.ends_with("error_found"))
            .unwrap();
        assert_eq!(item.state, OutboxState::Sent);
        assert!(
            item.reply
                .as_deref()
                .unwrap()
                .starts_with("250 2.0.0 Ok: queued as PW")
        );
        assert_eq!(item.message_id.as_deref(), notice.header("Message-ID"));

        // The operators can list, show and resend it.
        let listed = pecwatch(
            &db,
            &smtp,
            "2026-11-23T05:00:00+01:00",
            &["notices", "list"],
            0,
        );
        assert!(
            listed.contains("pec.nomx.it") && listed.contains("sent"),
            "{listed}"
        );
        let id = item.id.to_string();
        let shown = pecwatch(
            &db,
            &smtp,
            "2026-11-23T05:00:00+01:00",
            &["notices", "show", &id, "--format", "json"],
            0,
        );
        let shown: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(shown["state"], "sent");
        pecwatch(
            &db,
            &smtp,
            "2026-11-23T05:01:00+01:00",
            &["notices", "resend", &id],
            0,
        );
        let resent = send(&db, &smtp, "2026-11-23T05:02:00+01:00");
        assert_eq!(resent["sent"], 1);
        let received = smtp.received();
        assert_eq!(received.len(), 4, "notice and copy again");
        assert_ne!(
            received[2].header("Message-ID"),
            notice.header("Message-ID")
        );
        let deadline = domain(&db.registry, "pec.nomx.it").await.status.deadline;
        assert_eq!(
            deadline, after.status.deadline,
            "a resend does not move the deadline"
        );
    })
    .await;
}

#[tokio::test]
async fn notices_wait_while_the_mail_server_is_down() {
    on_both(|db| async move {
        let mut smtp = SmtpServer::start();
        register_and_confirm(&db, &smtp, "pec.wronga.it", "titolare@esempio.it");
        smtp.stop();
        // Down for an hour: every attempt is deferred, nothing starts the clock.
        for minute in ["04:05", "04:07", "04:30", "05:00"] {
            let now = format!("2026-11-23T{minute}:00+01:00");
            let pass = send(&db, &smtp, &now);
            assert_eq!(pass["sent"], 0, "{now}: {pass}");
        }
        let items = db.registry.outbox(&OutboxFilter::default()).await.unwrap();
        let item = items
            .iter()
            .find(|i| i.key.ends_with("error_found"))
            .unwrap();
        assert_eq!(item.state, OutboxState::Pending);
        assert!(item.attempts >= 2, "{item:?}");
        assert!(item.last_error.is_some());
        assert_eq!(
            domain(&db.registry, "pec.wronga.it").await.status.deadline,
            None
        );

        // Back: it goes out, and the 7 days run from this acceptance.
        smtp.resume();
        let pass = send(&db, &smtp, "2026-11-23T05:15:00+01:00");
        assert_eq!(pass["sent"], 1, "{pass}");
        assert_eq!(
            domain(&db.registry, "pec.wronga.it").await.status.deadline,
            Some("2026-11-30T04:15:00Z".parse().unwrap())
        );
        let received = smtp.received();
        assert_eq!(
            received
                .iter()
                .filter(|m| m.rcpt_tos == ["titolare@esempio.it"])
                .count(),
            1,
            "sent once"
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_notice_fails_and_the_clock_does_not_start() {
    on_both(|db| async move {
        let smtp = SmtpServer::start();
        register_and_confirm(&db, &smtp, "pec.nomx.it", "rifiuta@esempio.it");
        let pass = send(&db, &smtp, "2026-11-23T04:05:00+01:00");
        assert_eq!(pass["failed"], 1, "{pass}");
        let failed = pecwatch(
            &db,
            &smtp,
            "2026-11-23T04:06:00+01:00",
            &["notices", "list", "--state", "failed"],
            0,
        );
        assert!(failed.contains("pec.nomx.it"), "{failed}");
        assert!(
            failed.contains("550"),
            "the server's refusal is shown: {failed}"
        );
        let nomx = domain(&db.registry, "pec.nomx.it").await;
        assert_eq!(nomx.status.state, State::InError);
        assert_eq!(nomx.status.deadline, None);
        // No copy without the notice; an alert for the operators, recorded and mailed
        // in the same pass, naming the domain and the reason.
        let alerts = db.registry.alerts(10).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::NoticeFailed);
        assert!(alerts[0].message.contains("550"), "{:?}", alerts[0]);
        let received = smtp.received();
        assert_eq!(received.len(), 1, "{received:#?}");
        assert_eq!(received[0].rcpt_tos, ["noc@gestore.example"]);
        assert_eq!(
            received[0].header("Subject"),
            Some("[PEC] Dominio pec.nomx.it: serve un operatore")
        );
        let text = received[0].part("text/plain").unwrap()["text"]
            .as_str()
            .unwrap();
        assert!(text.contains("550"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn notices_go_through_starttls_and_tls_with_authentication() {
    on_both(|db| async move {
        let plain = SmtpServer::start();
        register_and_confirm(&db, &plain, "pec.nomx.it", "titolare@esempio.it");
        let item_id = db.registry.outbox(&OutboxFilter::default()).await.unwrap()[0].id;
        let id = item_id.to_string();
        let registry = &db.registry;
        let item = || async move { registry.outbox_item(item_id).await.unwrap().unwrap() };
        for (n, security) in [Security::StartTls, Security::Tls].into_iter().enumerate() {
            let smtp = SmtpServer::start_with(security, Some("pecwatch:segreto"));
            let now = format!("2026-11-23T04:{:02}:00+01:00", 10 + n);
            let send = |env: &[(&str, &str)]| -> Value {
                let out = pecwatch_with(
                    &db,
                    &smtp,
                    &now,
                    &["notices", "send", "--format", "json"],
                    env,
                    0,
                );
                serde_json::from_str(&out).unwrap()
            };
            let login = [
                ("PECWATCH_SMTP_USERNAME", "pecwatch"),
                ("PECWATCH_SMTP_PASSWORD", "segreto"),
                ("PECWATCH_SMTP_TIMEOUT", "5s"),
            ];
            // The relay's certificate comes from a private CA: not trusted without it.
            pecwatch(&db, &smtp, &now, &["notices", "resend", &id], 0);
            let untrusted = send(&login);
            assert_eq!(untrusted["sent"], 0, "{security:?}: {untrusted}");
            let error = item().await.last_error.unwrap_or_default();
            assert!(error.contains("certificate"), "{security:?}: {error}");
            assert!(smtp.received().is_empty());
            // Trusted through smtp.ca_file, and logged in: delivered.
            let ca = smtp.ca_file();
            let mut trusted = login.to_vec();
            trusted.push(("PECWATCH_SMTP_CA_FILE", ca.to_str().unwrap()));
            pecwatch(&db, &smtp, &now, &["notices", "resend", &id], 0);
            let delivered = send(&trusted);
            let last = item().await;
            assert_eq!(delivered["sent"], 1, "{security:?}: {delivered} {last:?}");
            assert_eq!(
                smtp.received()[0].rcpt_tos,
                ["titolare@esempio.it"],
                "{security:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_killed_sender_never_sends_a_notice_under_two_message_ids() {
    on_both(|db| async move {
        const DOMAINS: usize = 200;
        let smtp = SmtpServer::start();
        let mut csv = String::from("domain,holder_email\n");
        for i in 0..DOMAINS {
            csv.push_str(&format!("d{i}.manybad.it,titolare{i}@esempio.it\n"));
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), csv).unwrap();
        let path = file.path().to_str().unwrap();
        let share = [("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1")];
        let at = |time: &str| format!("2026-11-23T{time}:00+01:00");
        pecwatch(&db, &smtp, &at("09:00"), &["domains", "import", path], 0);
        pecwatch_with(&db, &smtp, &at("10:00"), &["sweep"], &share, 0);
        pecwatch_with(&db, &smtp, &at("11:00"), &["sweep"], &share, 0);

        // Three senders killed (SIGKILL) at random moments, each when the server has
        // received a random number of messages; each restart comes after the claims of
        // the dead one lapsed (5 minutes).
        let seed = jiff::Timestamp::now().subsec_nanosecond().unsigned_abs() as usize;
        eprintln!("sender crash test seed: {seed}");
        let mut killed = 0;
        for (n, time) in ["11:10", "11:20", "11:30"].into_iter().enumerate() {
            let target = smtp.received().len() + 1 + (seed >> (n * 4)) % (DOMAINS / 4);
            let mut child = crate::support::cli::pecwatch(
                &db.url,
                Some(&at(time)),
                &["notices", "send"],
                &[
                    ("PECWATCH_SMTP_URL", smtp.url().as_str()),
                    (
                        "PECWATCH_SMTP_FROM",
                        "Monitor PEC <monitor@gestore.example>",
                    ),
                ],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if smtp.received().len() >= target {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    killed += 1;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            eprintln!("{time}: killed after {} messages", smtp.received().len());
        }
        assert!(killed >= 2, "most senders must have been killed mid-way");
        let last = send(&db, &smtp, &at("12:00"));
        eprintln!("12:00: {last}");

        // Every notice sent and recorded, every deadline started; a message received
        // twice (killed between the server's acceptance and our commit) carries the same
        // Message-ID both times.
        let items = db.registry.outbox(&OutboxFilter::default()).await.unwrap();
        assert_eq!(items.len(), DOMAINS);
        assert!(
            items.iter().all(|i| i.state == OutboxState::Sent),
            "{items:?}"
        );
        let received = smtp.received();
        let mut by_holder = std::collections::BTreeMap::<String, Vec<String>>::new();
        for message in &received {
            let id = message.header("Message-ID").unwrap().to_owned();
            by_holder
                .entry(message.rcpt_tos[0].clone())
                .or_default()
                .push(id);
        }
        assert_eq!(by_holder.len(), DOMAINS, "every holder got the notice");
        for (holder, ids) in &by_holder {
            let mut distinct = ids.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), 1, "{holder}: {ids:?}");
        }
        let duplicates = received.len() - DOMAINS;
        assert!(
            duplicates <= killed,
            "{duplicates} duplicates for {killed} kills"
        );
        for item in &items {
            let domain = db
                .registry
                .domain_by_id(item.domain_id.unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(domain.status.state, State::InError);
            assert!(domain.status.deadline.is_some(), "{}", domain.name);
            assert_eq!(
                item.message_id.as_deref(),
                by_holder[&domain.holder.email].first().map(String::as_str)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_bounce_takes_the_grace_period_back() {
    on_both(|db| async move {
        let smtp = SmtpServer::start();
        register_and_confirm(&db, &smtp, "pec.nomx.it", "titolare@esempio.it");
        send(&db, &smtp, "2026-11-23T04:05:00+01:00");
        let accepted = domain(&db.registry, "pec.nomx.it").await;
        assert!(accepted.status.deadline.is_some());
        let notice = &smtp.received()[0];
        let message_id = notice.header("Message-ID").unwrap();
        // The holder's server accepted it, then could not deliver it: Postfix-style DSN.
        let dsn = format!(
            "From: MAILER-DAEMON@esempio.it (Mail Delivery System)\n\
             To: monitor@gestore.example\nSubject: Undelivered Mail Returned to Sender\n\
             Message-ID: <20261123.ABC@esempio.it>\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
             --B\nContent-Type: text/plain\n\nThe mail system could not deliver it.\n\n\
             --B\nContent-Type: message/delivery-status\n\n\
             Reporting-MTA: dns; mx.esempio.it\n\n\
             Final-Recipient: rfc822; titolare@esempio.it\nAction: failed\nStatus: 5.2.2\n\
             Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n\n\
             --B\nContent-Type: text/rfc822-headers\n\n\
             From: Monitor PEC <monitor@gestore.example>\nMessage-ID: {message_id}\n\n--B--\n"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), dsn).unwrap();
        let path = file.path().to_str().unwrap();
        let out = pecwatch(
            &db,
            &smtp,
            "2026-11-23T09:00:00+01:00",
            &["notices", "bounce", path, "--format", "json"],
            0,
        );
        let outcome: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(outcome["bounce"], "recorded", "{out}");

        // The notice failed, the 7 days wait for a notice that is delivered, operators know.
        let after = domain(&db.registry, "pec.nomx.it").await;
        assert_eq!(after.status.state, State::InError);
        assert_eq!(after.status.deadline, None);
        let items = db.registry.outbox(&OutboxFilter::default()).await.unwrap();
        let item = items
            .iter()
            .find(|i| i.key.ends_with("error_found"))
            .unwrap();
        assert_eq!(item.state, OutboxState::Failed);
        assert!(
            item.last_error
                .as_deref()
                .unwrap()
                .contains("552 5.2.2 Mailbox full")
        );
        let alerts = db.registry.alerts(10).await.unwrap();
        assert!(
            alerts.iter().any(|a| a.kind == AlertKind::NoticeBounced),
            "{alerts:?}"
        );

        // Resent and accepted: the 7 days start from the new acceptance.
        let id = item.id.to_string();
        pecwatch(
            &db,
            &smtp,
            "2026-11-23T10:00:00+01:00",
            &["notices", "resend", &id],
            0,
        );
        send(&db, &smtp, "2026-11-23T10:01:00+01:00");
        assert_eq!(
            domain(&db.registry, "pec.nomx.it").await.status.deadline,
            Some("2026-11-30T09:01:00Z".parse().unwrap())
        );
        // The operators were told, by an alert naming the domain.
        let alert = smtp
            .received()
            .into_iter()
            .find(|m| m.rcpt_tos == ["noc@gestore.example"])
            .expect("an alert to the operators");
        let subject = alert.header("Subject").unwrap_or_default().to_owned();
        assert_eq!(subject, "[PEC] Dominio pec.nomx.it: serve un operatore");
        let text = alert.part("text/plain").unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.contains("bounced"), "{text}");
        // Something else piped in is ignored without an error.
        std::fs::write(file.path(), "Subject: ciao\n\nnon è un rapporto").unwrap();
        let out = pecwatch(
            &db,
            &smtp,
            "2026-11-23T11:00:00+01:00",
            &["notices", "bounce", path],
            0,
        );
        assert!(out.contains("not a bounce"), "{out}");
    })
    .await;
}

/// Writes a value straight into a domain's row, as an older version (or a hand edit)
/// may have left it: nothing checks it on the way in.
async fn seed(db: &TestDb, domain: &str, column: &str, value: &str) {
    let sql = format!("UPDATE domains SET {column} = $1 WHERE name = $2");
    let sql = sqlx::AssertSqlSafe(sql);
    let done = match &db.registry {
        Registry::Sqlite(pool) => sqlx::query(sql)
            .bind(value)
            .bind(domain)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()),
        Registry::Postgres(pool) => sqlx::query(sql)
            .bind(value)
            .bind(domain)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()),
    };
    assert_eq!(done.unwrap(), 1, "{domain}");
}

#[tokio::test]
async fn bad_values_in_the_registry_never_stop_the_holders_notice_or_the_alert() {
    on_both(|db| async move {
        let smtp = SmtpServer::start();
        let share = [
            ("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1"),
            ("PECWATCH_SMTP_GIVE_UP_AFTER", "1h"),
        ];
        let at = |time: &str| format!("2026-11-23T{time}:00+01:00");
        let mut csv = String::from("domain,holder_email,reseller\n");
        for i in 1..=7 {
            let holder = match i {
                6 => "rifiuta6@esempio.it".to_owned(),
                7 => "riprova7@esempio.it".to_owned(),
                _ => format!("titolare{i}@esempio.it"),
            };
            csv.push_str(&format!(
                "d{i}.manybad.it,{holder},rivenditore{i}@rivendita.example\n"
            ));
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), csv).unwrap();
        let path = file.path().to_str().unwrap();
        pecwatch_with(
            &db,
            &smtp,
            &at("09:00"),
            &["domains", "import", path],
            &share,
            0,
        );
        // The values the checks at entry now refuse, written as an older version left them.
        seed(&db, "d1.manybad.it", "reseller", "bad reseller@evil.it").await;
        let injected = "Rossi\r\nBcc: spia@evil.it";
        seed(&db, "d2.manybad.it", "holder_name", injected).await;
        seed(&db, "d3.manybad.it", "holder_name", "Rossi\rSrl").await;
        seed(&db, "d4.manybad.it", "holder_name", &"N".repeat(100_000)).await;
        seed(&db, "d5.manybad.it", "holder_email", "bad holder@evil.it").await;
        pecwatch_with(&db, &smtp, &at("10:00"), &["sweep"], &share, 0);
        pecwatch_with(&db, &smtp, &at("11:00"), &["sweep"], &share, 0);

        let pass = |time: &str| -> Value {
            let out = pecwatch_with(
                &db,
                &smtp,
                &at(time),
                &["notices", "send", "--format", "json"],
                &share,
                0,
            );
            serde_json::from_str(&out).unwrap()
        };
        pass("11:05");
        // The deferred one is retried until given up (an hour after it was queued).
        pass("12:10");
        pass("12:11");

        let received = smtp.received();
        let to = |address: &str| -> Vec<&crate::support::smtp::Received> {
            received
                .iter()
                .filter(|m| m.rcpt_tos.iter().any(|r| r == address))
                .collect()
        };
        // The holders of d1 to d4 got their notice, once, and their 7 days run.
        for i in 1..=4 {
            let holder = format!("titolare{i}@esempio.it");
            assert_eq!(to(&holder).len(), 1, "{holder}: {received:#?}");
            let domain = domain(&db.registry, &format!("d{i}.manybad.it")).await;
            assert_eq!(domain.status.state, State::InError);
            assert!(
                domain.status.deadline.is_some(),
                "d{i}: {:?}",
                domain.status
            );
        }
        // Nothing was injected: no Bcc header, nothing for the spy, one line per header.
        let d2 = to("titolare2@esempio.it")[0];
        assert!(!d2.raw.lines().any(|l| l.starts_with("Bcc:")), "{}", d2.raw);
        assert!(to("spia@evil.it").is_empty());
        assert!(
            d2.header("To").unwrap().contains("Rossi"),
            "{:?}",
            d2.header("To")
        );
        let d4 = to("titolare4@esempio.it")[0];
        assert!(d4.header("To").unwrap().len() < 1_000, "the name is capped");
        // d5 (an address the composer refuses), d6 (refused by the relay), d7 (retries
        // exhausted): no deadline, and the operators are alerted by mail, naming the domain.
        for i in 5..=7 {
            let domain = domain(&db.registry, &format!("d{i}.manybad.it")).await;
            assert_eq!(domain.status.deadline, None, "d{i}");
        }
        let alerts = db.registry.alerts(50).await.unwrap();
        let alert = |kind: &str, domain: &str| {
            alerts
                .iter()
                .find(|a| a.kind.as_str() == kind && a.message.starts_with(domain))
                .unwrap_or_else(|| panic!("no {kind} alert for {domain}: {alerts:#?}"))
                .message
                .clone()
        };
        assert!(alert("reseller_copy_failed", "d1.manybad.it").contains("bad reseller"));
        assert!(alert("notice_failed", "d5.manybad.it").contains("not an address"));
        assert!(alert("notice_failed", "d6.manybad.it").contains("550"));
        assert!(alert("notice_failed", "d7.manybad.it").contains("given up"));
        let mailed: Vec<String> = to("noc@gestore.example")
            .iter()
            .map(|m| m.header("Subject").unwrap_or_default().to_owned())
            .collect();
        for i in [1, 5, 6, 7] {
            let subject = format!("[PEC] Dominio d{i}.manybad.it: serve un operatore");
            assert!(mailed.contains(&subject), "{subject}: {mailed:?}");
        }
        // The other resellers got their copies; d1's bad address got nothing.
        assert_eq!(to("rivenditore2@rivendita.example").len(), 1);
        assert!(
            received
                .iter()
                .all(|m| !m.rcpt_tos.iter().any(|r| r.contains("evil")))
        );
    })
    .await;
}

#[tokio::test]
async fn the_smtp_password_never_travels_in_clear_unless_allowed() {
    on_both(|db| async move {
        // A relay that offers AUTH without STARTTLS (as a careless one does).
        let smtp = SmtpServer::start_with(Security::Plain, Some("pecwatch:segreto"));
        register_and_confirm(&db, &smtp, "pec.nomx.it", "titolare@esempio.it");
        let login = [
            ("PECWATCH_SMTP_USERNAME", "pecwatch"),
            ("PECWATCH_SMTP_PASSWORD", "segreto"),
        ];
        let out = pecwatch_with(
            &db,
            &smtp,
            "2026-11-23T04:05:00+01:00",
            &["notices", "send", "--format", "json"],
            &login,
            0,
        );
        let pass: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (pass["sent"].as_u64(), pass["deferred"].as_u64()),
            (Some(0), Some(1))
        );
        let items = db.registry.outbox(&OutboxFilter::default()).await.unwrap();
        let item = items
            .iter()
            .find(|i| i.key.ends_with("error_found"))
            .unwrap();
        assert_eq!(item.state, OutboxState::Pending);
        let error = item.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("STARTTLS") && error.contains("allow_plaintext_auth"),
            "{error}"
        );
        assert!(smtp.received().is_empty());
        assert_eq!(smtp.auth_log(), "", "no AUTH reached the relay");
        assert_eq!(
            domain(&db.registry, "pec.nomx.it").await.status.deadline,
            None
        );

        // Allowed: the relay gets the login, and the notice.
        let mut allowed = login.to_vec();
        allowed.push(("PECWATCH_SMTP_ALLOW_PLAINTEXT_AUTH", "true"));
        let out = pecwatch_with(
            &db,
            &smtp,
            "2026-11-23T04:10:00+01:00",
            &["notices", "send", "--format", "json"],
            &allowed,
            0,
        );
        let pass: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(pass["sent"], 1, "{pass}");
        assert!(smtp.auth_log().contains("segreto"), "{}", smtp.auth_log());
        assert_eq!(smtp.received()[0].rcpt_tos, ["titolare@esempio.it"]);
    })
    .await;
}
