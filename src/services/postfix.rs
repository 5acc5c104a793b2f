//! The hook into the mail servers: a Postfix policy service (SMTPD_POLICY_README) and a
//! socketmap table (`socketmap_table(5)`), answering from a snapshot of the registry.
//!
//! A certified domain's PEC mail flows only while the domain is `certified` or `in_error`
//! (within its grace period). For a sender or recipient in a domain this provider manages
//! that is not (removed, under review, expired, pending), the policy service answers
//! `REJECT 5.7.1` with an Italian and English reason; for anything else `DUNNO`. The
//! socketmap answers `virtual_mailbox_domains` lookups the same way. When the provider
//! keeps its mailboxes in pecwatch (`postfix.check_mailboxes`), an address whose mailbox
//! does not exist in a managed domain is refused too, and the socketmap answers
//! `virtual_mailbox_maps` with the mailbox's maildir path.
//!
//! The protocols are pure functions here ([`parse_policy`], [`Access`], [`parse_netstring`],
//! [`socketmap_reply`]); [`Snapshot`] is the domain table they consult, rebuilt by
//! [`watch`] whenever the registry changes (checked every second), so a removal is
//! enforced within seconds. Malformed requests are logged and their connection closed;
//! they never stop the service.
//!
//! # Why the protocols are written here
//!
//! No maintained crate speaks either protocol: on crates.io, `postfix_policy` (a
//! blocking policy handler) and `netstring` (blocking netstring streams) have had no
//! release since 2019, and neither has the limits this service needs (bounded request
//! sizes, connection caps, idle timeouts on tokio). Both protocols are small: attribute
//! lines ending at an empty line, and netstrings (`len:bytes,`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::lifecycle::State;
use crate::lifecycle::duration_serde;
use crate::net::{self, ConnectionLimits, Gate};
use crate::registry::{Registry, RegistryError};
use crate::settings::{Invalid, positive};

/// The longest request line or netstring accepted by default.
const MAX_LINE: usize = 8 * 1024;
/// The most attributes in one policy request (Postfix sends about 30).
const MAX_ATTRIBUTES: usize = 200;
/// How often [`watch`] looks for changes in the registry.
pub const REFRESH: Duration = Duration::from_secs(1);

/// What this process answered since it started: lock-free counters, read by the process's
/// own `/metrics` (`[postfix] metrics_listen`). They are per process, as Prometheus
/// counters are: a restart starts them again from zero, which Prometheus's `rate()`
/// understands. They are not stored in the registry: a lookup must never wait for the
/// database.
#[derive(Debug, Default)]
pub struct Counters {
    /// Policy requests answered `DUNNO`.
    pub policy_dunno: AtomicU64,
    /// Policy requests answered `REJECT`.
    pub policy_reject: AtomicU64,
    /// Socketmap lookups answered `OK`.
    pub socketmap_found: AtomicU64,
    /// Socketmap lookups answered `NOTFOUND` (or `PERM` for a malformed request).
    pub socketmap_not_found: AtomicU64,
    /// Connections closed because of a malformed (or too large) request.
    pub protocol_errors: AtomicU64,
    /// Of those, connections closed because a request was too large.
    pub too_large: AtomicU64,
    /// Connections closed because they were idle, slow or open too long.
    pub timeouts: AtomicU64,
    /// Times the snapshot was (re)loaded from the registry.
    pub reloads: AtomicU64,
    /// Domains in the current snapshot.
    pub domains: AtomicU64,
    /// When the snapshot was last known to match the registry (Unix seconds): loaded, or
    /// found unchanged by [`watch`]. Lags when the database stops answering.
    pub verified: AtomicU64,
}

/// This process's counters.
pub static COUNTERS: Counters = Counters {
    policy_dunno: AtomicU64::new(0),
    policy_reject: AtomicU64::new(0),
    socketmap_found: AtomicU64::new(0),
    socketmap_not_found: AtomicU64::new(0),
    protocol_errors: AtomicU64::new(0),
    too_large: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    reloads: AtomicU64::new(0),
    domains: AtomicU64::new(0),
    verified: AtomicU64::new(0),
};

impl Counters {
    /// The counters in the Prometheus text exposition format (with the connection
    /// counters of [`net::NET_COUNTERS`]).
    pub fn to_prometheus(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "# HELP pecwatch_policy_requests_total Postfix policy requests answered, by action.\n\
             # TYPE pecwatch_policy_requests_total counter\n\
             pecwatch_policy_requests_total{{action=\"dunno\"}} {}\n\
             pecwatch_policy_requests_total{{action=\"reject\"}} {}\n\
             # HELP pecwatch_socketmap_lookups_total Socketmap lookups answered, by result.\n\
             # TYPE pecwatch_socketmap_lookups_total counter\n\
             pecwatch_socketmap_lookups_total{{result=\"found\"}} {}\n\
             pecwatch_socketmap_lookups_total{{result=\"not_found\"}} {}\n\
             # HELP pecwatch_postfix_protocol_errors_total Connections closed on a malformed request.\n\
             # TYPE pecwatch_postfix_protocol_errors_total counter\n\
             pecwatch_postfix_protocol_errors_total {}\n\
             # HELP pecwatch_postfix_too_large_total Connections closed on a request over its size cap.\n\
             # TYPE pecwatch_postfix_too_large_total counter\n\
             pecwatch_postfix_too_large_total {}\n\
             # HELP pecwatch_postfix_timeouts_total Connections closed idle, slow or open too long.\n\
             # TYPE pecwatch_postfix_timeouts_total counter\n\
             pecwatch_postfix_timeouts_total {}\n\
             # HELP pecwatch_postfix_snapshot_reloads_total Times the domain snapshot was loaded.\n\
             # TYPE pecwatch_postfix_snapshot_reloads_total counter\n\
             pecwatch_postfix_snapshot_reloads_total {}\n\
             # HELP pecwatch_postfix_snapshot_domains Domains in the snapshot the answers rest on.\n\
             # TYPE pecwatch_postfix_snapshot_domains gauge\n\
             pecwatch_postfix_snapshot_domains {}\n\
             # HELP pecwatch_postfix_snapshot_verified_timestamp_seconds When the snapshot was last known to match the registry (Unix time).\n\
             # TYPE pecwatch_postfix_snapshot_verified_timestamp_seconds gauge\n\
             pecwatch_postfix_snapshot_verified_timestamp_seconds {}\n",
            get(&self.policy_dunno),
            get(&self.policy_reject),
            get(&self.socketmap_found),
            get(&self.socketmap_not_found),
            get(&self.protocol_errors),
            get(&self.too_large),
            get(&self.timeouts),
            get(&self.reloads),
            get(&self.domains),
            get(&self.verified),
        ) + &net::NET_COUNTERS.to_prometheus("postfix")
    }
}

/// What the policy service tells Postfix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// No opinion: Postfix goes on with its other restrictions.
    Dunno,
    /// Refuse, with an enhanced status code and a reason (Italian / English).
    Reject(String),
}

impl Access {
    /// The reply as Postfix reads it: `action=…` and an empty line.
    pub fn reply(&self) -> String {
        match self {
            Access::Dunno => "action=DUNNO\n\n".to_owned(),
            Access::Reject(reason) => format!("action=REJECT {reason}\n\n"),
        }
    }
}

/// Why a request could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A line is not `name=value`.
    #[error("not a name=value line: {0:?}")]
    BadLine(String),
    /// Too long or too many attributes.
    #[error("request too large")]
    TooLarge,
    /// A netstring is malformed.
    #[error("malformed netstring: {0}")]
    BadNetstring(String),
}

/// A policy request: its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRequest {
    /// The attributes, by name.
    pub attributes: HashMap<String, String>,
}

/// Parses the lines of one policy request (without the terminating empty line).
pub fn parse_policy<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> Result<PolicyRequest, ProtocolError> {
    let mut request = PolicyRequest::default();
    for line in lines {
        if request.attributes.len() >= MAX_ATTRIBUTES || line.len() > MAX_LINE {
            return Err(ProtocolError::TooLarge);
        }
        let (name, value) = line
            .split_once('=')
            .filter(|(name, _)| !name.is_empty() && !name.contains(char::is_whitespace))
            .ok_or_else(|| ProtocolError::BadLine(line.chars().take(80).collect()))?;
        request.attributes.insert(name.to_owned(), value.to_owned());
    }
    Ok(request)
}

/// The domains this provider manages and their states, and (when the provider keeps its
/// mailboxes in pecwatch) their mailboxes: what the answers rest on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    states: HashMap<String, State>,
    /// Every mailbox address, lower case; `None` when mailboxes are not checked.
    mailboxes: Option<HashSet<String>>,
}

impl Snapshot {
    /// A snapshot of these domains (names in their normal form), without mailboxes.
    pub fn new(domains: impl IntoIterator<Item = (String, State)>) -> Self {
        Self {
            states: domains.into_iter().collect(),
            mailboxes: None,
        }
    }

    /// The same, knowing every mailbox (`local@domain`, lower case): a recipient or
    /// sender whose mailbox is not listed is refused, and `virtual_mailbox_maps` answers.
    pub fn with_mailboxes(mut self, addresses: impl IntoIterator<Item = String>) -> Self {
        self.mailboxes = Some(addresses.into_iter().collect());
        self
    }

    /// Whether the mailbox of `address` exists (an address extension such as
    /// `user+tag@domain` counts as its mailbox `user@domain`). Always true when
    /// mailboxes are not checked.
    pub fn has_mailbox(&self, address: &str) -> bool {
        let Some(mailboxes) = &self.mailboxes else {
            return true;
        };
        let address = address.trim().trim_end_matches('.').to_ascii_lowercase();
        if mailboxes.contains(&address) {
            return true;
        }
        match address.split_once('@') {
            Some((local, domain)) => local
                .split_once('+')
                .is_some_and(|(base, _)| mailboxes.contains(&format!("{base}@{domain}"))),
            None => false,
        }
    }

    /// How many domains it holds.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The state of the domain of `address` (an e-mail address or a domain), if this
    /// provider manages it.
    pub fn state_of(&self, address: &str) -> Option<State> {
        let domain = address
            .rsplit_once('@')
            .map_or(address, |(_, domain)| domain)
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.states.get(&domain).copied()
    }

    /// The policy decision: refuse mail from or to a managed domain whose PEC mail must
    /// not flow; no opinion otherwise (other domains, the null sender).
    pub fn decide(&self, request: &PolicyRequest) -> Access {
        for role in ["sender", "recipient"] {
            let Some(address) = request.attributes.get(role).filter(|a| !a.is_empty()) else {
                continue;
            };
            let Some(state) = self.state_of(address) else {
                continue;
            };
            let domain = address
                .rsplit_once('@')
                .map_or(address.as_str(), |(_, d)| d);
            if !state.is_published() {
                return Access::Reject(format!(
                    "5.7.1 Dominio PEC {domain} non certificato ({}): invio e ricezione \
                     bloccati / PEC domain {domain} is not certified ({}): sending and \
                     receiving are blocked",
                    state.label(crate::Lang::It),
                    state
                ));
            }
            if !self.has_mailbox(address) {
                return Access::Reject(format!(
                    "5.7.1 Casella PEC {address} inesistente / PEC mailbox {address} does \
                     not exist"
                ));
            }
        }
        Access::Dunno
    }

    /// A socketmap lookup: `virtual_mailbox_domains` answers `OK` for a domain whose PEC
    /// mail flows; `virtual_mailbox_maps` answers a mailbox of such a domain with its
    /// maildir path under `virtual_mailbox_base` (`domain/local/`), when mailboxes are
    /// known. Other maps are not served.
    pub fn lookup(&self, map: &str, key: &str) -> Option<String> {
        let flows = self.state_of(key).is_some_and(State::is_published);
        match map {
            "virtual_mailbox_domains" if flows => Some("OK".to_owned()),
            "virtual_mailbox_maps" if flows && self.mailboxes.is_some() => {
                let key = key.trim().to_ascii_lowercase();
                let (local, domain) = key.split_once('@')?;
                let mailboxes = self.mailboxes.as_ref()?;
                let local = if mailboxes.contains(&key) {
                    local
                } else {
                    local
                        .split_once('+')
                        .map(|(base, _)| base)
                        .filter(|base| mailboxes.contains(&format!("{base}@{domain}")))?
                };
                Some(format!("{domain}/{local}/"))
            }
            _ => None,
        }
    }
}

/// One netstring's data and the input that follows it.
pub type Netstring<'a> = (&'a [u8], &'a [u8]);

/// Parses one netstring (`LEN:DATA,`) from the start of `input`: the data and what
/// follows it, or `None` when more input is needed. A length over `max` is
/// [`ProtocolError::TooLarge`], told as soon as the length is read.
pub fn parse_netstring(input: &[u8], max: usize) -> Result<Option<Netstring<'_>>, ProtocolError> {
    let Some(colon) = input.iter().position(|b| *b == b':') else {
        if input.len() > 10 || !input.iter().all(u8::is_ascii_digit) {
            return Err(ProtocolError::BadNetstring("no length".into()));
        }
        return Ok(None);
    };
    let length: usize = std::str::from_utf8(&input[..colon])
        .ok()
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| ProtocolError::BadNetstring("bad length".into()))?;
    if length > max {
        return Err(ProtocolError::TooLarge);
    }
    let end = colon + 1 + length;
    if input.len() <= end {
        return Ok(None);
    }
    if input[end] != b',' {
        return Err(ProtocolError::BadNetstring("no terminating comma".into()));
    }
    Ok(Some((&input[colon + 1..end], &input[end + 1..])))
}

/// The socketmap reply to a request `NAME KEY`, as a netstring.
pub fn socketmap_reply(snapshot: &Snapshot, request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let reply = match text.split_once(' ') {
        None => "PERM malformed request".to_owned(),
        Some((map, key)) => match snapshot.lookup(map, key) {
            Some(value) => format!("OK {value}"),
            None => "NOTFOUND ".to_owned(),
        },
    };
    format!("{}:{reply},", reply.len())
}

/// The snapshot the services read, replaced whole when the registry changes.
pub type Shared = Arc<RwLock<Arc<Snapshot>>>;

/// Reads the registry into a snapshot; with `mailboxes`, every mailbox too.
pub async fn load(registry: &Registry, mailboxes: bool) -> Result<Snapshot, RegistryError> {
    let snapshot = Snapshot::new(registry.domain_states().await?);
    COUNTERS.reloads.fetch_add(1, Ordering::Relaxed);
    COUNTERS
        .domains
        .store(snapshot.len() as u64, Ordering::Relaxed);
    if !mailboxes {
        mark_verified();
        return Ok(snapshot);
    }
    let addresses = registry.mailbox_addresses().await?;
    mark_verified();
    Ok(snapshot.with_mailboxes(addresses.into_iter().map(|(address, _)| address)))
}

/// Keeps `shared` up to date: every [`REFRESH`], looks whether the registry changed and
/// reloads the snapshot if it did. Runs until the process ends; a failing database is
/// logged and the last snapshot kept.
pub async fn watch(registry: Registry, shared: Shared, mailboxes: bool) {
    let mut seen = None;
    loop {
        let fingerprint = async {
            let domains = registry.domains_fingerprint().await?;
            let boxes = match mailboxes {
                true => registry.mailboxes_fingerprint().await?,
                false => (0, 0),
            };
            Ok::<_, RegistryError>((domains, boxes))
        };
        match fingerprint.await {
            Ok(fingerprint) if Some(fingerprint) != seen => {
                match load(&registry, mailboxes).await {
                    Ok(snapshot) => {
                        tracing::debug!(domains = snapshot.len(), "domain snapshot reloaded");
                        if let Ok(mut current) = shared.write() {
                            *current = Arc::new(snapshot);
                        }
                        seen = Some(fingerprint);
                    }
                    Err(error) => tracing::warn!(%error, "cannot reload the domains"),
                }
            }
            Ok(_) => mark_verified(),
            Err(error) => tracing::warn!(%error, "cannot read the registry"),
        }
        tokio::time::sleep(REFRESH).await;
    }
}

/// Records that the snapshot matches the registry now ([`Counters::verified`]).
fn mark_verified() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    COUNTERS.verified.store(now, Ordering::Relaxed);
}

fn current(shared: &Shared) -> Arc<Snapshot> {
    shared
        .read()
        .map(|snapshot| Arc::clone(&snapshot))
        .unwrap_or_default()
}

/// What keeps the two services from being held open or filled (`[postfix]` in the
/// configuration): size caps, timeouts and connection caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLimits {
    /// The longest policy request line, in bytes (without its newline).
    pub max_line: usize,
    /// The largest whole policy request, in bytes.
    pub max_request: usize,
    /// The longest socketmap request (a netstring's data), in bytes.
    pub max_netstring: usize,
    /// How long a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long a request may take to arrive once its first byte has (and its reply to
    /// be taken).
    pub request_timeout: Duration,
    /// The longest a connection stays open.
    pub connection_lifetime: Duration,
    /// Connections at once, in all and per client address.
    pub connections: ConnectionLimits,
}

impl Default for ServiceLimits {
    /// The configuration's defaults.
    fn default() -> Self {
        Self {
            max_line: MAX_LINE,
            max_request: 64 * 1024,
            max_netstring: MAX_LINE,
            idle_timeout: Duration::from_secs(330),
            request_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(3600),
            connections: ConnectionLimits {
                max_connections: 4096,
                max_per_client: 1024,
                exempt: Vec::new(),
            },
        }
    }
}

/// Why the service closed a connection itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    /// The request was malformed or too large.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// No request came for this long.
    #[error("idle for {0:?}")]
    Idle(Duration),
    /// A request did not arrive whole (or its reply was not taken) within this long.
    #[error("request not received within {0:?}")]
    Slow(Duration),
    /// The connection was open this long.
    #[error("open longer than {0:?}")]
    Lifetime(Duration),
}

/// Serves the policy protocol on `listener`, one task per connection, within `limits`.
pub async fn serve_policy(listener: TcpListener, shared: Shared, limits: ServiceLimits) {
    accept(listener, shared, limits, "policy", policy_connection).await;
}

/// Serves the socketmap protocol on `listener`, one task per connection, within `limits`.
pub async fn serve_socketmap(listener: TcpListener, shared: Shared, limits: ServiceLimits) {
    accept(listener, shared, limits, "socketmap", socketmap_connection).await;
}

/// Accepts connections forever (within the connection caps; an accept error such as
/// `EMFILE` only pauses the loop), each handled by `handle` in a task of its own for at
/// most the connection lifetime. A connection closed for a malformed or oversized request
/// is logged as a warning and counted; one closed for a timeout is counted.
async fn accept<F, Fut>(
    listener: TcpListener,
    shared: Shared,
    limits: ServiceLimits,
    what: &'static str,
    handle: F,
) where
    F: Fn(TcpStream, Shared, Arc<ServiceLimits>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Closed>> + Send + 'static,
{
    let gate = Gate::new(limits.connections.clone());
    let limits = Arc::new(limits);
    loop {
        let (stream, peer, admission) = net::accept(&listener, &gate, what).await;
        let lifetime = limits.connection_lifetime;
        let connection = handle(stream, shared.clone(), Arc::clone(&limits));
        tokio::spawn(async move {
            let _admission = admission;
            let outcome = tokio::time::timeout(lifetime, connection)
                .await
                .unwrap_or(Err(Closed::Lifetime(lifetime)));
            match outcome {
                Ok(()) => {}
                Err(Closed::Protocol(error)) => {
                    COUNTERS.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    if error == ProtocolError::TooLarge {
                        COUNTERS.too_large.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::warn!(%peer, %error, "{what} connection closed");
                }
                Err(closed) => {
                    COUNTERS.timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, %closed, "{what} connection closed");
                }
            }
        });
    }
}

/// Waits until `reader` has input (its first byte of a request), for at most the idle
/// timeout: whether it has (`false` at the end of the input).
async fn wait_for_request<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: &ServiceLimits,
) -> Result<bool, Closed> {
    match tokio::time::timeout(limits.idle_timeout, reader.fill_buf()).await {
        Err(_) => Err(Closed::Idle(limits.idle_timeout)),
        Ok(Ok(buffer)) => Ok(!buffer.is_empty()),
        Ok(Err(_)) => Ok(false),
    }
}

/// One policy client: requests until it hangs up, sends something malformed or too
/// large, or is too slow. A line is read at most `max_line` bytes at a time, so an
/// endless line costs no memory.
async fn policy_connection(
    stream: TcpStream,
    shared: Shared,
    limits: Arc<ServiceLimits>,
) -> Result<(), Closed> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut request: Vec<String> = Vec::new();
    let mut size = 0;
    let mut line = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        if request.is_empty() {
            // Between requests: the idle timeout, then the request's own from its first
            // byte.
            if !wait_for_request(&mut reader, &limits).await? {
                return Ok(());
            }
            deadline = tokio::time::Instant::now() + limits.request_timeout;
        }
        line.clear();
        let mut bounded = (&mut reader).take(limits.max_line as u64 + 1);
        let bounded = bounded.read_until(b'\n', &mut line);
        let read = match tokio::time::timeout_at(deadline, bounded).await {
            Err(_) => return Err(Closed::Slow(limits.request_timeout)),
            Ok(Ok(0) | Err(_)) => return Ok(()),
            Ok(Ok(read)) => read,
        };
        if line.pop() != Some(b'\n') {
            // No newline: a line longer than the cap, or the end of the input.
            return match read > limits.max_line {
                true => Err(ProtocolError::TooLarge.into()),
                false => Ok(()),
            };
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        size += read;
        if size > limits.max_request || request.len() >= MAX_ATTRIBUTES {
            return Err(ProtocolError::TooLarge.into());
        }
        if !line.is_empty() {
            request.push(String::from_utf8_lossy(&line).into_owned());
            continue;
        }
        let parsed = parse_policy(request.iter().map(String::as_str))?;
        request.clear();
        size = 0;
        let access = current(&shared).decide(&parsed);
        let counter = match access {
            Access::Dunno => &COUNTERS.policy_dunno,
            Access::Reject(_) => &COUNTERS.policy_reject,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let reply = access.reply();
        match tokio::time::timeout_at(deadline, write.write_all(reply.as_bytes())).await {
            Err(_) => return Err(Closed::Slow(limits.request_timeout)),
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(())) => {}
        }
    }
}

/// One socketmap client: netstrings until it hangs up, sends one malformed or longer
/// than `max_netstring`, or is too slow.
async fn socketmap_connection(
    stream: TcpStream,
    shared: Shared,
    limits: Arc<ServiceLimits>,
) -> Result<(), Closed> {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::with_capacity(512);
    loop {
        if buffer.is_empty() && !wait_for_request(&mut reader, &limits).await? {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + limits.request_timeout;
        let request = loop {
            if let Some((request, rest)) = parse_netstring(&buffer, limits.max_netstring)? {
                break (request.len(), buffer.len() - rest.len());
            }
            let chunk = match tokio::time::timeout_at(deadline, reader.fill_buf()).await {
                Err(_) => return Err(Closed::Slow(limits.request_timeout)),
                Ok(Ok([]) | Err(_)) => return Ok(()),
                Ok(Ok(chunk)) => chunk,
            };
            // Never more than the longest netstring and its framing.
            let room = (limits.max_netstring + 16).saturating_sub(buffer.len());
            if room == 0 {
                return Err(ProtocolError::TooLarge.into());
            }
            let taken = chunk.len().min(room);
            buffer.extend_from_slice(&chunk[..taken]);
            reader.consume(taken);
        };
        let (length, consumed) = request;
        let data = &buffer[consumed - 1 - length..consumed - 1];
        let reply = socketmap_reply(&current(&shared), data);
        let counter = if reply.contains(":OK ") {
            &COUNTERS.socketmap_found
        } else {
            &COUNTERS.socketmap_not_found
        };
        counter.fetch_add(1, Ordering::Relaxed);
        buffer.drain(..consumed);
        match tokio::time::timeout_at(deadline, reader.get_mut().write_all(reply.as_bytes())).await
        {
            Err(_) => return Err(Closed::Slow(limits.request_timeout)),
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(())) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// `[postfix]`: the services' settings, checked here
// ---------------------------------------------------------------------------------------

/// `[postfix]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostfixConfig {
    /// Where the policy service listens (`check_policy_service inet:…`). Default
    /// `127.0.0.1:10040`.
    pub policy_listen: SocketAddr,
    /// Where the socketmap table listens (`socketmap:inet:…`). Default `127.0.0.1:10041`.
    pub socketmap_listen: SocketAddr,
    /// Where `pecwatch postfix` serves its own Prometheus metrics (`/metrics`: lookups
    /// answered, by outcome); empty: nowhere. Default empty.
    pub metrics_listen: String,
    /// Whether the mailboxes are kept in pecwatch (`pecwatch mailboxes`): then mail to or
    /// from a mailbox that does not exist in a managed domain is refused, and the
    /// socketmap serves `virtual_mailbox_maps`. Default false (mailboxes live elsewhere).
    pub check_mailboxes: bool,
    /// The longest line (`name=value`) of a policy request, in bytes; a longer one closes
    /// the connection. Default 8192.
    pub max_line_bytes: usize,
    /// The largest whole policy request, in bytes; a larger one closes the connection.
    /// Default 65536.
    pub max_request_bytes: usize,
    /// The longest socketmap request (a netstring's data), in bytes; a longer one closes
    /// the connection. Default 8192.
    pub max_netstring_bytes: usize,
    /// How long a connection may wait between requests before it is closed: longer than
    /// Postfix keeps an unused connection (`smtpd_policy_service_max_idle`, 300 s).
    /// Default 330 seconds.
    #[serde(with = "duration_serde")]
    pub idle_timeout: SignedDuration,
    /// How long a client has to send a whole request once it has started. Default 10
    /// seconds.
    #[serde(with = "duration_serde")]
    pub request_timeout: SignedDuration,
    /// The longest a connection stays open (Postfix reconnects). Default 1 hour.
    #[serde(with = "duration_serde")]
    pub connection_lifetime: SignedDuration,
    /// Connections open at once to each of the two services; further clients wait to be
    /// accepted. 0: no cap. Default 4096.
    pub max_connections: usize,
    /// Connections open at once from one client address to each service (a Postfix host
    /// opens one per smtpd process); further ones are closed at once. 0: no cap.
    /// Default 1024.
    pub max_connections_per_client: usize,
}

impl Default for PostfixConfig {
    fn default() -> Self {
        Self {
            check_mailboxes: false,
            policy_listen: SocketAddr::from(([127, 0, 0, 1], 10040)),
            socketmap_listen: SocketAddr::from(([127, 0, 0, 1], 10041)),
            metrics_listen: String::new(),
            max_line_bytes: 8192,
            max_request_bytes: 65536,
            max_netstring_bytes: 8192,
            idle_timeout: SignedDuration::from_secs(330),
            request_timeout: SignedDuration::from_secs(10),
            connection_lifetime: SignedDuration::from_hours(1),
            max_connections: 4096,
            max_connections_per_client: 1024,
        }
    }
}

impl PostfixConfig {
    /// Checks every key: the metrics address, the timeouts (positive) and the size caps.
    pub fn validate(&self) -> Result<(), Invalid> {
        let metrics = &self.metrics_listen;
        if !metrics.is_empty() && metrics.parse::<SocketAddr>().is_err() {
            return Err(Invalid::new(
                "metrics_listen",
                format!("{metrics:?}"),
                "expected ADDRESS:PORT, such as 127.0.0.1:10042, or empty",
            ));
        }
        positive(&[
            ("idle_timeout", self.idle_timeout),
            ("request_timeout", self.request_timeout),
            ("connection_lifetime", self.connection_lifetime),
        ])?;
        for (key, bytes, least) in [
            ("max_line_bytes", self.max_line_bytes, 256),
            (
                "max_request_bytes",
                self.max_request_bytes,
                self.max_line_bytes,
            ),
            ("max_netstring_bytes", self.max_netstring_bytes, 256),
        ] {
            if bytes < least || bytes > 64 * 1024 * 1024 {
                return Err(Invalid::new(
                    key,
                    bytes.to_string(),
                    format!("must be between {least} and 67108864"),
                ));
            }
        }
        Ok(())
    }

    /// Each service's connection caps.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            max_per_client: self.max_connections_per_client,
            exempt: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot::new([
            ("pec.ok.it".to_owned(), State::Certified),
            ("pec.errore.it".to_owned(), State::InError),
            ("pec.via.it".to_owned(), State::Removed),
            ("pec.scaduto.it".to_owned(), State::Expired),
            ("pec.nuovo.it".to_owned(), State::PendingDns),
        ])
    }

    fn request(pairs: &[(&str, &str)]) -> PolicyRequest {
        PolicyRequest {
            attributes: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn known_mailboxes_only_when_mailboxes_are_kept() {
        let s = snapshot().with_mailboxes([
            "postmaster@pec.ok.it".to_owned(),
            "mario@pec.ok.it".to_owned(),
            "luca@pec.via.it".to_owned(),
        ]);
        for (sender, recipient, refused) in [
            ("", "mario@pec.ok.it", false),
            ("", "Mario+fatture@PEC.ok.it", false),
            ("", "anna@pec.ok.it", true),
            ("anna@pec.ok.it", "x@altro.it", true),
            ("x@altro.it", "postmaster@pec.ok.it", false),
            ("", "luca@pec.via.it", true),
            ("", "chiunque@altro.it", false),
        ] {
            let access = s.decide(&request(&[("sender", sender), ("recipient", recipient)]));
            assert_eq!(
                matches!(access, Access::Reject(_)),
                refused,
                "{sender} -> {recipient}: {access:?}"
            );
        }
        let Access::Reject(reason) = s.decide(&request(&[("recipient", "anna@pec.ok.it")])) else {
            panic!("not refused");
        };
        assert!(
            reason.starts_with("5.7.1 Casella PEC anna@pec.ok.it inesistente"),
            "{reason}"
        );
        assert!(reason.contains("does not exist"), "{reason}");

        assert_eq!(
            s.lookup("virtual_mailbox_maps", "mario@pec.ok.it")
                .as_deref(),
            Some("pec.ok.it/mario/")
        );
        assert_eq!(
            s.lookup("virtual_mailbox_maps", "mario+x@pec.ok.it")
                .as_deref(),
            Some("pec.ok.it/mario/")
        );
        assert_eq!(s.lookup("virtual_mailbox_maps", "anna@pec.ok.it"), None);
        // A removed domain's mailboxes do not receive.
        assert_eq!(s.lookup("virtual_mailbox_maps", "luca@pec.via.it"), None);
        // Without mailboxes the map is not served and any address passes.
        assert_eq!(
            snapshot().lookup("virtual_mailbox_maps", "mario@pec.ok.it"),
            None
        );
        assert_eq!(
            snapshot().decide(&request(&[("recipient", "anna@pec.ok.it")])),
            Access::Dunno
        );
    }

    #[test]
    fn mail_of_uncertified_managed_domains_is_refused() {
        let s = snapshot();
        for (sender, recipient, refused) in [
            ("a@pec.ok.it", "b@altro.it", false),
            ("a@altro.it", "b@pec.errore.it", false),
            ("a@altro.it", "b@PEC.VIA.IT", true),
            ("a@pec.scaduto.it", "b@altro.it", true),
            ("", "b@pec.nuovo.it.", true),
            ("", "b@sconosciuto.it", false),
        ] {
            let access = s.decide(&request(&[("sender", sender), ("recipient", recipient)]));
            assert_eq!(
                matches!(access, Access::Reject(_)),
                refused,
                "{sender} -> {recipient}"
            );
        }
        let Access::Reject(reason) = s.decide(&request(&[("recipient", "b@pec.via.it")])) else {
            panic!("refused")
        };
        assert!(reason.starts_with("5.7.1 Dominio PEC pec.via.it non certificato (rimosso)"));
        assert!(reason.contains("PEC domain pec.via.it is not certified (removed)"));
        assert_eq!(Access::Dunno.reply(), "action=DUNNO\n\n");
        assert!(
            Access::Reject(reason)
                .reply()
                .starts_with("action=REJECT 5.7.1 ")
        );
    }

    #[test]
    fn policy_requests_parse_and_garbage_is_refused() {
        let parsed = parse_policy(["request=smtpd_access_policy", "sender=a@b.it", "x="]).unwrap();
        assert_eq!(parsed.attributes["sender"], "a@b.it");
        assert_eq!(parsed.attributes["x"], "");
        assert!(matches!(
            parse_policy(["garbage"]),
            Err(ProtocolError::BadLine(_))
        ));
        assert!(matches!(
            parse_policy(["=x"]),
            Err(ProtocolError::BadLine(_))
        ));
        let long = format!("a={}", "x".repeat(MAX_LINE + 1));
        assert_eq!(parse_policy([long.as_str()]), Err(ProtocolError::TooLarge));
    }

    #[test]
    fn netstrings_and_socketmap_replies() {
        assert_eq!(
            parse_netstring(b"5:hello,rest", MAX_LINE).unwrap(),
            Some((&b"hello"[..], &b"rest"[..]))
        );
        assert_eq!(parse_netstring(b"5:hel", MAX_LINE).unwrap(), None);
        assert_eq!(parse_netstring(b"12", MAX_LINE).unwrap(), None);
        assert!(parse_netstring(b"5:hello;", MAX_LINE).is_err());
        assert!(parse_netstring(b"x:hello,", MAX_LINE).is_err());
        assert_eq!(
            parse_netstring(b"99999999:", MAX_LINE),
            Err(ProtocolError::TooLarge)
        );
        assert_eq!(
            parse_netstring(b"6:hello!,", 5),
            Err(ProtocolError::TooLarge)
        );
        let s = snapshot();
        for (request, reply) in [
            (&b"virtual_mailbox_domains pec.ok.it"[..], "5:OK OK,"),
            (b"virtual_mailbox_domains pec.via.it", "9:NOTFOUND ,"),
            (b"virtual_mailbox_maps a@pec.ok.it", "9:NOTFOUND ,"),
            (b"nospace", "22:PERM malformed request,"),
        ] {
            assert_eq!(socketmap_reply(&s, request), reply);
        }
    }
}
