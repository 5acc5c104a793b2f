//! The HTML pages over plain HTTP, against the real `pecwatch web` and the DNS lab: the
//! public check works without JavaScript (a GET form, a shareable result address),
//! hostile input comes back escaped and never as a 500, the rate limit answers 429 in
//! both languages; the console signs in with argon2id and sets safe cookies, refuses a
//! POST without its CSRF token, forbids read-only users to act, throttles sign-ins,
//! and its registry side (users, sessions, the pages' queries) behaves the same on
//! SQLite and PostgreSQL. `pecwatch users` is run as a person would.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use jiff::{SignedDuration, Timestamp};
use pecwatch::Lang;
use pecwatch::finding::Code;
use pecwatch::lifecycle::{DomainStatus, State};
use pecwatch::name::DomainName;
use pecwatch::registry::users::{DomainQuery, NewSession, Role};
use pecwatch::registry::{DomainUpdate, Holder, NewCheck, NewDomain, Registry, RegistryError};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode, redirect};

use crate::support::cli::pecwatch;
use crate::support::db::{TestDb, create, on_both};
use crate::support::lab::lab;
use crate::support::web::{Server, start};

pub const PASSWORD: &str = "Verifica-PEC-2026";

/// A browser without a browser: remembers cookies, never follows redirects.
pub struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    lang: Option<&'static str>,
}

impl Visitor {
    pub fn new(server: &Server) -> Self {
        Self::from_address(server, std::net::Ipv4Addr::LOCALHOST)
    }

    /// A visitor whose connections come from `address` (another loopback address: another
    /// client for the server).
    pub fn from_address(server: &Server, address: std::net::Ipv4Addr) -> Self {
        Visitor {
            client: reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(address))
                .no_proxy()
                .redirect(redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            base: server.base.clone(),
            cookies: BTreeMap::new(),
            lang: None,
        }
    }

    fn english(mut self) -> Self {
        self.lang = Some("en-GB,en;q=0.9");
        self
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap, String) {
        let mut request = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header());
        if let Some(lang) = self.lang {
            request = request.header("accept-language", lang);
        }
        self.finish(request.send().await.expect("GET")).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.finish(request.send().await.expect("POST")).await
    }

    async fn finish(&mut self, response: Response) -> (StatusCode, HeaderMap, String) {
        let status = response.status();
        let headers = response.headers().clone();
        self.keep(&headers);
        (status, headers, response.text().await.expect("body"))
    }

    /// Signs in through the form; returns the session's CSRF token.
    pub async fn sign_in(&mut self, user: &str, password: &str) -> String {
        let (_, _, page) = self.get("/console/login").await;
        let csrf = hidden(&page, "csrf");
        let (status, headers, body) = self
            .post(
                "/console/login",
                &[
                    ("name", user),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/console"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in of {user}: {body}");
        assert_eq!(headers[LOCATION], "/console");
        let (status, _, dashboard) = self.get("/console").await;
        assert_eq!(status, StatusCode::OK, "{dashboard}");
        hidden(&dashboard, "csrf")
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sign-in page's message (its problem paragraph), without the form's token.
fn notice_text(page: &str) -> String {
    let problem = page
        .split("class=\"problem\"")
        .nth(1)
        .unwrap_or(page)
        .split("</")
        .next()
        .unwrap_or_default();
    problem.to_owned()
}

/// The value of the first hidden field `name` of a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden field {name} in {page}"))
        + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Adds `name` in `state` since a day ago, expiring in a year.
pub async fn add_domain(registry: &Registry, name: &str, state: State, now: Timestamp) {
    let since = now - SignedDuration::from_hours(24);
    registry
        .add_domain(
            NewDomain {
                name: DomainName::parse(name).unwrap(),
                holder: Holder {
                    name: Some("Mario Rossi".into()),
                    email: format!("admin@{name}"),
                    lang: Lang::It,
                },
                reseller: None,
                profile: "aruba".into(),
                exception: Vec::new(),
                status: DomainStatus::new(
                    state,
                    since,
                    Some(now + SignedDuration::from_hours(24 * 365)),
                ),
                next_check: now + SignedDuration::from_hours(24),
            },
            since,
        )
        .await
        .unwrap();
}

/// `pecwatch users add NAME --role ROLE`, the password on standard input.
pub fn add_user(url: &str, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = pecwatch(url, None, &["users", "add", name, "--role", role], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pecwatch users add");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn sqlite() -> (TestDb, crate::support::db::Cleanup) {
    create(pecwatch::registry::Backend::Sqlite).await
}

fn now() -> String {
    Timestamp::now().to_string()
}

#[tokio::test]
async fn the_check_form_works_without_javascript() {
    let lab = lab();
    let (db, cleanup) = sqlite().await;
    let server = start(&db.url, &now(), &[("PECWATCH_DNS_RESOLVER", &lab.resolver)]).await;
    let mut visitor = Visitor::new(&server);

    let (status, headers, home) = visitor.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("<html lang=\"it\">"), "{home}");
    assert!(
        home.contains("<form class=\"card check-form\" method=\"get\" action=\"/check\""),
        "{home}"
    );
    assert!(home.contains("<label for=\"domain\">Dominio certificato o indirizzo PEC</label>"));
    assert!(
        home.contains("<option value=\"aruba\" selected>aruba</option>"),
        "{home}"
    );
    assert!(home.contains("<option value=\"infocert\">"), "{home}");
    assert!(!home.contains("<script"), "no JavaScript");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    // The stylesheet, cached for long under a versioned address.
    let css = home
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (status, headers, sheet) = visitor.get(css).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(sheet.contains(":focus-visible"));

    // The form sends a GET; the answer is the result's own, shareable address.
    let (status, headers, _) = visitor.get("/check?domain=PEC.OK.IT.&profile=aruba").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/check/pec.ok.it?profile=aruba");
    let (status, _, result) = visitor.get("/check/pec.ok.it?profile=aruba").await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert!(result.contains("data-verdict=\"ok\""), "{result}");
    assert!(
        result.contains("è configurato correttamente per la PEC di Aruba"),
        "{result}"
    );
    assert!(
        result.contains("<th scope=\"row\">ns1.cliente.it</th>"),
        "{result}"
    );
    assert!(result.contains("MX 10 mx.pec.aruba.it."), "{result}");

    // A failing domain: the code, why it matters, the exact line, every server.
    let (status, _, failing) = visitor.get("/check/pec.nomx.it?profile=aruba").await;
    assert_eq!(status, StatusCode::OK);
    assert!(failing.contains("data-verdict=\"error\""));
    assert!(
        failing.contains("data-code=\"MX_NON_DEFINITO\""),
        "{failing}"
    );
    assert!(failing.contains("MX NON DEFINITO"));
    assert!(failing.contains("Perché conta:"));
    assert!(
        failing.contains("pec IN MX 10 mx.pec.aruba.it."),
        "{failing}"
    );
    assert!(
        failing.contains("nessun record"),
        "the per-server table says NODATA in words"
    );

    // A wrong A record, in English through the switch and then by the browser's choice.
    let (_, headers, wrong) = visitor
        .get("/check/pec.wronga.it?profile=aruba&lang=en")
        .await;
    assert!(wrong.contains("<html lang=\"en\">"));
    assert!(
        wrong.contains("A NON CORRETTO") && wrong.contains("Why it matters:"),
        "{wrong}"
    );
    assert!(
        headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("pecwatch_lang=en")
    );
    let (_, _, remembered) = visitor.get("/").await;
    assert!(
        remembered.contains("<html lang=\"en\">"),
        "the chosen language is remembered"
    );
    let mut english = Visitor::new(&server).english();
    let (_, _, home) = english.get("/").await;
    assert!(home.contains("Is your PEC domain set up right?"), "{home}");
    assert!(
        home.contains("hreflang=\"it\""),
        "a visible switch to Italian"
    );

    // A Unicode name and an e-mail address are sent to the A-label's address.
    let (_, headers, _) = visitor
        .get("/check?domain=mario%40pec.caff%C3%A8.it&profile=aruba")
        .await;
    assert_eq!(
        headers[LOCATION],
        "/check/pec.xn--caff-8oa.it?profile=aruba"
    );
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn hostile_input_comes_back_escaped_on_the_form() {
    let (db, cleanup) = sqlite().await;
    let server = start(&db.url, &now(), &[]).await;
    let mut visitor = Visitor::new(&server);
    for (path, echoed) in [
        (
            "/check?domain=%3Cscript%3Ealert(1)%3C%2Fscript%3E&profile=aruba",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        ),
        (
            "/check/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E?profile=aruba",
            "&lt;img src=x onerror=alert(1)&gt;",
        ),
        (
            "/check?domain=%22%20autofocus%20onfocus%3D%22alert(1)&profile=aruba",
            "&quot; autofocus onfocus=&quot;alert(1)",
        ),
        (
            "/check?domain=http%3A%2F%2Fpec.ok.it%2F&profile=aruba",
            "http://pec.ok.it/",
        ),
        ("/check?domain=192.0.2.1&profile=aruba", "192.0.2.1"),
    ] {
        let (status, headers, page) = visitor.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {page}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.contains("role=\"alert\""), "{path}: no message");
        assert!(page.contains(echoed), "{path}: {echoed} not in {page}");
        assert!(
            !page.contains("<script>") && !page.contains("<img src"),
            "{path}: unescaped"
        );
        assert!(page.contains("aria-invalid=\"true\""), "{path}");
    }
    // An empty field, an unknown profile, an overlong name, bad escapes: the form again.
    let long = "a".repeat(5000);
    for path in [
        "/check?domain=&profile=aruba".to_owned(),
        "/check?domain=pec.ok.it&profile=%3Cb%3Egestore".to_owned(),
        "/check/pec.ok.it?profile=..%2F..%2Fetc%2Fpasswd".to_owned(),
        format!("/check?domain={long}.it"),
        "/check/%FF%FE?profile=aruba".to_owned(),
    ] {
        let (status, _, page) = visitor.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {page}");
        assert!(page.contains("role=\"alert\""), "{path}");
        assert!(!page.contains("<b>gestore"), "{path}");
        assert!(page.len() < 20_000, "{path}: the echo is bounded");
    }
    let (status, _, page) = visitor.get("/check?domain=&profile=aruba").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("Scrivi il nome del dominio certificato"),
        "{page}"
    );
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_in_both_languages() {
    let lab = lab();
    let (db, cleanup) = sqlite().await;
    let server = start(
        &db.url,
        &now(),
        &[
            ("PECWATCH_DNS_RESOLVER", &lab.resolver),
            ("PECWATCH_WEB_RATE_LIMIT_PER_MINUTE", "3"),
        ],
    )
    .await;
    let mut visitor = Visitor::new(&server);
    for _ in 0..3 {
        let (status, _, _) = visitor.get("/check/pec.ok.it?profile=aruba").await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, page) = visitor.get("/check/pec.ok.it?profile=aruba").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(page.contains("Troppe richieste"), "{page}");
    assert!(
        page.contains("Too many requests came from your address"),
        "{page}"
    );
    // The form itself is not limited: a client that waits can still read it.
    let (status, _, _) = visitor.get("/").await;
    assert_eq!(status, StatusCode::OK);
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn signing_in_sets_safe_cookies_and_needs_the_form_token() {
    let (db, cleanup) = sqlite().await;
    let out = add_user(&db.url, "Mario", "operator", PASSWORD);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "mario (operator)"
    );
    let server = start(&db.url, &now(), &[]).await;
    let mut visitor = Visitor::new(&server);

    // Not signed in: sent to the sign-in page, which remembers where to go back.
    let (status, headers, _) = visitor.get("/console/domains?state=in_error").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        "/console/login?next=%2Fconsole%2Fdomains%3Fstate%3Din_error"
    );

    // A sign-in without the form's token (a forged cross-site form) is refused.
    let (status, _, page) = visitor
        .post(
            "/console/login",
            &[("name", "mario"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(!visitor.cookies.contains_key("pecwatch_session"));

    let (_, headers, page) = visitor
        .get("/console/login?next=%2Fconsole%2Fdomains")
        .await;
    let login_cookie = headers[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"),
        "{login_cookie}"
    );
    let csrf = hidden(&page, "csrf");
    let (status, _, page) = visitor
        .post(
            "/console/login",
            &[
                ("name", "mario"),
                ("password", "Sbagliata-2026"),
                ("csrf", &csrf),
                ("next", "/console/domains"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("Nome utente o password non corretti."),
        "{page}"
    );
    let csrf = hidden(&page, "csrf");
    let (status, headers, _) = visitor
        .post(
            "/console/login",
            &[
                ("name", "MARIO"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/console", "never sent to another site");
    let session = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("pecwatch_session="))
        .unwrap()
        .to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    // Only the hash of the session's identifier is stored.
    let token = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let registry = Registry::open(&db.url).await.unwrap();
    let stored = registry
        .session(&pecwatch::web::token_hash(token), Timestamp::now())
        .await
        .unwrap()
        .expect("the session is open");
    assert_eq!(stored.user.name, "mario");
    assert_ne!(stored.id_hash, token);

    let (status, _, dashboard) = visitor.get("/console").await;
    assert_eq!(status, StatusCode::OK);
    assert!(dashboard.contains("Riepilogo") && dashboard.contains("mario"));
    // Signing out needs the token too, then the session is gone.
    let (status, _, _) = visitor.post("/console/logout", &[("csrf", "nope")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = hidden(&dashboard, "csrf");
    let (status, headers, _) = visitor.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/console/login?bye=1");
    assert!(
        registry
            .session(&pecwatch::web::token_hash(token), Timestamp::now())
            .await
            .unwrap()
            .is_none()
    );
    drop(server);

    // `insecure_cookies` (a plain-HTTP lab) drops `Secure`, and only that.
    let server = start(
        &db.url,
        &now(),
        &[("PECWATCH_WEB_INSECURE_COOKIES", "true")],
    )
    .await;
    let mut visitor = Visitor::new(&server);
    let (_, headers, page) = visitor.get("/console/login").await;
    let cookie = headers[SET_COOKIE].to_str().unwrap();
    assert!(
        !cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let csrf = hidden(&page, "csrf");
    let (_, headers, _) = visitor
        .post(
            "/console/login",
            &[("name", "mario"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    let cookie = headers[SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("pecwatch_session=") && !cookie.contains("Secure"),
        "{cookie}"
    );
    registry.close().await;
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn actions_need_the_csrf_token_and_an_operator() {
    let (db, cleanup) = sqlite().await;
    let at = Timestamp::now();
    add_domain(&db.registry, "pec.review.it", State::UnderReview, at).await;
    add_domain(&db.registry, "pec.ok.it", State::Certified, at).await;
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    assert!(
        add_user(&db.url, "lucia", "read-only", PASSWORD)
            .status
            .success()
    );
    let server = start(&db.url, &now(), &[]).await;
    let state_of = |name: &'static str| {
        let registry = db.registry.clone();
        async move {
            registry
                .domain(&DomainName::parse(name).unwrap())
                .await
                .unwrap()
                .unwrap()
                .status
                .state
        }
    };

    // Read-only: every page, no action button; a POST, even with the token, is 403.
    let mut lucia = Visitor::new(&server);
    let lucia_csrf = lucia.sign_in("lucia", PASSWORD).await;
    let csrf = lucia_csrf.clone();
    let (status, _, page) = lucia.get("/console/domains/pec.review.it").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-state=\"under_review\""));
    assert!(
        !page.contains("/approve\"")
            && !page.contains("<button type=\"submit\" class=\"button good\""),
        "{page}"
    );
    assert!(page.contains("sola lettura"), "{page}");
    let (status, _, page) = lucia
        .post("/console/domains/pec.review.it/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("sola lettura"));
    assert_eq!(state_of("pec.review.it").await, State::UnderReview);
    let (status, _, _) = lucia.get("/console/orders").await;
    assert_eq!(status, StatusCode::OK);

    // Operator: without the session's token, nothing happens.
    let mut mario = Visitor::new(&server);
    let csrf = mario.sign_in("mario", PASSWORD).await;
    let (status, _, page) = mario.get("/console/domains/pec.review.it").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("action=\"/console/domains/pec.review.it/approve\""),
        "{page}"
    );
    for token in ["", "forged", &csrf[..csrf.len() - 1]] {
        let (status, _, _) = mario
            .post("/console/domains/pec.review.it/approve", &[("csrf", token)])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    // Another session's token is not this session's.
    let (status, _, _) = lucia
        .post("/console/domains/pec.review.it/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(state_of("pec.review.it").await, State::UnderReview);

    // With it: approved, through the same actions as the command line.
    let (status, headers, _) = mario
        .post("/console/domains/pec.review.it/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        "/console/domains/pec.review.it?done=approve"
    );
    assert_eq!(state_of("pec.review.it").await, State::Certified);
    let (_, _, page) = mario
        .get("/console/domains/pec.review.it?done=approve")
        .await;
    assert!(page.contains("data-state=\"certified\"") && page.contains("Reinserimento approvato"));
    assert!(
        page.contains("mario"),
        "the transition names the operator: {page}"
    );
    // The history's reasons read in the page's language.
    assert!(page.contains("reintegro approvato"), "{page}");
    let (_, _, english) = mario.get("/console/domains/pec.review.it?lang=en").await;
    assert!(english.contains("reinstatement approved"), "{english}");
    mario.get("/console/domains/pec.review.it?lang=it").await; // the choice sticks
    // Approving again is refused with the lifecycle's reason, on the page (not a 500).
    let (status, _, page) = mario
        .post("/console/domains/pec.review.it/approve", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("consentito solo in stato under_review"),
        "{page}"
    );
    // Renew with a bad date, then a good one; an exception; a bad exception.
    let (status, _, page) = mario
        .post(
            "/console/domains/pec.ok.it/renew",
            &[("csrf", &csrf), ("expires", "domani")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Data non valida"), "{page}");
    let (status, _, _) = mario
        .post(
            "/console/domains/pec.ok.it/renew",
            &[("csrf", &csrf), ("expires", "2030-06-30")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = mario
        .post(
            "/console/domains/pec.ok.it/exception",
            &[("csrf", &csrf), ("add", "192.0.2.7/24")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = mario.get("/console/domains/pec.ok.it").await;
    assert!(page.contains("<code>192.0.2.0/24</code>"), "{page}");
    assert!(page.contains("30/06/2030"), "{page}");
    let (status, _, page) = mario
        .post(
            "/console/domains/pec.ok.it/exception",
            &[("csrf", &csrf), ("add", "<b>x</b>")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("&lt;b&gt;x&lt;/b&gt;") && !page.contains("<b>x</b>"),
        "{page}"
    );
    // Recheck: a check on the spot for the operator, and the domain due now for the sweep.
    let (status, _, page) = lucia
        .post(
            "/console/domains/pec.ok.it/recheck",
            &[("csrf", lucia_csrf.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, _, page) = mario
        .post("/console/domains/pec.ok.it/recheck", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Controllo richiesto.") && page.contains("data-verdict=\"ok\""),
        "{page}"
    );
    let ok = DomainName::parse("pec.ok.it").unwrap();
    let due = db.registry.domain(&ok).await.unwrap().unwrap().next_check;
    assert!(due <= Timestamp::now(), "due at {due}");
    // Unknown domains and actions.
    let (status, _, _) = mario.get("/console/domains/pec.nessuno.it").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = mario
        .post("/console/domains/pec.ok.it/explode", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn sign_ins_are_throttled() {
    let (db, cleanup) = sqlite().await;
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    let server = start(&db.url, &now(), &[]).await;
    let mut visitor = Visitor::new(&server);
    let (_, _, page) = visitor.get("/console/login").await;
    let mut csrf = hidden(&page, "csrf");
    for _ in 0..5 {
        let (status, _, page) = visitor
            .post(
                "/console/login",
                &[
                    ("name", "mario"),
                    ("password", "Sbagliata-2026"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        csrf = hidden(&page, "csrf");
    }
    // Held back: from this address the right password is refused too, for a while.
    let (status, _, held) = visitor
        .post(
            "/console/login",
            &[("name", "mario"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let held_text = notice_text(&held);
    assert!(
        held_text.contains("Troppi tentativi non riusciti"),
        "{held}"
    );
    csrf = hidden(&held, "csrf");
    // From another address mario signs in at once: nobody locks a user out from afar.
    let mut elsewhere = Visitor::from_address(&server, std::net::Ipv4Addr::new(127, 0, 0, 2));
    elsewhere.sign_in("mario", PASSWORD).await;
    // A name that does not exist gets the same answers: the same refusal, and after as
    // many failures the same holding back, with the same status and text.
    // (Each from an address of its own: an address has 10 sign-ins a minute.)
    let mut answers = Vec::new();
    for (name, last) in [("mario", 3), ("nessuno", 4)] {
        let mut prober = Visitor::from_address(&server, std::net::Ipv4Addr::new(127, 0, 0, last));
        let (_, _, page) = prober.get("/console/login").await;
        let mut probe_csrf = hidden(&page, "csrf");
        for attempt in 0..=5 {
            let (status, _, page) = prober
                .post(
                    "/console/login",
                    &[
                        ("name", name),
                        ("password", "Sbagliata-2026"),
                        ("csrf", &probe_csrf),
                    ],
                )
                .await;
            probe_csrf = hidden(&page, "csrf");
            // The seconds left may differ by one on a loaded machine: compared apart.
            let text = notice_text(&page);
            let seconds: String = text.chars().filter(char::is_ascii_digit).collect();
            let shape: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
            if !seconds.is_empty() {
                let seconds: u64 = seconds.parse().unwrap();
                assert!((1..=30).contains(&seconds), "{text}");
            }
            answers.push((name, attempt, status, shape));
        }
    }
    let (known, unknown) = answers.split_at(6);
    for (k, u) in known.iter().zip(unknown) {
        assert_eq!((k.1, k.2, &k.3), (u.1, u.2, &u.3), "{k:?} / {u:?}");
    }
    assert!(
        unknown[0].3.contains("Nome utente o password non corretti"),
        "{unknown:?}"
    );
    assert!(
        unknown[5].3.contains("Troppi tentativi non riusciti"),
        "{unknown:?}"
    );
    // And one address cannot make the server hash passwords all day.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        let (status, _, page) = visitor
            .post(
                "/console/login",
                &[("name", "nessuno"), ("password", "x"), ("csrf", &csrf)],
            )
            .await;
        last = status;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(page.contains("Troppe richieste"));
            break;
        }
        csrf = hidden(&page, "csrf");
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn the_console_pages_show_the_registry() {
    let (db, cleanup) = sqlite().await;
    let at = Timestamp::now();
    for i in 0..55 {
        add_domain(
            &db.registry,
            &format!("pec.d{i:02}.it"),
            State::Certified,
            at,
        )
        .await;
    }
    add_domain(&db.registry, "pec.rotto.it", State::InError, at).await;
    // Two checks of pec.d00.it: the second fails with a new code and another MX.
    let name = DomainName::parse("pec.d00.it").unwrap();
    for (minutes, codes, records) in [
        (120, vec![], vec!["MX 10 mx.pec.aruba.it."]),
        (60, vec![Code::A_NON_CORRETTO], vec!["MX 10 mail.d00.it."]),
    ] {
        let domain = db.registry.domain(&name).await.unwrap().unwrap();
        let mut update = DomainUpdate::new(&domain, domain.next_check);
        update.check = Some(NewCheck {
            at: at - SignedDuration::from_mins(minutes),
            ok: codes.is_empty(),
            transient: false,
            codes: codes.clone(),
            warnings: Vec::new(),
            result: pecwatch::registry::ResultJson::of(&serde_json::json!({
                "codes": codes,
                "nameservers": [{"name": "ns1.cliente.it", "address": "127.53.1.1", "records": records, "serial": 1, "mx": "answer"}],
                "findings": [],
            })),
            previous_ok: Some(true),
        });
        db.registry.commit("test", at, update).await.unwrap();
    }
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    let mailbox = pecwatch(
        &db.url,
        None,
        &["mailboxes", "add", "postmaster@pec.d01.it"],
        &[],
    )
    .output()
    .unwrap();
    assert!(mailbox.status.success(), "{mailbox:?}");
    let server = start(&db.url, &now(), &[]).await;
    let mut mario = Visitor::new(&server);
    mario.sign_in("mario", PASSWORD).await;

    let (_, _, dashboard) = mario.get("/console").await;
    assert!(dashboard.contains("<svg class=\"chart\""), "{dashboard}");
    assert!(
        dashboard.contains("<rect class=\"c3\""),
        "A NON CORRETTO is the fourth colour: {dashboard}"
    );
    assert!(
        dashboard.contains("data-state=\"certified\">\n      <span class=\"count\">55</span>"),
        "{dashboard}"
    );

    let (_, _, list) = mario.get("/console/domains").await;
    assert!(
        list.contains("56 registrati") && list.contains("Pagina 1 di 2"),
        "{list}"
    );
    assert!(list.contains("pec.d49.it") && !list.contains("pec.d50.it"));
    let (_, _, second) = mario.get("/console/domains?page=2").await;
    assert!(second.contains("pec.d50.it") && second.contains("pec.rotto.it"));
    let (_, _, filtered) = mario
        .get("/console/domains?state=in_error&profile=aruba&q=ROTTO")
        .await;
    assert!(
        filtered.contains("1 trovati") && filtered.contains("pec.rotto.it"),
        "{filtered}"
    );
    let (_, _, none) = mario.get("/console/domains?profile=infocert").await;
    assert!(none.contains("Nessun dominio corrisponde ai filtri."));
    let (status, _, hostile) = mario
        .get("/console/domains?q=%3Cscript%3E&state=%3Cb%3E&page=-1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !hostile.contains("<script>") && hostile.contains("value=\"&lt;script&gt;\""),
        "{hostile}"
    );

    let (_, _, page) = mario.get("/console/domains/pec.d00.it").await;
    assert!(page.contains("+ A NON CORRETTO"), "{page}");
    assert!(
        page.contains("ns1.cliente.it (127.53.1.1): MX 10 mx.pec.aruba.it. → MX 10 mail.d00.it."),
        "{page}"
    );
    let (_, _, english) = mario.get("/console/domains/pec.d00.it?lang=en").await;
    assert!(
        english.contains("Check history")
            && english.contains("What changed since the previous one")
    );
    let (_, _, orders) = mario.get("/console/orders?lang=it").await;
    assert!(orders.contains("Nessun ordine."), "{orders}");
    let (status, _, boxes) = mario.get("/console/mailboxes?lang=it").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        boxes.contains("<th scope=\"row\">postmaster@pec.d01.it</th>"),
        "{boxes}"
    );
    assert!(boxes.contains("da impostare"), "{boxes}");
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn users_cli_reads_passwords_safely() {
    let (db, cleanup) = sqlite().await;
    let short = add_user(&db.url, "mario", "operator", "corta");
    assert_eq!(short.status.code(), Some(2), "{short:?}");
    assert!(String::from_utf8_lossy(&short.stderr).contains("password non accettata"));
    let bad = add_user(&db.url, "ma rio", "operator", PASSWORD);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    let twice = add_user(&db.url, "mario", "read-only", PASSWORD);
    assert_eq!(twice.status.code(), Some(2), "{twice:?}");
    // From a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let output = pecwatch(
        &db.url,
        None,
        &[
            "users",
            "add",
            "lucia",
            "--role",
            "read-only",
            "--password-file",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    // There is no way to give the password as an argument.
    let output = pecwatch(
        &db.url,
        None,
        &[
            "users",
            "add",
            "x",
            "--role",
            "operator",
            "--password",
            PASSWORD,
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let list = pecwatch(&db.url, None, &["users", "list", "--format", "json"], &[])
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("\"name\":\"lucia\"") && list.contains("\"role\":\"read-only\""),
        "{list}"
    );
    assert!(!list.contains("argon2"), "no hash in the listing");
    let removed = pecwatch(&db.url, None, &["users", "remove", "lucia"], &[])
        .output()
        .unwrap();
    assert!(removed.status.success());
    let again = pecwatch(&db.url, None, &["users", "remove", "lucia"], &[])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    cleanup.run().await;
}

#[tokio::test]
async fn users_sessions_and_console_queries_on_both_backends() {
    on_both(|db: TestDb| async move {
        let registry = db.registry;
        let at: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let hash = pecwatch::web::hash_password(PASSWORD).unwrap();
        let user = registry
            .add_user("Mario", Role::Operator, &hash, at)
            .await
            .unwrap();
        assert_eq!((user.name.as_str(), user.role), ("mario", Role::Operator));
        assert!(matches!(
            registry.add_user("mario", Role::ReadOnly, &hash, at).await,
            Err(RegistryError::Duplicate(_))
        ));
        assert!(matches!(
            registry
                .add_user("luca", Role::ReadOnly, "plain text", at)
                .await,
            Err(RegistryError::Invalid(_))
        ));
        registry
            .add_user("lucia", Role::ReadOnly, &hash, at)
            .await
            .unwrap();
        let names: Vec<String> = registry
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["lucia", "mario"]);

        let credentials = registry.credentials("MARIO").await.unwrap().unwrap();
        assert!(pecwatch::web::verify_password(
            PASSWORD,
            &credentials.password_hash
        ));
        assert_eq!(credentials.failed_logins, 0);
        registry.record_login_failure(user.id, at).await.unwrap();
        registry.record_login_failure(user.id, at).await.unwrap();
        let credentials = registry.credentials("mario").await.unwrap().unwrap();
        assert_eq!(
            (credentials.failed_logins, credentials.last_failed),
            (2, Some(at))
        );
        registry.record_login(user.id, at).await.unwrap();
        let credentials = registry.credentials("mario").await.unwrap().unwrap();
        assert_eq!(
            (credentials.failed_logins, credentials.user.last_login),
            (0, Some(at))
        );
        assert!(registry.credentials("nessuno").await.unwrap().is_none());
        assert!(
            registry
                .credentials("'; DROP TABLE users; --")
                .await
                .unwrap()
                .is_none()
        );

        // Sessions: open until they expire; closed by sign-out, a new password, removal.
        let session = |id: &str, hours: i64| NewSession {
            id_hash: id.to_owned(),
            user_id: user.id,
            csrf: format!("csrf-{id}"),
            created: at,
            expires: at + SignedDuration::from_hours(hours),
        };
        registry.open_session(&session("a", 8)).await.unwrap();
        registry.open_session(&session("b", 8)).await.unwrap();
        let open = registry.session("a", at).await.unwrap().unwrap();
        assert_eq!(
            (open.user.name.as_str(), open.csrf.as_str()),
            ("mario", "csrf-a")
        );
        assert!(
            registry
                .session("a", at + SignedDuration::from_hours(8))
                .await
                .unwrap()
                .is_none()
        );
        registry.close_session("a").await.unwrap();
        assert!(registry.session("a", at).await.unwrap().is_none());
        assert!(registry.session("b", at).await.unwrap().is_some());
        registry.set_password("mario", &hash, at).await.unwrap();
        assert!(
            registry.session("b", at).await.unwrap().is_none(),
            "a new password signs out"
        );
        registry.open_session(&session("c", 8)).await.unwrap();
        registry.remove_user("mario").await.unwrap();
        assert!(registry.session("c", at).await.unwrap().is_none());
        assert!(matches!(
            registry.remove_user("mario").await,
            Err(RegistryError::NotFound(_))
        ));

        // The console's queries: a page of domains with its total, filters, errors by day.
        for (name, state) in [
            ("pec.a.it", State::Certified),
            ("pec.b.it", State::InError),
            ("pec.cx.it", State::Certified),
        ] {
            add_domain(&registry, name, state, at).await;
        }
        let page = |query: DomainQuery| {
            let registry = registry.clone();
            async move {
                let (domains, total) = registry.domain_page(&query).await.unwrap();
                (
                    domains
                        .into_iter()
                        .map(|d| d.name.to_string())
                        .collect::<Vec<_>>(),
                    total,
                )
            }
        };
        assert_eq!(
            page(DomainQuery {
                limit: 2,
                ..DomainQuery::default()
            })
            .await,
            (vec!["pec.a.it".into(), "pec.b.it".into()], 3)
        );
        assert_eq!(
            page(DomainQuery {
                limit: 2,
                offset: 2,
                ..DomainQuery::default()
            })
            .await,
            (vec!["pec.cx.it".into()], 3)
        );
        assert_eq!(
            page(DomainQuery {
                state: Some(State::InError),
                limit: 10,
                ..DomainQuery::default()
            })
            .await,
            (vec!["pec.b.it".into()], 1)
        );
        // `_` is a letter here, not a wildcard.
        assert_eq!(
            page(DomainQuery {
                search: Some("CX".into()),
                limit: 10,
                ..DomainQuery::default()
            })
            .await
            .1,
            1
        );
        assert_eq!(
            page(DomainQuery {
                search: Some("a_i".into()),
                limit: 10,
                ..DomainQuery::default()
            })
            .await
            .1,
            0
        );
        assert_eq!(
            page(DomainQuery {
                search: Some("admin@pec.b".into()),
                limit: 10,
                ..DomainQuery::default()
            })
            .await
            .1,
            1
        );
        assert_eq!(
            page(DomainQuery {
                profile: Some("infocert".into()),
                limit: 10,
                ..DomainQuery::default()
            })
            .await
            .1,
            0
        );
        assert_eq!(registry.domain_profiles().await.unwrap(), ["aruba"]);

        let b = registry
            .domain(&DomainName::parse("pec.b.it").unwrap())
            .await
            .unwrap()
            .unwrap();
        for (hours, codes) in [
            (50, vec!["MX_NON_DEFINITO"]),
            (2, vec!["A_NON_CORRETTO", "A_MULTIPLI"]),
            (1, vec!["A_NON_CORRETTO"]),
        ] {
            let domain = registry.domain_by_id(b.id).await.unwrap().unwrap();
            let mut update = DomainUpdate::new(&domain, domain.next_check);
            update.check = Some(NewCheck {
                at: at - SignedDuration::from_hours(hours),
                ok: false,
                transient: false,
                codes: codes.iter().map(|c| Code::parse(c).unwrap()).collect(),
                warnings: Vec::new(),
                result: pecwatch::registry::ResultJson::of(&serde_json::json!({})),
                previous_ok: Some(false),
            });
            registry.commit("test", at, update).await.unwrap();
        }
        let days = registry
            .errors_by_day(at - SignedDuration::from_hours(72))
            .await
            .unwrap();
        let today = at.as_second() / 86_400;
        let summary: Vec<(i64, Vec<(String, u64)>)> = days
            .into_iter()
            .map(|d| (d.day - today, d.codes.into_iter().collect()))
            .collect();
        assert_eq!(
            summary,
            [
                (-2, vec![("MX_NON_DEFINITO".into(), 1)]),
                (
                    0,
                    vec![("A_MULTIPLI".into(), 1), ("A_NON_CORRETTO".into(), 2)]
                ),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn orders_are_decided_from_the_console() {
    let (db, cleanup) = sqlite().await;
    let review = [("PECWATCH_ACTIVATION_REVIEW_OWN_DOMAINS", "true")];
    for name in ["pec.nuovo.it", "pec.altro.it"] {
        let output = pecwatch(
            &db.url,
            None,
            &["orders", "add", name, "--holder-email", "titolare@nuovo.it"],
            &review,
        )
        .output()
        .unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    assert!(
        add_user(&db.url, "lucia", "read-only", PASSWORD)
            .status
            .success()
    );
    let server = start(&db.url, &now(), &review).await;
    let orders = db.registry.orders(None, 10).await.unwrap();
    let id = |name: &str| {
        orders
            .iter()
            .find(|o| o.name.as_str() == name)
            .unwrap()
            .id
            .to_string()
    };
    let (nuovo, altro) = (id("pec.nuovo.it"), id("pec.altro.it"));

    let mut lucia = Visitor::new(&server);
    let lucia_csrf = lucia.sign_in("lucia", PASSWORD).await;
    let (_, _, page) = lucia.get("/console/orders").await;
    assert!(
        page.contains("pec.nuovo.it") && !page.contains("/approve\""),
        "{page}"
    );
    let (status, _, _) = lucia
        .post(
            &format!("/console/orders/{nuovo}/approve"),
            &[("csrf", &lucia_csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut mario = Visitor::new(&server);
    let csrf = mario.sign_in("mario", PASSWORD).await;
    let (_, _, page) = mario.get("/console/orders").await;
    assert!(
        page.contains(&format!("action=\"/console/orders/{nuovo}/approve\"")),
        "{page}"
    );
    let (status, headers, _) = mario
        .post(
            &format!("/console/orders/{nuovo}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/console/orders?done=approve");
    let domain = db
        .registry
        .domain(&DomainName::parse("pec.nuovo.it").unwrap())
        .await
        .unwrap()
        .expect("registered by the approval");
    assert_eq!(domain.status.state, State::PendingDns);
    // A second approval is refused with the reason, on the page.
    let (status, _, page) = mario
        .post(
            &format!("/console/orders/{nuovo}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    // Rejecting needs a reason.
    let (status, _, page) = mario
        .post(
            &format!("/console/orders/{altro}/reject"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("scrivi il motivo"), "{page}");
    let (status, _, _) = mario
        .post(
            &format!("/console/orders/{altro}/reject"),
            &[("csrf", &csrf), ("reason", "dominio non del cliente")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = mario.get("/console/orders?state=all").await;
    assert!(
        page.contains("dominio non del cliente") && page.contains("approvato"),
        "{page}"
    );
    assert!(page.contains("data-state=\"pending_dns\""), "{page}");
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn a_hostile_next_goes_to_the_dashboard_never_a_500() {
    let (db, cleanup) = sqlite().await;
    assert!(
        add_user(&db.url, "mario", "operator", PASSWORD)
            .status
            .success()
    );
    let server = start(&db.url, &now(), &[]).await;
    for (n, next) in [
        "/console\r\nSet-Cookie: pecwatch_session=forged",
        "/console/domains\r",
        "/console/../api/v1/tokens",
        "/console/%2e%2e/metrics",
    ]
    .into_iter()
    .enumerate()
    {
        // Each from an address of its own (10 sign-ins a minute per address).
        let last = u8::try_from(10 + n).unwrap();
        let mut visitor = Visitor::from_address(&server, std::net::Ipv4Addr::new(127, 0, 0, last));
        let query: String = next.bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, _, page) = visitor.get(&format!("/console/login?next={query}")).await;
        assert_eq!(status, StatusCode::OK, "{next:?}: {page}");
        assert_eq!(hidden(&page, "next"), "/console", "{next:?}");
        let csrf = hidden(&page, "csrf");
        let (status, headers, page) = visitor
            .post(
                "/console/login",
                &[
                    ("name", "mario"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next:?}: {page}");
        assert_eq!(headers[LOCATION], "/console", "{next:?}");
    }
    drop(server);
    cleanup.run().await;
}
