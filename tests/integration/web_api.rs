//! The machine side of `pecwatch web`, over real TCP against the real binary, on both
//! backends where the registry is involved: the index over HTTP (ETag, 304,
//! Last-Modified), API tokens, pagination, actions, checks against the DNS lab,
//! `/metrics`, `/healthz`, problems, the rate limit, the OpenAPI document, `pecwatch
//! serve` serving the same interface, and `pecwatch postfix`'s own metrics.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::support::cli::{pecwatch, run};
use crate::support::db::{TestDb, create, on_both};
use crate::support::lab::{lab, lab_profile};
use crate::support::web::{Server, client, free_port, parse_exposition, spawn, start, token};

/// When the domains are registered.
const T0: &str = "2026-11-23T09:00:00Z";
/// When the servers start (their clocks run from there).
const T1: &str = "2026-11-23T10:00:00Z";

fn certificate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index/provider.pem")
}

/// A complete `[index]` from the environment.
fn index_env(certificate: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("PECWATCH_INDEX_PROVIDER_NAME", "Esempio PEC S.p.A.".into()),
        (
            "PECWATCH_INDEX_MAIL_RECEIPT",
            "posta-certificata@pec.esempio.it".into(),
        ),
        (
            "PECWATCH_INDEX_CERTIFICATE",
            certificate.display().to_string(),
        ),
        (
            "PECWATCH_INDEX_LDIF_URL",
            "https://www.esempio.it/pec/provider.ldif".into(),
        ),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

/// Registers `domain` (certified) at `now` through the command line.
fn add(db: &TestDb, now: &str, domain: &str) {
    run(
        &db.url,
        now,
        &[
            "domains",
            "add",
            domain,
            "--holder-email",
            "titolare@esempio.it",
            "--expires",
            "2027-12-31",
        ],
        &[],
        0,
    );
}

/// The status, headers and JSON of an answer, held to the API's contract (the schema
/// `/openapi.json` gives it: `support::contract`).
async fn body(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    crate::support::contract::checked(response).await
}

/// Asserts an RFC 9457 problem of `kind` with `status`, and returns it.
async fn problem(response: reqwest::Response, status: StatusCode, kind: &str) -> Value {
    let (got, headers, value) = body(response).await;
    assert_eq!(got, status, "{value}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{value}"
    );
    assert_eq!(
        value["type"],
        format!("tag:pecwatch,2026:problem:{kind}"),
        "{value}"
    );
    assert_eq!(value["status"], status.as_u16(), "{value}");
    assert!(
        value["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{value}"
    );
    assert!(
        value["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{value}"
    );
    value
}

// ---------------------------------------------------------------------------------------
// The index over HTTP
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_index_has_a_strong_etag_answers_304_and_moves_its_last_modified_on_a_removal() {
    on_both(|db| async move {
        for domain in ["pec.uno.it", "pec.due.it", "pec.tre.it"] {
            add(&db, T0, domain);
        }
        let env = index_env(&certificate());
        let server = start(&db.url, T1, &env_refs(&env)).await;
        let http = client();
        let url = server.url("/index.ldif");

        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let ldif = response.text().await.unwrap();
        // Exactly what `index export` writes, tagged with its SHA-256.
        let exported = run(&db.url, T1, &["index", "export"], &env_refs(&env), 0);
        assert_eq!(ldif, String::from_utf8(exported.stdout).unwrap());
        assert!(ldif.contains("managedDomains: pec.tre.it\n"), "{ldif}");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", pecwatch::index::ldif_hash(&ldif)));
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
        // Registered at T0, first served at T1 (plus the few seconds of the test): not
        // before T1.
        let modified_at = pecwatch::web::parse_http_date(&modified).unwrap();
        assert!(modified_at >= T1.parse().unwrap(), "{modified}");

        // HEAD: the same headers, no body.
        let head = http.head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()[header::ETAG], etag.as_str());
        assert_eq!(head.headers()[header::LAST_MODIFIED], modified.as_str());
        assert!(head.text().await.unwrap().is_empty());

        // Conditional requests.
        let with = |name: header::HeaderName, value: &str| {
            http.get(&url).header(name, value.to_owned()).send()
        };
        let same = with(header::IF_NONE_MATCH, &etag).await.unwrap();
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(same.headers()[header::ETAG], etag.as_str());
        assert!(same.text().await.unwrap().is_empty());
        let weak = with(header::IF_NONE_MATCH, &format!("\"x\", W/{etag}"))
            .await
            .unwrap();
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
        let other = with(header::IF_NONE_MATCH, "\"0000\"").await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);
        let since = with(header::IF_MODIFIED_SINCE, &modified).await.unwrap();
        assert_eq!(since.status(), StatusCode::NOT_MODIFIED);
        let before = with(header::IF_MODIFIED_SINCE, "Mon, 23 Nov 2026 08:00:00 GMT")
            .await
            .unwrap();
        assert_eq!(before.status(), StatusCode::OK);
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        let both = http
            .get(&url)
            .header(header::IF_NONE_MATCH, "\"0000\"")
            .header(header::IF_MODIFIED_SINCE, modified.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(both.status(), StatusCode::OK);

        // A removal two days later: new content, new tag, Last-Modified at the removal.
        let removal = "2026-11-25T12:30:00Z";
        run(
            &db.url,
            removal,
            &["domains", "remove", "pec.due.it", "--reason", "test"],
            &[],
            0,
        );
        let after = http.get(&url).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::OK);
        let new_etag = after.headers()[header::ETAG].to_str().unwrap().to_owned();
        let new_modified = after.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_owned();
        let text = after.text().await.unwrap();
        assert!(!text.contains("pec.due.it"), "{text}");
        assert_ne!(new_etag, etag);
        assert_eq!(new_modified, "Wed, 25 Nov 2026 12:30:00 GMT");
        let stale = with(header::IF_NONE_MATCH, &etag).await.unwrap();
        assert_eq!(stale.status(), StatusCode::OK);
        let stale = with(header::IF_MODIFIED_SINCE, &modified).await.unwrap();
        assert_eq!(stale.status(), StatusCode::OK);
        let fresh = with(header::IF_MODIFIED_SINCE, &new_modified)
            .await
            .unwrap();
        assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);

        // The same entry through the API, and a publication recorded through it.
        let operator = token(&db.url, T1, "ldap-sync", "operator");
        let export = http
            .get(server.url("/api/v1/index"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (status, _, export) = body(export).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export["ldif"], text.as_str());
        assert_eq!(export["domains"], json!(["pec.tre.it", "pec.uno.it"]));
        let published = http
            .post(server.url("/api/v1/index/publications"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (status, _, published) = body(published).await;
        assert_eq!(status, StatusCode::CREATED, "{published}");
        assert_eq!(
            format!("\"{}\"", published["hash"].as_str().unwrap()),
            new_etag
        );
        let diff = http
            .get(server.url("/api/v1/index/diff"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (_, _, diff) = body(diff).await;
        assert_eq!(diff["added"], json!([]));
        assert_eq!(diff["entry_changed"], false);
        assert_eq!(diff["since"]["id"], published["id"]);
        let list = http
            .get(server.url("/api/v1/index/publications"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (_, _, list) = body(list).await;
        assert_eq!(list["publications"][0]["id"], published["id"]);
        let (code, _) = server.stop();
        assert_eq!(code, Some(0));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_authenticate_and_roles_are_enforced() {
    on_both(|db| async move {
        add(&db, T0, "pec.uno.it");
        let reader = token(&db.url, T0, "grafana", "read-only");
        let operator = token(&db.url, T0, "crm", "operator");
        let server = start(&db.url, T1, &[]).await;
        let http = client();
        let domains = server.url("/api/v1/domains");
        let remove = server.url("/api/v1/domains/pec.uno.it/remove");

        // No token: 401 with the challenge.
        let missing = http.get(&domains).send().await.unwrap();
        assert!(
            missing.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        problem(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // A wrong token, and a malformed header.
        let wrong = http
            .get(&domains)
            .bearer_auth("pw_nottherightone")
            .send()
            .await
            .unwrap();
        let value = problem(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(
            value["detail"].as_str().unwrap().contains("revocato"),
            "{value}"
        );
        let basic = http
            .get(&domains)
            .header(header::AUTHORIZATION, "Basic eDp5")
            .send()
            .await
            .unwrap();
        problem(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // Read-only: reads, cannot act.
        let read = http
            .get(&domains)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        let refused = http
            .post(&remove)
            .bearer_auth(&reader)
            .header(header::ACCEPT_LANGUAGE, "en")
            .send()
            .await
            .unwrap();
        let value = problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(value["title"], "Not allowed with this token");
        let show = run(
            &db.url,
            T1,
            &["domains", "show", "pec.uno.it", "--format", "json"],
            &[],
            0,
        );
        let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(
            shown["state"], "certified",
            "the refused call changed nothing"
        );
        // Operator: acts.
        let acted = http
            .post(&remove)
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        assert_eq!(acted.status(), StatusCode::OK);
        // Revoked: refused from then on.
        run(&db.url, T1, &["tokens", "revoke", "grafana"], &[], 0);
        let revoked = http
            .get(&domains)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        problem(revoked, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // The list shows roles, use and revocation, never the tokens.
        let listed = run(&db.url, T1, &["tokens", "list", "--format", "json"], &[], 0);
        let listed = String::from_utf8(listed.stdout).unwrap();
        assert!(!listed.contains(&operator) && !listed.contains(&reader));
        let rows: Vec<Value> = listed
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["name"], "grafana");
        assert_eq!(rows[0]["role"], "read-only");
        assert!(rows[0]["revoked"].is_string(), "{listed}");
        assert!(rows[0]["last_used"].is_string(), "{listed}");
        assert_eq!(rows[1]["role"], "operator");
        assert!(rows[1]["revoked"].is_null());
        // A taken name is refused; a revoked one can be reused.
        let again = pecwatch(
            &db.url,
            Some(T1),
            &["tokens", "add", "crm", "--role", "operator"],
            &[],
        )
        .output()
        .unwrap();
        assert_eq!(again.status.code(), Some(2), "{again:?}");
        token(&db.url, T1, "grafana", "read-only");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Domains: pagination and actions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn pagination_walks_every_domain_exactly_once() {
    on_both(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("domains.csv");
        let mut text = String::from("domain,holder_email\n");
        let mut expected = BTreeSet::new();
        for i in 0..23 {
            let name = format!("pec.d{i:02}.it");
            text.push_str(&format!("{name},h{i}@esempio.it\n"));
            expected.insert(name);
        }
        std::fs::write(&csv, text).unwrap();
        run(
            &db.url,
            T0,
            &["domains", "import", csv.to_str().unwrap()],
            &[],
            0,
        );
        let reader = token(&db.url, T0, "reader", "read-only");
        let server = start(&db.url, T1, &[]).await;
        let http = client();

        let mut seen = Vec::new();
        let mut pages = 0;
        let mut next = Some(server.url("/api/v1/domains?limit=5"));
        while let Some(url) = next.take() {
            let url = if url.starts_with("http") {
                url
            } else {
                server.url(&url)
            };
            let response = http.get(&url).bearer_auth(&reader).send().await.unwrap();
            let link = response
                .headers()
                .get(header::LINK)
                .map(|value| value.to_str().unwrap().to_owned());
            let (status, _, page) = body(response).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            let names = page["domains"].as_array().unwrap();
            assert!(names.len() <= 5);
            seen.extend(
                names
                    .iter()
                    .map(|d| d["domain"].as_str().unwrap().to_owned()),
            );
            next = page["next"].as_str().map(str::to_owned);
            match (&next, link) {
                (Some(next), Some(link)) => assert_eq!(link, format!("<{next}>; rel=\"next\"")),
                (None, None) => {}
                (next, link) => panic!("next {next:?} but Link {link:?}"),
            }
            if pages == 3 {
                // A domain added mid-walk, after the cursor: it is seen once too.
                add(&db, T1, "pec.zz.it");
                expected.insert("pec.zz.it".to_owned());
            }
        }
        assert_eq!(pages, 5, "24 domains by 5");
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a domain twice: {seen:?}");
        assert_eq!(unique, expected);
        // Filters carry over to the next pages.
        let mut names: Vec<String> = Vec::new();
        let mut next = Some("/api/v1/domains?search=d1&limit=4".to_owned());
        while let Some(url) = next.take() {
            assert!(url.contains("search=d1"), "{url}");
            let page = http
                .get(server.url(&url))
                .bearer_auth(&reader)
                .send()
                .await
                .unwrap();
            let (_, _, page) = body(page).await;
            names.extend(
                page["domains"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["domain"].as_str().unwrap().to_owned()),
            );
            next = page["next"].as_str().map(str::to_owned);
        }
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("pec.d1")), "{names:?}");
    })
    .await;
}

#[tokio::test]
async fn actions_through_the_api_show_up_on_the_command_line() {
    on_both(|db| async move {
        add(&db, T0, "pec.uno.it");
        let operator = token(&db.url, T0, "crm", "operator");
        let server = start(&db.url, T1, &[]).await;
        let http = client();

        let removed = http
            .post(server.url("/api/v1/domains/PEC.Uno.IT/remove"))
            .bearer_auth(&operator)
            .json(&json!({ "reason": "richiesta del titolare", "actor": "anna" }))
            .send()
            .await
            .unwrap();
        let (status, _, removed) = body(removed).await;
        assert_eq!(status, StatusCode::OK, "{removed}");
        assert_eq!(removed["state"], "removed");
        assert_eq!(removed["action"]["before"], "certified");
        assert_eq!(removed["action"]["actor"], "anna (api:crm)");
        let notices = removed["history"]["notices"].as_array().unwrap();
        assert!(
            notices
                .iter()
                .any(|n| n["key"].as_str().unwrap().ends_with("/removed")),
            "{removed}"
        );

        // The command line sees it.
        let shown = run(
            &db.url,
            T1,
            &["domains", "show", "pec.uno.it", "--format", "json"],
            &[],
            0,
        );
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(shown["state"], "removed");
        let transitions = shown["history"]["transitions"].as_array().unwrap();
        let last = transitions.last().unwrap();
        assert_eq!(last["actor"], "anna (api:crm)");
        assert_eq!(last["to"], "removed");
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .contains("richiesta del titolare"),
            "{last}"
        );

        // What the lifecycle refuses is a 409 problem, in Italian by default…
        let refused = http
            .post(server.url("/api/v1/domains/pec.uno.it/approve"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let value = problem(refused, StatusCode::CONFLICT, "conflict").await;
        assert!(
            value["detail"]
                .as_str()
                .unwrap()
                .contains("impossibile approvare"),
            "{value}"
        );
        // …or English.
        let refused = http
            .post(server.url("/api/v1/domains/pec.uno.it/remove"))
            .bearer_auth(&operator)
            .header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9,it;q=0.5")
            .send()
            .await
            .unwrap();
        let value = problem(refused, StatusCode::CONFLICT, "conflict").await;
        assert!(
            value["detail"].as_str().unwrap().contains("cannot remove"),
            "{value}"
        );

        // Add, renew, exception, recheck; the domain as the API shows it.
        let added = http
            .post(server.url("/api/v1/domains"))
            .bearer_auth(&operator)
            .json(&json!({ "domain": "pec.due.it", "holder_email": "b@due.it", "lang": "en" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            added.headers()[header::LOCATION],
            "/api/v1/domains/pec.due.it"
        );
        let (status, _, added) = body(added).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(added["holder"]["lang"], "en");
        let duplicate = http
            .post(server.url("/api/v1/domains"))
            .bearer_auth(&operator)
            .json(&json!({ "domain": "pec.due.it", "holder_email": "b@due.it" }))
            .send()
            .await
            .unwrap();
        problem(duplicate, StatusCode::CONFLICT, "conflict").await;
        let renewed = http
            .post(server.url("/api/v1/domains/pec.due.it/renew"))
            .bearer_auth(&operator)
            .json(&json!({ "expires": "2028-06-30" }))
            .send()
            .await
            .unwrap();
        let (status, _, renewed) = body(renewed).await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        assert_eq!(renewed["expires"], "2028-06-30T21:59:59Z");
        let exception = http
            .post(server.url("/api/v1/domains/pec.due.it/exception"))
            .bearer_auth(&operator)
            .json(&json!({ "add": ["192.0.2.7", "2001:db8::/48"] }))
            .send()
            .await
            .unwrap();
        let (_, _, exception) = body(exception).await;
        assert_eq!(
            exception["exception"],
            json!(["192.0.2.7/32", "2001:db8::/48"])
        );
        let bad = http
            .post(server.url("/api/v1/domains/pec.due.it/exception"))
            .bearer_auth(&operator)
            .json(&json!({ "add": ["192.0.2.300"] }))
            .send()
            .await
            .unwrap();
        problem(bad, StatusCode::BAD_REQUEST, "bad-request").await;
        let shown = run(&db.url, T1, &["domains", "exception", "pec.due.it"], &[], 0);
        assert!(String::from_utf8_lossy(&shown.stdout).contains("192.0.2.7/32, 2001:db8::/48"));
        let recheck = http
            .post(server.url("/api/v1/domains/pec.uno.it/recheck"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (status, _, recheck) = body(recheck).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{recheck}");
        assert_eq!(recheck["next_check"], recheck["recheck"]["due"]);

        // Notices: list, show, resend.
        let list = http
            .get(server.url("/api/v1/notices?domain=pec.uno.it&limit=1"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (status, _, list) = body(list).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let first = &list["notices"][0];
        assert_eq!(first["domain"], "pec.uno.it");
        let id = first["id"].as_i64().unwrap();
        let shown = http
            .get(server.url(&format!("/api/v1/notices/{id}")))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        let (_, _, shown) = body(shown).await;
        assert_eq!(shown["key"], first["key"]);
        let resent = http
            .post(server.url(&format!("/api/v1/notices/{id}/resend")))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        assert_eq!(resent.status(), StatusCode::OK);
        let missing = http
            .get(server.url("/api/v1/notices/999999"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Checks against the DNS lab
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_check_through_the_api_is_the_command_lines() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let server = start(&db.url, T1, &[]).await;
    let http = client();
    let names = ["pec.ok.it", "pec.nomx.it", "http://nope/"];
    let response = http
        .post(server.url("/api/v1/check"))
        .json(&json!({ "names": names }))
        .send()
        .await
        .unwrap();
    let (status, _, answer) = body(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ok"], false);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["domain"], "pec.ok.it");
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[1]["domain"], "pec.nomx.it");
    assert_eq!(results[1]["codes"], json!(["MX_NON_DEFINITO"]));
    assert_eq!(results[2]["ok"], false);
    assert!(results[2]["error"].is_string());
    // The same objects as `pecwatch check --format json`, in Italian by default.
    let output = pecwatch(
        &db.url,
        Some(T1),
        &["check", "--format", "json", names[0], names[1], names[2]],
        &[],
    )
    .output()
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for result in results {
        let same = lines
            .iter()
            .find(|line| line["input"] == result["input"])
            .unwrap();
        assert_eq!(same, result);
    }
    // English on request; a profile the configuration does not know is refused.
    let english = http
        .post(server.url("/api/v1/check"))
        .json(&json!({ "names": ["pec.nomx.it"], "lang": "en" }))
        .send()
        .await
        .unwrap();
    let (_, _, english) = body(english).await;
    let message = english["results"][0]["findings"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("has no MX") || message.contains("no MX"),
        "{message}"
    );
    let unknown = http
        .post(server.url("/api/v1/check"))
        .json(&json!({ "names": ["pec.ok.it"], "profile": "/etc/passwd" }))
        .send()
        .await
        .unwrap();
    problem(unknown, StatusCode::BAD_REQUEST, "bad-request").await;
    drop(server);
    db.registry.close().await;
    cleanup.run().await;
}

#[tokio::test]
async fn instructions_through_the_api_are_the_command_lines() {
    lab();
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    // The lab's aruba profile as a profile of the configuration (the API takes no files).
    let profile = lab_profile().display().to_string();
    let env = [("PECWATCH_PROFILES_ARUBALAB", profile.as_str())];
    let server = start(&db.url, T1, &env).await;
    let http = client();
    let cli = |domain: &str, lang: &str| -> Value {
        let output = pecwatch(
            &db.url,
            Some(T1),
            &[
                "instructions",
                "--format",
                "json",
                "--profile",
                "arubalab",
                "--lang",
                lang,
                domain,
            ],
            &env,
        )
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let api = |domain: &str, language: Option<&str>| {
        let mut request =
            http.get(server.url(&format!("/api/v1/instructions/{domain}?profile=arubalab")));
        if let Some(language) = language {
            request = request.header(header::ACCEPT_LANGUAGE, language);
        }
        request.send()
    };
    // (i) a name its parent zone lacks, in English by Accept-Language: the command line's
    // JSON.
    let (status, headers, parent) = body(api("pec.nuovo.it", Some("en")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{parent}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(parent["case"], "add_to_parent_zone", "{parent:#}");
    assert_eq!(parent["edit"]["zone"], "nuovo.it");
    assert!(
        parent["text"]
            .as_str()
            .unwrap()
            .contains("In zone nuovo.it"),
        "{parent:#}"
    );
    assert_eq!(parent, cli("pec.nuovo.it", "en"));
    // (v) already correct, in Italian by default.
    let (status, _, correct) = body(api("pec.ok.it", None).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{correct}");
    assert_eq!(correct["case"], "already_correct", "{correct:#}");
    assert_eq!(correct["needs_action"], false);
    assert_eq!(correct, cli("pec.ok.it", "it"));
    // Not a domain: the problem of an invalid domain, in English on request.
    let invalid = api("nope..it", Some("en")).await.unwrap();
    assert_eq!(invalid.headers()[header::CONTENT_LANGUAGE], "en");
    let invalid = problem(invalid, StatusCode::BAD_REQUEST, "invalid-domain").await;
    assert_eq!(invalid["input"], "nope..it");
    assert_eq!(invalid["title"], "Invalid domain name");
    // A profile the configuration does not know (a path, say) is refused.
    let unknown = http
        .get(server.url("/api/v1/instructions/pec.ok.it?profile=%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap();
    problem(unknown, StatusCode::BAD_REQUEST, "bad-request").await;
    drop(server);
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// Metrics and health
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_are_valid_exposition_and_count_the_registry() {
    on_both(|db| async move {
        for domain in ["pec.ok.it", "pec.nomx.it", "pec.cname.it"] {
            add(&db, T0, domain);
        }
        run(&db.url, T0, &["domains", "remove", "pec.nomx.it"], &[], 0);
        run(
            &db.url,
            "2026-11-23T09:30:00Z",
            &["sweep", "--no-progress"],
            &[],
            0,
        );
        let server = start(&db.url, T1, &[]).await;
        let response = client().get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = response.text().await.unwrap();
        let samples = parse_exposition(&text);
        let get = |series: &str| {
            *samples
                .get(series)
                .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        };
        assert_eq!(get("pecwatch_domains{state=\"certified\"}"), 2.0);
        assert_eq!(get("pecwatch_domains{state=\"removed\"}"), 1.0);
        assert_eq!(get("pecwatch_domains{state=\"in_error\"}"), 0.0);
        assert_eq!(get("pecwatch_index_domains"), 2.0);
        assert_eq!(
            get("pecwatch_notices{state=\"pending\"}"),
            1.0,
            "the removal notice:\n{text}"
        );
        // Queued by the removal, at T0, and not sent (no relay in this test).
        assert_eq!(
            get("pecwatch_notices_oldest_pending_timestamp_seconds"),
            T0.parse::<jiff::Timestamp>().unwrap().as_second() as f64
        );
        // Never published: both listed domains are changes to publish.
        assert_eq!(get("pecwatch_index_unpublished_changes"), 2.0);
        assert_eq!(get("pecwatch_index_last_published_timestamp_seconds"), 0.0);
        assert_eq!(get("pecwatch_sweep_canary_failures{kind=\"sweep\"}"), 0.0);
        assert_eq!(get("pecwatch_alerts_total"), 0.0);
        assert_eq!(get("pecwatch_sweeps_total{kind=\"sweep\"}"), 1.0);
        // The removed domain is still checked (and still has no MX): all three.
        assert_eq!(
            get("pecwatch_sweep_checks{kind=\"sweep\",result=\"ok\"}"),
            2.0
        );
        assert_eq!(
            get("pecwatch_sweep_checks{kind=\"sweep\",result=\"failed\"}"),
            1.0
        );
        assert_eq!(
            get("pecwatch_sweep_errors{kind=\"sweep\",code=\"MX_NON_DEFINITO\"}"),
            1.0
        );
        assert_eq!(get("pecwatch_sweep_held{kind=\"sweep\"}"), 0.0);
        assert!(get("pecwatch_sweep_last_finished_timestamp_seconds{kind=\"sweep\"}") > 1.7e9);
        assert!(get("pecwatch_sweep_duration_seconds{kind=\"sweep\"}") >= 0.0);
    })
    .await;
}

/// A TCP proxy to PostgreSQL that the test can cut.
struct Proxy {
    port: u16,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                connections.spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy { port, tasks }
    }

    /// Closes the listener and every connection.
    async fn cut(mut self) {
        self.tasks.shutdown().await;
    }
}

#[tokio::test]
async fn healthz_says_503_when_the_database_goes_away() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Postgres).await;
    let proxy = Proxy::start(5432).await;
    let proxied = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(proxied, db.url, "the test database is at 127.0.0.1:5432");
    let server = start(
        &proxied,
        T1,
        &[
            ("PECWATCH_LOG_FORMAT", "json"),
            ("PECWATCH_LOG", "warn,pecwatch::web::access=info"),
        ],
    )
    .await;
    let http = client();
    let (status, _, health) = body(http.get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health, json!({ "status": "ok", "database": "ok" }));

    proxy.cut().await;
    let (status, _, health) = body(http.get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "error");
    assert_eq!(health["database"], "error");
    // An API call that needs the database: 503 problem too.
    let metrics = http.get(server.url("/metrics")).send().await.unwrap();
    problem(
        metrics,
        StatusCode::SERVICE_UNAVAILABLE,
        "database-unavailable",
    )
    .await;

    // One JSON log line per request, with method, path, status and latency.
    let (code, stderr) = server.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["path"] == "/healthz")
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    let statuses: Vec<i64> = lines
        .iter()
        .map(|l| l["status"].as_i64().unwrap())
        .collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&503),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["method"] == "GET" && l["latency_ms"].is_number()),
        "{stderr}"
    );

    // Started while the database is down: a clear failure (exit 3).
    let closed = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", free_port()), 1);
    let output = pecwatch(
        &closed,
        Some(T1),
        &["web", "--listen", &format!("127.0.0.1:{}", free_port())],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot connect"),
        "{output:?}"
    );
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// Problems, the rate limit, the document
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_requests_are_problems() {
    on_both(|db| async move {
        add(&db, T0, "pec.uno.it");
        let operator = token(&db.url, T0, "crm", "operator");
        let server = start(&db.url, T1, &[]).await;
        let http = client();
        let get = |path: &str| http.get(server.url(path)).bearer_auth(&operator).send();

        let invalid = problem(
            get("/api/v1/domains/nope..it").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid-domain",
        )
        .await;
        assert_eq!(invalid["input"], "nope..it");
        let unknown = problem(
            get("/api/v1/domains/pec.nessuno.it").await.unwrap(),
            StatusCode::NOT_FOUND,
            "unknown-domain",
        )
        .await;
        assert_eq!(unknown["detail"], "pec.nessuno.it non è registrato");
        problem(
            get("/api/v1/domains?limit=0").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        )
        .await;
        problem(
            get("/api/v1/domains?state=lost").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        )
        .await;
        let bad_code = problem(
            get("/api/v1/domains?code=MX_SBAGLIATO").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        )
        .await;
        assert!(
            bad_code["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("MX_NON_DEFINITO")),
            "{bad_code}"
        );
        problem(
            get("/api/v1/domains?colour=red").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        )
        .await;
        problem(
            get("/api/v1/domains?cursor=%%%").await.unwrap(),
            StatusCode::BAD_REQUEST,
            "bad-request",
        )
        .await;
        problem(
            get("/api/v1/nothing-here").await.unwrap(),
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;
        let wrong = http
            .delete(server.url("/api/v1/domains"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        problem(wrong, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;

        let post = |path: &str| http.post(server.url(path)).bearer_auth(&operator);
        let broken = post("/api/v1/domains/pec.uno.it/remove")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{\"reason\": ")
            .send()
            .await
            .unwrap();
        problem(broken, StatusCode::BAD_REQUEST, "invalid-json").await;
        let shape = post("/api/v1/domains/pec.uno.it/remove")
            .json(&json!({ "why": 1 }))
            .send()
            .await
            .unwrap();
        problem(shape, StatusCode::UNPROCESSABLE_ENTITY, "invalid-json").await;
        let text = post("/api/v1/domains/pec.uno.it/remove")
            .body("reason=x")
            .send()
            .await
            .unwrap();
        problem(
            text,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        )
        .await;
        // The server answers 413 as soon as the body passes the limit and closes the
        // connection: a client still writing the rest may see the connection end instead
        // of the answer. Retried until the answer is read.
        let huge = json!({ "names": vec!["pec.uno.it"; 40_000] });
        let mut large = None;
        for _ in 0..10 {
            if let Ok(response) = post("/api/v1/check").json(&huge).send().await {
                large = Some(response);
                break;
            }
        }
        let large = large.expect("the 413 answer, read in one of ten tries");
        problem(large, StatusCode::PAYLOAD_TOO_LARGE, "request-too-large").await;
        let many = json!({ "names": vec!["pec.uno.it"; 101] });
        let many = post("/api/v1/check").json(&many).send().await.unwrap();
        problem(many, StatusCode::PAYLOAD_TOO_LARGE, "too-many-names").await;
        let unknown = post("/api/v1/domains/pec.nessuno.it/approve")
            .send()
            .await
            .unwrap();
        problem(unknown, StatusCode::NOT_FOUND, "unknown-domain").await;
        let english = post("/api/v1/domains/pec.nessuno.it/approve")
            .header(header::ACCEPT_LANGUAGE, "en")
            .send()
            .await
            .unwrap();
        assert_eq!(english.headers()[header::CONTENT_LANGUAGE], "en");
        let english = problem(english, StatusCode::NOT_FOUND, "unknown-domain").await;
        assert_eq!(english["detail"], "pec.nessuno.it is not registered");
        let renew = post("/api/v1/domains/pec.uno.it/renew")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        problem(renew, StatusCode::BAD_REQUEST, "bad-request").await;

        // Without [index]: 503 naming the missing keys.
        let index = problem(
            http.get(server.url("/index.ldif")).send().await.unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
            "index-not-configured",
        )
        .await;
        assert_eq!(
            index["missing"],
            json!(["provider_name", "mail_receipt", "certificate"])
        );
        assert!(
            index["detail"]
                .as_str()
                .unwrap()
                .contains("PECWATCH_INDEX_CERTIFICATE"),
            "{index}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_anonymous_check_costs_a_token_per_name() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let operator = token(&db.url, T0, "crm", "operator");
    let server = start(&db.url, T1, &[("PECWATCH_WEB_RATE_LIMIT_PER_MINUTE", "5")]).await;
    let http = client();
    let names = |count: usize| json!({ "names": vec!["not a name"; count] });
    let check = |body: serde_json::Value| http.post(server.url("/api/v1/check")).json(&body).send();
    // More names than the bucket holds can never pass without a token: 413, nothing taken.
    let refused = check(names(6)).await.unwrap();
    let value = problem(refused, StatusCode::PAYLOAD_TOO_LARGE, "too-many-names").await;
    assert_eq!(value["limit"], 5);
    // 4 names take 4 of the 5 tokens; 2 more do not fit, 1 does.
    assert_eq!(check(names(4)).await.unwrap().status(), StatusCode::OK);
    let limited = check(names(2)).await.unwrap();
    problem(limited, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    assert_eq!(check(names(1)).await.unwrap().status(), StatusCode::OK);
    problem(
        check(names(1)).await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
    // A token: no limit, whatever the count.
    let checked = http
        .post(server.url("/api/v1/check"))
        .bearer_auth(&operator)
        .json(&names(20))
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status(), StatusCode::OK);
    cleanup.run().await;
}

#[tokio::test]
async fn public_endpoints_are_rate_limited_per_client() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let operator = token(&db.url, T0, "crm", "operator");
    let server = start(&db.url, T1, &[("PECWATCH_WEB_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let http = client();
    let document = server.url("/openapi.json");
    for _ in 0..2 {
        assert_eq!(
            http.get(&document).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    // A third within the minute: 429. X-Forwarded-For from an untrusted peer is ignored.
    let limited = http
        .get(&document)
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .unwrap();
    let retry: u64 = limited.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let value = problem(limited, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    assert_eq!(value["retry_after"], retry);
    // The index and the anonymous check share the client's bucket…
    let index = http.get(server.url("/index.ldif")).send().await.unwrap();
    problem(index, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    let check = http
        .post(server.url("/api/v1/check"))
        .json(&json!({ "names": ["not a name"] }))
        .send()
        .await
        .unwrap();
    problem(check, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    let instructions = http
        .get(server.url("/api/v1/instructions/nope..it"))
        .send()
        .await
        .unwrap();
    problem(
        instructions,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
    // …a token lifts the limit; /healthz and /metrics are not limited.
    for _ in 0..3 {
        let instructions = http
            .get(server.url("/api/v1/instructions/nope..it"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        problem(instructions, StatusCode::BAD_REQUEST, "invalid-domain").await;
        let checked = http
            .post(server.url("/api/v1/check"))
            .bearer_auth(&operator)
            .json(&json!({ "names": ["not a name"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(checked.status(), StatusCode::OK);
        assert_eq!(
            http.get(server.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            http.get(server.url("/metrics"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    drop(server);
    db.registry.close().await;
    cleanup.run().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    add(&db, T0, "pec.uno.it");
    let operator = token(&db.url, T0, "crm", "operator");
    let env = index_env(&certificate());
    let server = start(&db.url, T1, &env_refs(&env)).await;
    let http = client();
    let (status, _, document) =
        body(http.get(server.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{document}");
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{domain}", "pec.uno.it")
                .replace("{id}", "1")
                .replace("{address}", "postmaster@pec.uno.it");
            let request = match method.as_str() {
                "get" => http.get(server.url(&concrete)),
                "post" => http.post(server.url(&concrete)),
                "delete" => http.delete(server.url(&concrete)),
                other => panic!("unexpected method {other}"),
            };
            let response = request.bearer_auth(&operator).send().await.unwrap();
            let status = response.status();
            let (_, _, value) = body(response).await;
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {value}"
            );
            let detail = value["detail"].as_str().unwrap_or_default();
            assert!(
                !detail.contains("nessuna risorsa a questo indirizzo"),
                "{method} {path} is not routed: {value}"
            );
            assert!(
                status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}: {value}"
            );
        }
    }
    drop(server);
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// serve and postfix
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn serve_serves_the_web_interface_beside_the_sweep() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = pecwatch(
        &db.url,
        Some(T1),
        &["serve"],
        &[("PECWATCH_WEB_LISTEN", &listen)],
    );
    let server: Server = spawn(&mut command, port).await;
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (code, stderr) = server.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("web http://{listen}/")),
        "{stderr}"
    );
    assert!(stderr.contains("fermato"), "{stderr}");
    // Disabled: serve runs without it.
    let output = pecwatch(
        &db.url,
        Some(T1),
        &["serve"],
        &[
            ("PECWATCH_WEB_ENABLED", "false"),
            ("PECWATCH_WEB_LISTEN", &listen),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut serve = Server {
        child: output,
        base: String::new(),
    };
    // It is running (the sweep side) and does not listen.
    let mut listening = false;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        listening |= std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    }
    assert!(!listening, "web.enabled = false still listens");
    assert!(matches!(serve.child.try_wait(), Ok(None)));
    let _ = &mut serve;
    let (code, _) = serve.stop();
    assert_eq!(code, Some(0));
    db.registry.close().await;
    cleanup.run().await;
}

#[tokio::test]
async fn postfix_counts_its_lookups_on_its_own_metrics() {
    use std::io::{BufRead, BufReader, Write};
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    add(&db, T0, "pec.uno.it");
    add(&db, T0, "pec.via.it");
    run(&db.url, T0, &["domains", "remove", "pec.via.it"], &[], 0);
    let (policy, socketmap, metrics) = (free_port(), free_port(), free_port());
    let mut command = pecwatch(
        &db.url,
        Some(T1),
        &[
            "postfix",
            "--policy",
            &format!("127.0.0.1:{policy}"),
            "--socketmap",
            &format!("127.0.0.1:{socketmap}"),
        ],
        &[(
            "PECWATCH_POSTFIX_METRICS_LISTEN",
            &format!("127.0.0.1:{metrics}"),
        )],
    );
    let child = command.stderr(Stdio::piped()).spawn().unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{metrics}"),
    };
    let http = client();
    let mut ready = false;
    for _ in 0..600 {
        if http.get(server.url("/metrics")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "postfix metrics not served");
    let ask = |recipient: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", policy)).unwrap();
        write!(
            stream,
            "request=smtpd_access_policy\nsender=a@altro.it\nrecipient={recipient}\n\n"
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    };
    assert_eq!(ask("b@pec.uno.it"), "action=DUNNO\n");
    assert_eq!(ask("b@pec.uno.it"), "action=DUNNO\n");
    assert!(ask("b@pec.via.it").starts_with("action=REJECT"));
    let text = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_exposition(&text);
    assert_eq!(
        samples["pecwatch_policy_requests_total{action=\"dunno\"}"], 2.0,
        "{text}"
    );
    assert_eq!(
        samples["pecwatch_policy_requests_total{action=\"reject\"}"], 1.0,
        "{text}"
    );
    assert_eq!(samples["pecwatch_postfix_snapshot_domains"], 2.0, "{text}");
    let verified = samples["pecwatch_postfix_snapshot_verified_timestamp_seconds"];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(verified > now - 60.0 && verified <= now + 1.0, "{text}");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// Orders and mailboxes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn orders_and_mailboxes_through_the_api() {
    on_both(|db| async move {
        add(&db, T0, "pec.uno.it");
        let operator = token(&db.url, T0, "crm", "operator");
        let server = start(
            &db.url,
            T1,
            &[("PECWATCH_ACTIVATION_REVIEW_OWN_DOMAINS", "true")],
        )
        .await;
        let http = client();
        let post = |path: &str, body: Value| {
            http.post(server.url(path))
                .bearer_auth(&operator)
                .json(&body)
                .send()
        };
        let get = |path: &str| http.get(server.url(path)).bearer_auth(&operator).send();

        // Two orders wait for review; one is approved, one rejected.
        let (status, _, first) = body(
            post(
                "/api/v1/orders",
                json!({ "name": "pec.nuovo.it", "holder_email": "a@nuovo.it" }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["order"]["state"], "received");
        let (_, _, second) = body(
            post(
                "/api/v1/orders",
                json!({ "name": "pec.altro.it", "holder_email": "b@altro.it" }),
            )
            .await
            .unwrap(),
        )
        .await;
        let taken = post(
            "/api/v1/orders",
            json!({ "name": "pec.uno.it", "holder_email": "c@uno.it" }),
        )
        .await
        .unwrap();
        problem(taken, StatusCode::CONFLICT, "conflict").await;
        let id = first["order"]["id"].as_i64().unwrap();
        let (status, _, approved) = body(
            post(&format!("/api/v1/orders/{id}/approve"), json!({}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{approved}");
        assert_eq!(approved["order"]["state"], "approved");
        assert_eq!(approved["domain_state"], "pending_dns");
        assert_eq!(approved["order"]["actor"], "api:crm");
        let other = second["order"]["id"].as_i64().unwrap();
        let (_, _, rejected) = body(
            post(
                &format!("/api/v1/orders/{other}/reject"),
                json!({ "reason": "dati errati" }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(rejected["order"]["state"], "rejected");
        let again = post(&format!("/api/v1/orders/{other}/approve"), json!({}))
            .await
            .unwrap();
        problem(again, StatusCode::CONFLICT, "conflict").await;
        let (_, _, listed) = body(get("/api/v1/orders?state=received").await.unwrap()).await;
        assert_eq!(listed["orders"], json!([]));
        let (_, _, shown) = body(get(&format!("/api/v1/orders/{id}")).await.unwrap()).await;
        assert_eq!(shown["order"]["name"], "pec.nuovo.it");
        problem(
            get("/api/v1/orders/999999").await.unwrap(),
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;

        // Mailboxes: only in certified domains; a link to set the password.
        let (status, _, created) = body(
            post(
                "/api/v1/mailboxes",
                json!({ "address": "Mario.Rossi@pec.uno.it" }),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["mailbox"]["address"], "mario.rossi@pec.uno.it");
        assert!(
            created["link"].as_str().unwrap().starts_with("http"),
            "{created}"
        );
        let pending = post("/api/v1/mailboxes", json!({ "address": "x@pec.nuovo.it" }))
            .await
            .unwrap();
        problem(pending, StatusCode::CONFLICT, "conflict").await;
        let (_, _, list) = body(get("/api/v1/mailboxes?domain=pec.uno.it").await.unwrap()).await;
        assert_eq!(list["mailboxes"][0]["address"], "mario.rossi@pec.uno.it");
        let (status, _, link) = body(
            post("/api/v1/mailboxes/mario.rossi@pec.uno.it/link", json!({}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{link}");
        assert_ne!(link["link"], created["link"]);
        let delete = || {
            http.delete(server.url("/api/v1/mailboxes/mario.rossi@pec.uno.it"))
                .bearer_auth(&operator)
                .send()
        };
        assert_eq!(delete().await.unwrap().status(), StatusCode::OK);
        problem(delete().await.unwrap(), StatusCode::NOT_FOUND, "not-found").await;
        let shown = run(
            &db.url,
            T1,
            &["mailboxes", "list", "pec.uno.it", "--format", "json"],
            &[],
            0,
        );
        assert!(shown.stdout.is_empty(), "{shown:?}");
    })
    .await;
}

#[tokio::test]
async fn hostile_holder_values_are_refused_by_the_api_naming_the_field() {
    on_both(|db| async move {
        let operator = token(&db.url, T0, "crm", "operator");
        let server = start(&db.url, T1, &[]).await;
        let http = client();
        let hostile = [
            ("reseller", json!("bad reseller@evil.it")),
            ("holder_name", json!("Rossi\r\nBcc: spia@evil.it")),
            ("holder_name", json!("Rossi\rSrl")),
            ("holder_name", json!("N".repeat(100_000))),
            ("reseller", json!("R".repeat(100_000))),
            ("holder_email", json!("bad holder@evil.it")),
        ];
        for (field, value) in hostile {
            for (path, name_key) in [("/api/v1/domains", "domain"), ("/api/v1/orders", "name")] {
                let mut request = json!({
                    name_key: "pec.nuovo.it",
                    "holder_email": "titolare@nuovo.it",
                });
                request[field] = value.clone();
                for (lang, words) in [("it", "non"), ("en", "not")] {
                    let response = http
                        .post(server.url(path))
                        .bearer_auth(&operator)
                        .header(header::ACCEPT_LANGUAGE, lang)
                        .json(&request)
                        .send()
                        .await
                        .unwrap();
                    let problem =
                        problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid-field").await;
                    assert_eq!(problem["field"], field, "{path} {problem}");
                    let detail = problem["detail"].as_str().unwrap();
                    assert!(detail.starts_with(field), "{detail}");
                    assert!(
                        detail.contains(words)
                            || detail.contains("troppo")
                            || detail.contains("too long"),
                        "{lang}: {detail}"
                    );
                    assert!(detail.len() < 500, "the value is not echoed whole");
                }
            }
        }
        // Nothing was recorded.
        let listed = run(
            &db.url,
            T1,
            &["domains", "list", "--format", "json"],
            &[],
            0,
        );
        assert!(listed.stdout.is_empty());
        let orders = run(&db.url, T1, &["orders", "list", "--format", "json"], &[], 0);
        assert!(orders.stdout.is_empty());
        // A hybrid exception wider than a /24 or a /48 is refused too.
        add(&db, T0, "pec.ibrido.it");
        for wide in ["0.0.0.0/0", "::/0", "10.0.0.0/8"] {
            let response = http
                .post(server.url("/api/v1/domains/pec.ibrido.it/exception"))
                .bearer_auth(&operator)
                .header(header::ACCEPT_LANGUAGE, "en")
                .json(&json!({ "add": ["192.0.2.7", wide] }))
                .send()
                .await
                .unwrap();
            let problem = problem(response, StatusCode::BAD_REQUEST, "bad-request").await;
            assert!(
                problem["detail"].as_str().unwrap().contains("too wide"),
                "{problem}"
            );
        }
        let shown = run(
            &db.url,
            T1,
            &["domains", "show", "pec.ibrido.it", "--format", "json"],
            &[],
            0,
        );
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(shown["exception"], json!([]), "nothing added");
    })
    .await;
}

#[tokio::test]
async fn questionable_web_settings_are_warned_about_at_start() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let server = start(
        &db.url,
        T1,
        &[
            ("PECWATCH_WEB_TRUSTED_PROXIES", "10.0.0.1,0.0.0.0/0"),
            ("PECWATCH_WEB_CHECK_MAX_NAMES", "100000000"),
        ],
    )
    .await;
    let (_, stderr) = server.stop();
    for needle in [
        "attenzione: [web] trusted_proxies contiene 0.0.0.0/0",
        "warning: [web] trusted_proxies holds 0.0.0.0/0",
        "[web] check_max_names = 100000000, over 1000",
        // And in the logs (warnings are logged by default).
        "WARN",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    // A sound configuration says nothing of the kind.
    let server = start(
        &db.url,
        T1,
        &[("PECWATCH_WEB_TRUSTED_PROXIES", "10.0.0.0/8")],
    )
    .await;
    let (_, stderr) = server.stop();
    assert!(!stderr.contains("trusted_proxies"), "{stderr}");
    assert!(!stderr.contains("check_max_names"), "{stderr}");
    db.registry.close().await;
    cleanup.run().await;
}
