//! What every HTML page shares: the templates (minijinja, auto-escaping on, compiled in
//! from `templates/web/`), the language of the page, the stylesheet, the security
//! headers, the client's address and the error pages.
//!
//! # Language
//!
//! Italian by default. `?lang=en` (or `it`) chooses, and is remembered in a `pecwatch_lang`
//! cookie; without either, the browser's `Accept-Language` decides between the two. Every
//! page has a visible switch to the other language. Templates write both versions of a
//! text side by side: `{{ tr("Controlla", "Check") }}`.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minijinja::value::Value;
use minijinja::{Environment, State, UndefinedBehavior, context};
use sha2::{Digest, Sha256};

use crate::Lang;

/// The cookie that remembers the chosen language.
pub(crate) const LANG_COOKIE: &str = "pecwatch_lang";
/// The stylesheet, compiled in.
pub(crate) const CSS: &str = include_str!("../assets/pecwatch.css");
/// Where the stylesheet is served (its URL carries a version, see [`css_href`]).
pub(crate) const CSS_PATH: &str = "/assets/pecwatch.css";

/// The page templates, compiled in: `(name, source)`.
macro_rules! templates {
    ($($name:literal,)*) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/web/", $name))),)*]
    };
}

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = templates![
    "base.html",
    "macros.html",
    "error.html",
    "home.html",
    "check.html",
    "password.html",
    "console/base.html",
    "console/login.html",
    "console/dashboard.html",
    "console/domains.html",
    "console/domain.html",
    "console/orders.html",
    "console/mailboxes.html",
];

/// The template environment, built once.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A typo in a template is an error in the tests, not an empty string in a page.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            if let Err(error) = env.add_template(name, source) {
                // Caught by the tests, which render every template.
                tracing::error!(template = name, %error, "bad web template");
            }
        }
        env.add_function("tr", tr);
        env.add_function("provider", provider);
        env.set_formatter(html_formatter);
        env
    })
}

/// The HTML escaping of every value written into a page: `&`, `<`, `>`, `"` and `'`
/// (minijinja's own also escapes `/`, which only makes addresses unreadable in the
/// source). Safe values and numbers are written as they are.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let escaping = matches!(state.auto_escape(), minijinja::AutoEscape::Html);
    match value.as_str() {
        Some(text) if escaping && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `provider(profile)`: a profile's provider for people (`Aruba` for `aruba`); a profile
/// that is not built in shows as named.
fn provider(profile: String) -> String {
    crate::profile::Profile::built_in(&profile).map_or(profile, |p| p.display_name)
}

/// `tr(it, en)`: the text in the page's language.
fn tr(state: &State, it: String, en: String) -> String {
    match state.lookup("lang").as_ref().and_then(Value::as_str) {
        Some("en") => en,
        _ => it,
    }
}

/// The stylesheet's URL, with a version that changes with its content (so it can be
/// cached for a year).
pub(crate) fn css_href() -> &'static str {
    static HREF: OnceLock<String> = OnceLock::new();
    HREF.get_or_init(|| {
        let digest = Sha256::digest(CSS.as_bytes());
        let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{CSS_PATH}?v={version}")
    })
}

/// `GET /assets/pecwatch.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        CSS,
    )
        .into_response()
}

/// The security headers of every HTML page: no scripts at all, styles and images from
/// this site only, forms posted to this site only, never framed.
pub(crate) fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ),
    ]
}

/// The page being answered: its language, its URL, and whether the language cookie must
/// be set. Extracted from any request.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    /// The page's language.
    pub lang: Lang,
    /// The request's path and query.
    pub uri: Uri,
    /// The language was chosen with `?lang=`: remember it.
    remember: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Page::from_parts(&parts.uri, &parts.headers))
    }
}

impl Page {
    /// The page for a request's URL and headers.
    pub(crate) fn from_parts(uri: &Uri, headers: &HeaderMap) -> Page {
        let chosen = query_param(uri, "lang").and_then(|value| parse_lang(&value));
        let lang = chosen
            .or_else(|| cookie(headers, LANG_COOKIE).and_then(|value| parse_lang(&value)))
            .unwrap_or_else(|| accept_language(headers));
        Page {
            lang,
            uri: uri.clone(),
            remember: chosen.is_some(),
        }
    }

    /// The language's code (`it`, `en`).
    pub(crate) fn code(&self) -> &'static str {
        lang_code(self.lang)
    }

    /// The context every template needs: the language, the stylesheet, the switch to
    /// the other language.
    pub(crate) fn base(&self) -> Value {
        let other = match self.lang {
            Lang::It => Lang::En,
            Lang::En => Lang::It,
        };
        context! {
            lang => self.code(),
            css => css_href(),
            switch_href => with_param(&self.uri, "lang", Some(lang_code(other))),
            switch_label => match other { Lang::It => "Italiano", Lang::En => "English" },
            switch_code => lang_code(other),
            path => self.uri.path(),
        }
    }

    /// Renders a template with `context` (merged over [`Page::base`]) as a response with
    /// `status`.
    pub(crate) fn render(&self, status: StatusCode, template: &str, context: Value) -> Response {
        let full = context! { ..context, ..self.base() };
        let html = environment()
            .get_template(template)
            .and_then(|template| template.render(full));
        match html {
            Ok(html) => self.respond(status, html),
            Err(error) => {
                tracing::error!(template, error = %format!("{error:#}"), "cannot render a page");
                self.respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    self.lang
                        .pick(
                            "Errore interno: la pagina non può essere mostrata.",
                            "Internal error: the page cannot be shown.",
                        )
                        .to_owned(),
                )
            }
        }
    }

    /// An HTML response, with the language cookie when it must be set.
    pub(crate) fn respond(&self, status: StatusCode, html: String) -> Response {
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        let headers = response.headers_mut();
        for (name, value) in security_headers() {
            headers.insert(name, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept-Language, Cookie"),
        );
        if self.remember
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                self.code()
            ))
        {
            headers.append(header::SET_COOKIE, value);
        }
        response
    }

    /// An error page: a title and a message in the page's language, with `status`.
    pub(crate) fn error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(
            status,
            "error.html",
            context! { title => title, message => message, status => status.as_u16() },
        )
    }

    /// The page for a client that asks too often (429), in both languages, with the
    /// seconds to wait.
    pub(crate) fn too_many(&self, retry_after: u64) -> Response {
        let mut response = self.render(
            StatusCode::TOO_MANY_REQUESTS,
            "error.html",
            context! {
                status => 429,
                title => self.lang.pick("Troppe richieste", "Too many requests"),
                message => match self.lang {
                    Lang::It => format!("Sono arrivate troppe richieste dal tuo indirizzo. Riprova tra {retry_after} secondi."),
                    Lang::En => format!("Too many requests came from your address. Try again in {retry_after} seconds."),
                },
                both => true,
            },
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    /// The 404 page.
    pub(crate) fn not_found(&self) -> Response {
        self.error(
            StatusCode::NOT_FOUND,
            self.lang.pick("Pagina non trovata", "Page not found"),
            self.lang.pick(
                "L'indirizzo richiesto non esiste.",
                "The address you asked for does not exist.",
            ),
        )
    }

    /// The page for a failure of ours (the database, for instance): logged, not shown.
    pub(crate) fn internal(&self, error: &dyn std::fmt::Display) -> Response {
        tracing::error!(%error, path = %self.uri.path(), "web page failed");
        self.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            self.lang.pick("Errore interno", "Internal error"),
            self.lang.pick(
                "Non è stato possibile completare la richiesta. Riprova più tardi.",
                "The request could not be completed. Please try again later.",
            ),
        )
    }
}

/// The code of a language.
pub(crate) fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

fn parse_lang(text: &str) -> Option<Lang> {
    match text.trim().to_ascii_lowercase().as_str() {
        "it" => Some(Lang::It),
        "en" => Some(Lang::En),
        _ => None,
    }
}

/// Italian or English from `Accept-Language`: the one with the higher weight (Italian
/// when neither is named, or on a tie).
fn accept_language(headers: &HeaderMap) -> Lang {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::It;
    };
    let mut best = (0.0_f32, Lang::It);
    let mut italian = 0.0_f32;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        match primary {
            "it" => italian = italian.max(weight),
            "en" if weight > best.0 => best = (weight, Lang::En),
            _ => {}
        }
    }
    if best.1 == Lang::En && best.0 > italian {
        Lang::En
    } else {
        Lang::It
    }
}

/// The value of a cookie of the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
}

/// The first value of a query parameter, decoded.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_pairs(query)
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Decodes `application/x-www-form-urlencoded` text into its pairs (malformed escapes
/// are kept as they are).
pub(crate) fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(key), decode_component(value))
        })
        .collect()
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component.
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The URL's path and query with the parameter `name` set to `value` (or removed).
pub(crate) fn with_param(uri: &Uri, name: &str, value: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .map(form_pairs)
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key != name)
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    let query = build_query(&pairs);
    if query.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{query}", uri.path())
    }
}

/// `key=value&…`, percent-encoded.
pub(crate) fn build_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode_component(key), encode_component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The connection's peer, when the server records it (`ConnectInfo<SocketAddr>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_language_is_chosen_by_query_then_cookie_then_browser() {
        let uri: Uri = "/check/x.it?lang=en".parse().unwrap();
        assert_eq!(Page::from_parts(&uri, &HeaderMap::new()).lang, Lang::En);
        let uri: Uri = "/".parse().unwrap();
        assert_eq!(Page::from_parts(&uri, &HeaderMap::new()).lang, Lang::It);
        let cookie = headers(&[("cookie", "a=b; pecwatch_lang=en")]);
        assert_eq!(Page::from_parts(&uri, &cookie).lang, Lang::En);
        for (value, lang) in [
            ("en-US,en;q=0.9", Lang::En),
            ("it-IT,it;q=0.9,en;q=0.8", Lang::It),
            ("en;q=0.5,it;q=0.9", Lang::It),
            ("de-DE,en;q=0.7", Lang::En),
            ("fr", Lang::It),
            ("", Lang::It),
        ] {
            let map = headers(&[("accept-language", value)]);
            assert_eq!(Page::from_parts(&uri, &map).lang, lang, "{value}");
        }
    }

    #[test]
    fn query_parameters_round_trip() {
        let uri: Uri = "/check/a.it?profile=aruba&lang=it&q=a%20b%2B%26"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "q").as_deref(), Some("a b+&"));
        assert_eq!(
            with_param(&uri, "lang", Some("en")),
            "/check/a.it?profile=aruba&q=a%20b%2B%26&lang=en"
        );
        assert_eq!(
            with_param(&"/x?lang=it".parse().unwrap(), "lang", None),
            "/x"
        );
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        assert_eq!(decode_component("%C3%A8"), "è");
    }

    #[test]
    fn values_are_escaped_for_html() {
        let page = Page::from_parts(&"/".parse().unwrap(), &HeaderMap::new());
        let response = page.error(StatusCode::BAD_REQUEST, "<b>\"x\"</b> & 'y'", "a/b");
        let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("&lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; &#39;y&#39;"),
            "{body}"
        );
        assert!(body.contains("<p>a/b</p>"), "{body}");
    }

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
