//! Activation: orders, verification of a pending domain against the real lab, the
//! activation notice with its set-password link over real SMTP, the password set through
//! the link, mailboxes only in certified domains.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::cli::run;
use crate::support::db::{TestDb, on_both};
use crate::support::lab::lab;
use crate::support::smtp::SmtpServer;

const T0: &str = "2026-11-23T10:00:00+01:00";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_str(stdout(output).trim()).expect("JSON output")
}

fn unique_label(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// Writes a set-password link to a file of its own, for `--link-file`.
fn link_file(dir: &Path, link: &str) -> String {
    write_password(dir, "link", link)
}

fn write_password(dir: &Path, name: &str, password: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{password}\n")).expect("write password file");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_are_checked_approved_and_rejected() {
    on_both(orders).await;
}

#[tokio::test]
async fn orders_arrive_as_a_file() {
    on_both(order_file).await;
}

/// A reseller's batch: checked whole first (nothing recorded while one line is wrong),
/// then placed line by line, a name already taken refused on its own line.
async fn order_file(db: TestDb) {
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    let path = file.to_str().unwrap();
    let env = [("PECWATCH_PROVISION_INTERNAL_ZONE", "legalmail.it")];
    let list = |format: &str| run(url, T0, &["orders", "list", "--format", format], &env, 0);

    std::fs::write(
        &file,
        "name,kind,holder_email,holder_name,reseller\n\
         pec.primo.it,own,a@primo.it,\"Primo, S.r.l.\",r@rivenditore.it\n\
         acme,internal,b@acme.it,,r@rivenditore.it\n\
         -acme,internal,c@acme.it,,\n\
         pec.primo.it,own,d@primo.it,,\n",
    )
    .unwrap();
    let refused = run(url, T0, &["orders", "import", path], &env, 2);
    let message = stderr(&refused);
    assert!(message.contains("riga 4:"), "{message}");
    assert!(
        message.contains("riga 5: pec.primo.it è già alla riga 2"),
        "{message}"
    );
    assert!(message.contains("nessun ordine registrato"), "{message}");
    assert!(
        String::from_utf8_lossy(&list("json").stdout)
            .trim()
            .is_empty()
    );

    // Fixed; and one name is taken meanwhile.
    run(
        url,
        T0,
        &[
            "orders",
            "add",
            "pec.preso.it",
            "--holder-email",
            "x@preso.it",
        ],
        &env,
        0,
    );
    std::fs::write(
        &file,
        "# the reseller's batch of Monday\n\
         name,kind,holder_email,holder_name,lang,reseller,expires\n\
         pec.primo.it,own,a@primo.it,\"Primo, S.r.l.\",en,r@rivenditore.it,2027-12-31\n\
         acme,internal,b@acme.it,,,r@rivenditore.it,\n\
         pec.preso.it,,c@preso.it,,,,\n",
    )
    .unwrap();
    let placed = run(
        url,
        T0,
        &["orders", "import", path, "--lang", "en"],
        &env,
        1,
    );
    let out = String::from_utf8_lossy(&placed.stdout).into_owned();
    assert!(out.contains("line 3: pec.primo.it #"), "{out}");
    assert!(out.contains("line 4: acme.legalmail.it #"), "{out}");
    assert!(out.contains("line 5: pec.preso.it: refused:"), "{out}");
    assert!(out.contains("2 orders recorded, 1 refused"), "{out}");
    let orders: Vec<Value> = String::from_utf8_lossy(&list("json").stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let state = |name: &str| {
        orders
            .iter()
            .find(|o| o["order"]["name"] == name)
            .map(|o| (o["order"]["state"].clone(), o["domain_state"].clone()))
    };
    // The own domain is approved at once and awaits its DNS; the internal one waits for
    // an operator; the holder's details came through.
    assert_eq!(
        state("pec.primo.it"),
        Some(("approved".into(), "pending_dns".into()))
    );
    assert_eq!(
        state("acme.legalmail.it"),
        Some(("received".into(), Value::Null))
    );
    let primo = orders
        .iter()
        .find(|o| o["order"]["name"] == "pec.primo.it")
        .unwrap();
    assert_eq!(primo["order"]["holder"]["name"], "Primo, S.r.l.", "{primo}");
    assert_eq!(primo["order"]["holder"]["lang"], "en", "{primo}");
    assert_eq!(primo["order"]["reseller"], "r@rivenditore.it", "{primo}");
    assert_eq!(orders.len(), 3, "{orders:?}");
}

async fn orders(db: TestDb) {
    let url = db.url.as_str();
    let add = |name: &str, extra: &[&str], env: &[(&str, &str)], expected| {
        let mut args = vec!["orders", "add", name, "--holder-email", "titolare@acme.it"];
        args.extend_from_slice(extra);
        run(url, T0, &args, env, expected)
    };

    // Internal subdomains need the provider's zone.
    let refused = add("acme", &["--kind", "internal"], &[], 2);
    assert!(
        stderr(&refused).contains("non offre sottodomini interni"),
        "{}",
        stderr(&refused)
    );

    // An own domain is approved at once: registered, awaiting its DNS.
    let placed = json(&add("PEC.Nuovo.it", &["--format", "json"], &[], 0));
    assert_eq!(placed["order"]["name"], "pec.nuovo.it");
    assert_eq!(placed["order"]["state"], "approved");
    assert_eq!(placed["domain_state"], "pending_dns");
    let steps: Vec<&str> = placed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["approved"]);
    let shown = run(
        url,
        T0,
        &["domains", "show", "pec.nuovo.it", "--format", "json"],
        &[],
        0,
    );
    assert_eq!(json(&shown)["state"], "pending_dns");

    // The same name again: refused, whether as a domain or as an open order.
    let twice = add("pec.nuovo.it", &[], &[], 2);
    assert!(
        stderr(&twice).contains("già registrato o ordinato"),
        "{}",
        stderr(&twice)
    );
    let bad = add("pec..nuovo.it", &[], &[], 2);
    assert!(stderr(&bad).contains("non valido"), "{}", stderr(&bad));
    let bad_email = run(
        url,
        T0,
        &[
            "orders",
            "add",
            "pec.altro.it",
            "--holder-email",
            "nessuna-chiocciola",
        ],
        &[],
        2,
    );
    assert!(
        stderr(&bad_email).contains("e-mail"),
        "{}",
        stderr(&bad_email)
    );

    // With review, an own domain waits for an operator.
    let review = [("PECWATCH_ACTIVATION_REVIEW_OWN_DOMAINS", "true")];
    let waiting = json(&add("pec.attesa.it", &["--format", "json"], &review, 0));
    assert_eq!(waiting["order"]["state"], "received");
    assert_eq!(waiting["domain_state"], Value::Null);
    let id = waiting["order"]["id"].as_i64().unwrap().to_string();
    let approved = run(
        url,
        T0,
        &[
            "orders", "approve", &id, "--actor", "ops", "--format", "json",
        ],
        &[],
        0,
    );
    let approved = json(&approved);
    assert_eq!(approved["order"]["state"], "approved");
    assert_eq!(approved["order"]["actor"], "ops");
    assert_eq!(approved["domain_state"], "pending_dns");
    let again = run(url, T0, &["orders", "approve", &id], &[], 2);
    assert!(
        stderr(&again).contains("già approvato"),
        "{}",
        stderr(&again)
    );

    // A rejected order registers nothing, and its name can be ordered again.
    let rejected_order = json(&add("pec.no.it", &["--format", "json"], &review, 0));
    let id = rejected_order["order"]["id"].as_i64().unwrap().to_string();
    let rejected = run(
        url,
        T0,
        &[
            "orders",
            "reject",
            &id,
            "--reason",
            "dati incompleti",
            "--format",
            "json",
        ],
        &[],
        0,
    );
    let rejected = json(&rejected);
    assert_eq!(rejected["order"]["state"], "rejected");
    assert_eq!(rejected["order"]["reason"], "dati incompleti");
    run(url, T0, &["domains", "show", "pec.no.it"], &[], 2);
    add("pec.no.it", &[], &review, 0);

    let listed = stdout(&run(
        url,
        T0,
        &["orders", "list", "--state", "received"],
        &[],
        0,
    ));
    assert!(listed.contains("pec.no.it"), "{listed}");
    assert!(!listed.contains("pec.nuovo.it"), "{listed}");

    // Internal subdomains: label rules, reserved names, the provider's zone.
    let zone = [("PECWATCH_PROVISION_INTERNAL_ZONE", "pec.gestore.it")];
    {
        let reserved = add("www", &["--kind", "internal"], &zone, 2);
        assert!(
            stderr(&reserved).contains("nome riservato"),
            "{}",
            stderr(&reserved)
        );
        let hyphen = add("acme-", &["--kind", "internal"], &zone, 2);
        assert!(stderr(&hyphen).contains("'-'"), "{}", stderr(&hyphen));
        let inside = add("x.pec.gestore.it", &[], &zone, 2);
        assert!(
            stderr(&inside).contains("sottodominio interno"),
            "{}",
            stderr(&inside)
        );
        let internal = json(&add(
            "acme",
            &["--kind", "internal", "--format", "json"],
            &zone,
            0,
        ));
        assert_eq!(internal["order"]["name"], "acme.pec.gestore.it");
        assert_eq!(internal["order"]["state"], "received");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mailboxes_live_only_in_certified_domains() {
    on_both(mailboxes).await;
}

async fn mailboxes(db: TestDb) {
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    run(
        url,
        T0,
        &[
            "domains",
            "add",
            "pec.certo.it",
            "--holder-email",
            "a@certo.it",
        ],
        &[],
        0,
    );
    run(
        url,
        T0,
        &[
            "orders",
            "add",
            "pec.attesa.it",
            "--holder-email",
            "a@attesa.it",
        ],
        &[],
        0,
    );

    // Not in a pending domain, nor in an unknown one, nor with a bad address.
    let pending = run(
        url,
        T0,
        &["mailboxes", "add", "mario@pec.attesa.it"],
        &[],
        2,
    );
    assert!(
        stderr(&pending).contains("solo nei domini certificati"),
        "{}",
        stderr(&pending)
    );
    let unknown = run(
        url,
        T0,
        &["mailboxes", "add", "mario@pec.ignoto.it"],
        &[],
        2,
    );
    assert!(
        stderr(&unknown).contains("non è un dominio registrato"),
        "{}",
        stderr(&unknown)
    );
    run(
        url,
        T0,
        &["mailboxes", "add", "ma rio@pec.certo.it"],
        &[],
        2,
    );

    // In a certified domain: created, with a set-password link.
    let added = json(&run(
        url,
        T0,
        &[
            "mailboxes",
            "add",
            "Mario.Rossi@PEC.certo.it",
            "--format",
            "json",
        ],
        &[],
        0,
    ));
    assert_eq!(added["mailbox"]["address"], "mario.rossi@pec.certo.it");
    assert_eq!(added["mailbox"]["has_password"], false);
    let link = added["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with("http://127.0.0.1:8080/password/"),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 43, "{token}");
    run(
        url,
        T0,
        &["mailboxes", "add", "mario.rossi@pec.certo.it"],
        &[],
        2,
    );

    // Only the token's hash is stored.
    let stored: Vec<String> = sqlx_strings(&db, "SELECT token_hash FROM password_links").await;
    let expected: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored, [expected]);

    // A weak password is refused and leaves the link usable; a good one uses it up.
    let weak = write_password(dir.path(), "weak", "password");
    let refused = run(
        url,
        T0,
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            &link_file(dir.path(), &link),
            "--password-file",
            &weak,
        ],
        &[],
        2,
    );
    assert!(
        stderr(&refused).contains("password rifiutata"),
        "{}",
        stderr(&refused)
    );
    let good = write_password(dir.path(), "good", "Cavallo-Batteria-42");
    let set = run(
        url,
        T0,
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            &link_file(dir.path(), &link),
            "--password-file",
            &good,
        ],
        &[],
        0,
    );
    assert!(
        stdout(&set).contains("mario.rossi@pec.certo.it"),
        "{}",
        stdout(&set)
    );
    let reused = run(
        url,
        T0,
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            &link_file(dir.path(), &link),
            "--password-file",
            &good,
        ],
        &[],
        2,
    );
    assert!(
        stderr(&reused).contains("link già usato"),
        "{}",
        stderr(&reused)
    );
    let hashes = sqlx_strings(&db, "SELECT password_hash FROM mailboxes").await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"), "{}", hashes[0]);
    assert!(!hashes[0].contains("Cavallo"));

    // A link expires (72 hours by default), and a new one replaces the old.
    let second = stdout(&run(
        url,
        T0,
        &["mailboxes", "link", "mario.rossi@pec.certo.it"],
        &[],
        0,
    ));
    let third = stdout(&run(
        url,
        T0,
        &["mailboxes", "link", "mario.rossi@pec.certo.it"],
        &[],
        0,
    ));
    let replaced = run(
        url,
        T0,
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            &link_file(dir.path(), second.trim()),
            "--password-file",
            &good,
        ],
        &[],
        2,
    );
    assert!(
        stderr(&replaced).contains("link non valido"),
        "{}",
        stderr(&replaced)
    );
    let late = run(
        url,
        "2026-11-26T11:00:00+01:00",
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            &link_file(dir.path(), third.trim()),
            "--password-file",
            &good,
        ],
        &[],
        2,
    );
    assert!(stderr(&late).contains("link scaduto"), "{}", stderr(&late));

    // The link never on the command line (`ps` shows it to every user): refused there,
    // with the way to pass it; taken from standard input, before the password.
    let fourth = stdout(&run(
        url,
        T0,
        &["mailboxes", "link", "mario.rossi@pec.certo.it"],
        &[],
        0,
    ));
    let fourth = fourth.trim();
    let on_argv = run(
        url,
        T0,
        &[
            "mailboxes",
            "set-password",
            fourth,
            "--password-file",
            &good,
        ],
        &[],
        2,
    );
    assert!(
        stderr(&on_argv).contains("--link-file"),
        "{}",
        stderr(&on_argv)
    );
    assert!(!stderr(&on_argv).contains(fourth), "the link is not echoed");
    let mut piped =
        crate::support::cli::pecwatch(url, Some(T0), &["mailboxes", "set-password"], &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run pecwatch mailboxes set-password");
    {
        use std::io::Write as _;
        let mut input = piped.stdin.take().unwrap();
        write!(input, "{fourth}\nAltra-Password-2026\n").unwrap();
    }
    let piped = piped.wait_with_output().unwrap();
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert!(
        stdout(&piped).contains("mario.rossi@pec.certo.it"),
        "{}",
        stdout(&piped)
    );

    let listed = stdout(&run(
        url,
        T0,
        &["mailboxes", "list", "pec.certo.it"],
        &[],
        0,
    ));
    assert!(
        listed.contains("mario.rossi@pec.certo.it") && listed.contains("password impostata"),
        "{listed}"
    );
    run(
        url,
        T0,
        &["mailboxes", "remove", "mario.rossi@pec.certo.it"],
        &[],
        0,
    );
    run(
        url,
        T0,
        &["mailboxes", "remove", "mario.rossi@pec.certo.it"],
        &[],
        2,
    );
    let empty = stdout(&run(url, T0, &["mailboxes", "list"], &[], 0));
    assert!(empty.contains("nessuna casella"), "{empty}");
}

async fn sqlx_strings(db: &TestDb, sql: &'static str) -> Vec<String> {
    match &db.registry {
        pecwatch::registry::Registry::Sqlite(pool) => {
            sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
        }
        pecwatch::registry::Registry::Postgres(pool) => {
            sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
        }
    }
}

/// Sweeps at 10:MM on 23 November for each of `minutes` until `name` is certified (the
/// DNS written on one server reaches the others within a moment); whether it was.
fn sweep_until_certified(url: &str, name: &str, env: &[(&str, &str)], minutes: &[u32]) -> bool {
    for minute in minutes {
        let now = format!("2026-11-23T10:{minute:02}:00+01:00");
        run(url, &now, &["sweep"], env, 0);
        let shown = json(&run(
            url,
            &now,
            &["domains", "show", name, "--format", "json"],
            env,
            0,
        ));
        if shown["state"] == "certified" {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    false
}

/// Adds (or removes) `label MX 10 mx.pec.aruba.it.` in `cliente.it` on both of its
/// servers: the holder following the instructions for a new subdomain.
fn set_mx(label: &str, present: bool) {
    let lab = lab();
    for server in ["ns1", "ns2"] {
        lab.knotc(server, &["zone-begin", "cliente.it"]);
        if present {
            lab.knotc(
                server,
                &[
                    "zone-set",
                    "cliente.it",
                    label,
                    "60",
                    "MX",
                    "10",
                    "mx.pec.aruba.it.",
                ],
            );
        } else {
            lab.knotc(server, &["zone-unset", "cliente.it", label]);
        }
        lab.knotc(server, &["zone-commit", "cliente.it"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_becomes_a_working_pec_domain() {
    on_both(activation).await;
}

async fn activation(db: TestDb) {
    let url = db.url.as_str();
    let smtp = SmtpServer::start();
    let relay = smtp.url();
    let env = [("PECWATCH_SMTP_URL", relay.as_str())];
    let label = unique_label("pec-act");
    let name = format!("{label}.cliente.it");

    // The order, with a reseller who gets a copy of the activation notice.
    let placed = json(&run(
        url,
        T0,
        &[
            "orders",
            "add",
            &name,
            "--holder-email",
            "titolare@acme.it",
            "--holder-name",
            "Acme Srl",
            "--reseller",
            "partner@rivenditore.it",
            "--format",
            "json",
        ],
        &env,
        0,
    ));
    let id = placed["order"]["id"].as_i64().unwrap().to_string();
    assert_eq!(placed["domain_state"], "pending_dns");

    // Its DNS is not there yet: the check fails, the domain keeps waiting, rechecked
    // in 10 minutes.
    let first = json(&run(url, T0, &["sweep", "--format", "json"], &env, 0));
    assert_eq!(first["checked"], 1, "{first}");
    let shown = json(&run(
        url,
        T0,
        &["domains", "show", &name, "--format", "json"],
        &env,
        0,
    ));
    assert_eq!(shown["state"], "pending_dns", "{shown}");
    let nothing = stdout(&run(url, "2026-11-23T10:05:00+01:00", &["sweep"], &env, 0));
    assert!(
        nothing.contains("Nessun dominio da controllare"),
        "{nothing}"
    );

    // The holder adds the MX on both servers; the next recheck verifies it.
    set_mx(&label, true);
    let verified = sweep_until_certified(url, &name, &env, &[10, 20, 30, 40, 50]);
    set_mx(&label, false);
    assert!(verified, "{name} was never verified");

    // The activation notice goes out: to the holder with the link, to the reseller
    // without it.
    let now = "2026-11-23T11:00:00+01:00";
    // Request logs on: neither the token nor the password may appear in them.
    let web = crate::support::web::start(url, now, &[("PECWATCH_LOG", "info")]).await;
    let links = web.url("/password/");
    let send_env = [
        ("PECWATCH_SMTP_URL", relay.as_str()),
        ("PECWATCH_ACTIVATION_PASSWORD_LINK_URL", links.as_str()),
    ];
    run(url, now, &["notices", "send"], &send_env, 0);
    let received = smtp.received();
    let holder: Vec<_> = received
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == "titolare@acme.it"))
        .collect();
    let reseller: Vec<_> = received
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == "partner@rivenditore.it"))
        .collect();
    assert_eq!(holder.len(), 1, "{received:#?}");
    assert_eq!(reseller.len(), 1, "{received:#?}");
    let text = holder[0].part("text/plain").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&format!("postmaster@{name}")), "{text}");
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with(&links))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    assert!(
        !reseller[0].raw.contains("/password/"),
        "{}",
        reseller[0].raw
    );
    assert!(
        reseller[0].part("text/plain").unwrap()["text"]
            .as_str()
            .unwrap()
            .contains(&name)
    );

    // The holder opens the link and sets the postmaster's password on the web page
    // (mismatched and weak passwords are refused first), then creates a mailbox.
    let client = crate::support::web::client();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("postmaster@{name}")), "{html}");
    let post = |password: &'static str, confirm: &'static str| {
        let client = client.clone();
        let link = link.clone();
        async move {
            let body = format!("password={password}&confirm={confirm}");
            let response = client
                .post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, html) = post("Cavallo-Batteria-42", "Cavallo-Batteria-43").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("non coincidono"), "{html}");
    let (status, html) = post("soloparole", "soloparole").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("almeno due tipi"), "{html}");
    let (status, html) = post("Cavallo-Batteria-42", "Cavallo-Batteria-42").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Password impostata"), "{html}");
    let (status, html) = post("Cavallo-Batteria-42", "Cavallo-Batteria-42").await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("già stato usato"), "{html}");
    let (_, log) = web.stop();
    assert!(log.contains("/password/…"), "no request log: {log}");
    assert!(!log.contains("Cavallo"), "the password was logged: {log}");
    let token = link.rsplit('/').next().unwrap();
    assert!(!log.contains(token), "the token was logged: {log}");
    run(
        url,
        now,
        &["mailboxes", "add", &format!("mario@{name}")],
        &env,
        0,
    );
    let listed = run(
        url,
        now,
        &["mailboxes", "list", &name, "--format", "json"],
        &env,
        0,
    );
    let mailboxes: Vec<Value> = stdout(&listed)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary: Vec<(String, bool)> = mailboxes
        .iter()
        .map(|m| {
            (
                m["address"].as_str().unwrap().to_owned(),
                m["has_password"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (format!("mario@{name}"), false),
            (format!("postmaster@{name}"), true)
        ]
    );

    // Every step is on record, once.
    let shown = json(&run(
        url,
        now,
        &["orders", "show", &id, "--format", "json"],
        &env,
        0,
    ));
    assert_eq!(shown["domain_state"], "certified");
    let mut steps: Vec<&str> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    steps.sort_unstable();
    assert_eq!(
        steps,
        [
            "approved",
            "certified",
            "password_link",
            "password_set",
            "postmaster",
            "published"
        ]
    );
    // The index lists it from now on.
    let published: Vec<String> =
        sqlx_strings(&db, "SELECT name FROM domains WHERE state = 'certified'").await;
    assert_eq!(published, [name]);
}

/// Whose DNS the provider writes itself at activation.
#[derive(Clone, Copy, Debug)]
enum ProviderWrites {
    /// An internal subdomain `label.aruba.it`: the MX in the provider's zone.
    Internal,
    /// An own domain in `ospitato.it`, a customer zone on the provider's DNS.
    HostedZone,
    /// An own domain `label.delega.it` that the customer delegated to the provider's
    /// name servers: the provider creates the zone (catalog member, RFC 9432).
    Delegation,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_writes_its_own_dns_by_signed_update() {
    on_both(|db| provider_writes(db, ProviderWrites::Internal)).await;
    on_both(|db| provider_writes(db, ProviderWrites::HostedZone)).await;
    on_both(|db| provider_writes(db, ProviderWrites::Delegation)).await;
}

async fn provider_writes(db: TestDb, case: ProviderWrites) {
    use crate::support::lab::{CUSTOMER_PRIMARY, PROVIDER_PRIMARY, lab_key, lab_profile};
    use pecwatch::dns::tsig::TsigKey;
    use pecwatch::dns::update::{Change, Update, UpdateClient, UpdateOutcome};

    let url = db.url.as_str();
    let lab = lab();
    let key = lab_key("dns1/pecwatch-lab-test-only.key")
        .display()
        .to_string();
    let members = lab.member_dir().display().to_string();
    let profile = lab_profile().display().to_string();
    let env = [
        ("PECWATCH_PROVISION_PRIMARY", PROVIDER_PRIMARY),
        ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it"),
        ("PECWATCH_PROVISION_TSIG_KEY_FILE", key.as_str()),
        ("PECWATCH_PROVISION_CATALOG_ZONE", "catalog.aruba.invalid"),
        ("PECWATCH_PROVISION_ZONE_DIR", members.as_str()),
        ("PECWATCH_PROVISION_HOSTMASTER", "hostmaster@aruba.it"),
        ("PECWATCH_PROVISION_TTL", "60"),
    ];
    let label = unique_label("acme");
    let name = match case {
        ProviderWrites::Internal => format!("{label}.aruba.it"),
        ProviderWrites::HostedZone => format!("{label}.ospitato.it"),
        ProviderWrites::Delegation => format!("{label}.delega.it"),
    };
    let domain = pecwatch::name::DomainName::parse(&name).unwrap();

    // The customer's delegation of the name to the provider's name servers, by UPDATE to
    // the customer's own primary (with the customer's key).
    let customer = UpdateClient::new(
        CUSTOMER_PRIMARY.parse().unwrap(),
        TsigKey::from_file(&lab_key("dyn/cliente-lab-test-only.key")).unwrap(),
    );
    let ns = |text: &str| hickory_proto::rr::Name::from_ascii(text).unwrap();
    if matches!(case, ProviderWrites::Delegation) {
        let mut delegation = Update::new(ns("delega.it."));
        for server in ["dns1.aruba.it.", "dns2.aruba.it."] {
            delegation = delegation.change(Change::Add(hickory_proto::rr::Record::from_rdata(
                domain.to_dns(),
                60,
                hickory_proto::rr::RData::NS(hickory_proto::rr::rdata::NS(ns(server))),
            )));
        }
        assert_eq!(customer.send(&delegation).await, Ok(UpdateOutcome::Applied));
    }

    let target = match case {
        ProviderWrites::Internal => label.as_str(),
        _ => name.as_str(),
    };
    let mut args = vec!["orders", "add", target];
    if matches!(case, ProviderWrites::Internal) {
        args.extend(["--kind", "internal"]);
    }
    args.extend([
        "--holder-email",
        "titolare@acme.it",
        "--profile",
        &profile,
        "--format",
        "json",
    ]);
    let placed = json(&run(url, T0, &args, &env, 0));
    let id = placed["order"]["id"].as_i64().unwrap().to_string();
    assert_eq!(placed["order"]["name"], name.as_str());
    if matches!(case, ProviderWrites::Internal) {
        // An internal subdomain waits for an operator; nothing is written before.
        assert_eq!(placed["order"]["state"], "received");
        run(url, T0, &["orders", "approve", &id], &env, 0);
    }

    // Before each sweep the provider's DNS is written on its primary (TSIG-signed
    // UPDATE), which notifies its secondary; the first check that passes on both
    // activates the domain.
    let verified = sweep_until_certified(url, &name, &env, &[0, 10, 20, 30, 40, 50]);
    let shown = json(&run(
        url,
        T0,
        &["orders", "show", &id, "--format", "json"],
        &env,
        0,
    ));

    // Clean the lab's zones (they persist between runs) before asserting.
    let provisioner = {
        let vars = env.map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = pecwatch::config::Config::from_sources(None, None, vars).unwrap();
        pecwatch::provision::Provisioner::from_config(&config)
            .unwrap()
            .unwrap()
    };
    let lab_profile = pecwatch::profile::Profile::load(&profile).unwrap();
    let removed = match case {
        ProviderWrites::Internal => {
            provisioner
                .remove_internal_subdomain(&label, &lab_profile)
                .await
        }
        ProviderWrites::HostedZone => {
            provisioner
                .remove_own_domain_mx(&domain, &lab_profile)
                .await
        }
        ProviderWrites::Delegation => {
            let removed = provisioner.remove_delegated_zone(&domain).await;
            let undo = Update::new(ns("delega.it.")).change(Change::DeleteRrset(
                domain.to_dns(),
                hickory_proto::rr::RecordType::NS,
            ));
            assert_eq!(customer.send(&undo).await, Ok(UpdateOutcome::Applied));
            removed
        }
    };
    assert!(verified, "{name} was never verified: {shown}");
    assert!(
        matches!(removed, Ok(pecwatch::provision::Removed::Removed { .. })),
        "{removed:?}"
    );
    let provisioned = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "dns_provisioned")
        .unwrap_or_else(|| panic!("no dns_provisioned step: {shown}"));
    let detail = provisioned["detail"].as_str().unwrap();
    let expected = match case {
        ProviderWrites::Delegation => format!("PTR {name}."),
        _ => "MX 10 mx.pec.aruba.it.".to_owned(),
    };
    assert!(
        detail.contains(&format!("{name}.")) && detail.contains(&expected),
        "{detail}"
    );
}
