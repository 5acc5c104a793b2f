//! `[web]`: the web interface's own settings, checked here, and [`Site`]: what of the rest
//! of the configuration the web serves with, assembled once at start by the command line.
//! The web reads nothing else of the configuration (no SMTP password, no database URL).

use std::net::SocketAddr;
use std::sync::Arc;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::ServerLimits;
use crate::index::Provider;
use crate::lifecycle::duration_serde;
use crate::net::ConnectionLimits;
use crate::profile::{Profile, ProfileLoader};
use crate::settings::{Invalid, positive};

/// Above this many names in one `POST /api/v1/check`, a warning at start: one call could
/// keep the DNS busy for minutes.
pub const CHECK_MAX_NAMES_WARN: u32 = 1_000;

/// A `[web]` value accepted, but most likely a mistake ([`WebConfig::warnings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebWarning {
    /// `trusted_proxies` holds a network of prefix 0 (`0.0.0.0/0`, `::/0`).
    TrustsEveryone(ipnet::IpNet),
    /// `check_max_names` is over [`CHECK_MAX_NAMES_WARN`].
    ManyNames(u32),
}

impl WebWarning {
    /// The warning in `lang`, naming the key.
    pub fn message(&self, lang: crate::Lang) -> String {
        match (self, lang) {
            (Self::TrustsEveryone(net), crate::Lang::It) => format!(
                "[web] trusted_proxies contiene {net}: qualunque client può scegliersi \
                 l'indirizzo con X-Forwarded-For ed eludere i limiti di frequenza e le attese \
                 dopo gli accessi falliti; elencare solo i reverse proxy"
            ),
            (Self::TrustsEveryone(net), crate::Lang::En) => format!(
                "[web] trusted_proxies holds {net}: any client can pick its address with \
                 X-Forwarded-For and escape the rate limits and the sign-in backoff; list \
                 only the reverse proxies"
            ),
            (Self::ManyNames(n), crate::Lang::It) => format!(
                "[web] check_max_names = {n}, oltre {CHECK_MAX_NAMES_WARN}: una sola richiesta \
                 di verifica può tenere occupato il DNS per minuti"
            ),
            (Self::ManyNames(n), crate::Lang::En) => format!(
                "[web] check_max_names = {n}, over {CHECK_MAX_NAMES_WARN}: one check request \
                 can keep the DNS busy for minutes"
            ),
        }
    }
}

/// `[web]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port the web interface listens on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Whether `pecwatch serve` also serves the web interface on `listen` (`pecwatch
    /// web` always does). Default `true`.
    pub enabled: bool,
    /// The address clients reach the interface at (`https://pec.esempio.it`), for
    /// absolute links (`Link` headers, the OpenAPI document's server); empty: links
    /// relative to the request. Default empty.
    pub public_url: String,
    /// Requests a minute allowed to one client address on the public endpoints (without
    /// an API token): the index, the OpenAPI document, the API check, the public pages;
    /// a burst of as many is allowed. 0: no limit. Default 60.
    pub rate_limit_per_minute: u32,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` is believed when
    /// telling clients apart for the rate limit. Default none.
    pub trusted_proxies: Vec<String>,
    /// Most names in one `POST /api/v1/check`. Default 100.
    pub check_max_names: u32,
    /// Send the console's session cookies without `Secure`, so that a browser keeps them
    /// over plain `http://` (a lab, or a test on a machine without TLS). Default `false`:
    /// the cookies are `Secure`, and the console is reached over HTTPS (a reverse proxy in
    /// front of `listen`) or at `http://localhost`, which browsers treat as secure.
    pub insecure_cookies: bool,
    /// How long a client has to send a request's headers, counted from when the server
    /// starts waiting for them (a new connection, or the next request on a kept-alive
    /// one): a silent or slow connection is closed after it. Default 10 seconds.
    #[serde(with = "duration_serde")]
    pub header_read_timeout: SignedDuration,
    /// The longest a request may take, from its headers to the response (reading its
    /// body included): past it the answer is 408. Default 60 seconds.
    #[serde(with = "duration_serde")]
    pub request_timeout: SignedDuration,
    /// A connection on which nothing is read or written for this long is closed (a
    /// stalled upload, a client that does not read the response). Longer than
    /// `request_timeout`. Default 2 minutes.
    #[serde(with = "duration_serde")]
    pub idle_timeout: SignedDuration,
    /// The longest a connection stays open: past it the request in flight is finished
    /// and the connection closed (the client opens another). Default 10 minutes.
    #[serde(with = "duration_serde")]
    pub connection_lifetime: SignedDuration,
    /// Connections open at once, in all; further clients wait to be accepted. 0: no cap.
    /// Default 4096.
    pub max_connections: usize,
    /// Connections open at once from one client address (trusted proxies excepted);
    /// further ones are closed at once. 0: no cap. Default 64.
    pub max_connections_per_client: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            enabled: true,
            public_url: String::new(),
            rate_limit_per_minute: 60,
            trusted_proxies: Vec::new(),
            check_max_names: 100,
            insecure_cookies: false,
            header_read_timeout: SignedDuration::from_secs(10),
            request_timeout: SignedDuration::from_secs(60),
            idle_timeout: SignedDuration::from_mins(2),
            connection_lifetime: SignedDuration::from_mins(10),
            max_connections: 4096,
            max_connections_per_client: 64,
        }
    }
}

impl WebConfig {
    /// Checks every key: the public URL, the trusted proxies, the names per check, the
    /// timeouts (positive, the idle one longer than the request's).
    pub fn validate(&self) -> Result<(), Invalid> {
        let url = &self.public_url;
        if !url.is_empty() {
            let rest = ["https://", "http://"]
                .iter()
                .find_map(|scheme| url.strip_prefix(scheme));
            if rest.is_none_or(|rest| {
                rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#'])
            }) {
                return Err(Invalid::new(
                    "public_url",
                    format!("{url:?}"),
                    "expected an https:// or http:// URL without spaces, query or fragment",
                ));
            }
        }
        for proxy in &self.trusted_proxies {
            if parse_network(proxy).is_none() {
                return Err(Invalid::new(
                    "trusted_proxies",
                    format!("{proxy:?}"),
                    "expected IP addresses or networks such as 10.0.0.0/8",
                ));
            }
        }
        if self.check_max_names == 0 {
            return Err(Invalid::new("check_max_names", "0", "must be at least 1"));
        }
        positive(&[
            ("header_read_timeout", self.header_read_timeout),
            ("request_timeout", self.request_timeout),
            ("idle_timeout", self.idle_timeout),
            ("connection_lifetime", self.connection_lifetime),
        ])?;
        if self.idle_timeout <= self.request_timeout {
            return Err(Invalid::new(
                "idle_timeout",
                format!("\"{:#}\"", self.idle_timeout),
                "must be longer than [web] request_timeout",
            ));
        }
        Ok(())
    }

    /// What is accepted but most likely a mistake: a trusted proxy network of prefix 0
    /// (every client could pick its address through `X-Forwarded-For`, and so escape the
    /// rate limits and the sign-in backoff), `check_max_names` over
    /// [`CHECK_MAX_NAMES_WARN`]. Said at start by `pecwatch web` and `serve`.
    pub fn warnings(&self) -> Vec<WebWarning> {
        let mut warnings: Vec<WebWarning> = self
            .trusted_proxies()
            .into_iter()
            .filter(|net| net.prefix_len() == 0)
            .map(WebWarning::TrustsEveryone)
            .collect();
        if self.check_max_names > CHECK_MAX_NAMES_WARN {
            warnings.push(WebWarning::ManyNames(self.check_max_names));
        }
        warnings
    }

    /// The reverse proxies of `trusted_proxies` (validated at load).
    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|text| parse_network(text))
            .collect()
    }

    /// The server's limits: timeouts, and connection caps with the trusted proxies exempt
    /// per address.
    pub fn server_limits(&self) -> ServerLimits {
        ServerLimits {
            header_read_timeout: self.header_read_timeout.unsigned_abs(),
            request_timeout: self.request_timeout.unsigned_abs(),
            idle_timeout: self.idle_timeout.unsigned_abs(),
            connection_lifetime: self.connection_lifetime.unsigned_abs(),
            connections: ConnectionLimits {
                max_connections: self.max_connections,
                max_per_client: self.max_connections_per_client,
                exempt: self.trusted_proxies(),
            },
        }
    }
}

/// An address or a network, as `trusted_proxies` lists them.
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// What the web interface serves with besides `[web]`, assembled once at start from the
/// configuration by the command line (`pecwatch web`, `pecwatch serve`).
#[derive(Clone)]
pub struct Site {
    /// `[web]`.
    pub web: WebConfig,
    /// The provider profiles a request may name.
    pub profiles: Profiles,
    /// Domains checked at once by one `POST /api/v1/check` (`[dns] concurrency`, at most
    /// 64).
    pub check_concurrency: usize,
    /// The canary domains (`[sweep] canaries`), shown on the dashboard.
    pub canaries: Vec<String>,
    /// This provider's entry in the index (`[index]`).
    pub index: IndexSource,
}

/// The provider profiles of the configuration, by name only: a request never names a
/// file on the server.
#[derive(Clone)]
pub struct Profiles {
    /// The profile of checks and new domains that name none (`[check] profile`).
    pub default: String,
    /// Every usable name, sorted.
    pub names: Vec<String>,
    /// Loads one by name (case-insensitive); the error is the message shown.
    pub load: ProfileLoader,
}

impl Profiles {
    /// The profile `name`; the error says why not, for people.
    pub fn get(&self, name: &str) -> Result<Profile, String> {
        (self.load)(name)
    }
}

/// This provider's entry in the providers' index, as the web serves it.
#[derive(Clone)]
pub struct IndexSource {
    /// The `[index]` keys the entry needs that are empty, each with the environment
    /// variable that sets it.
    pub missing: Vec<(&'static str, String)>,
    /// The entry, its certificate read (again when the file changed); the error as shown.
    #[allow(clippy::type_complexity)]
    pub provider: Arc<dyn Fn() -> Result<Provider, String> + Send + Sync>,
}
