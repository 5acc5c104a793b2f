//! Rate limiting of the public endpoints: a token bucket per client address.
//!
//! Each client address gets a bucket of `[web] rate_limit_per_minute` tokens, refilled at
//! that rate; a request takes one, and a request that finds the bucket empty gets `429
//! Too Many Requests` as problem+json with `Retry-After` (whole seconds until a token is
//! back). IPv6 clients are keyed by their /64 (one host usually has a whole /64). The
//! client address is the connection's peer, or, when the peer is one of `[web]
//! trusted_proxies`, the nearest address of `X-Forwarded-For` that is not a trusted
//! proxy: a client cannot pick its own key by sending that header.
//!
//! # Use
//!
//! [`super::router`] installs one shared [`RateLimiter`] as an extension of every
//! request. A part of the interface limits its public routes with the middleware
//! [`public`]:
//!
//! ```ignore
//! Router::new()
//!     .route("/check", post(handler))
//!     .route_layer(axum::middleware::from_fn(crate::web::limit::public))
//! ```
//!
//! Requests that carry a valid API token ([`super::auth::Caller`] in their extensions)
//! are not limited. The buckets live in memory: several `pecwatch web` processes behind
//! one balancer limit each on its own. They are `governor`'s keyed rate limiter (GCRA,
//! which behaves as a token bucket refilled continuously); this module adds the keys (the
//! client address, IPv6 by /64), the costs of several tokens and the answers.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota};
use ipnet::IpNet;

use super::auth::Caller;
use super::problem::{Problem, lang_of};

/// Buckets kept before the full ones are dropped (a full bucket is the same as none).
const PRUNE_AT: usize = 10_000;
/// Buckets kept at most: beyond this, after dropping the full ones, every bucket is
/// dropped (the limit fails open rather than grow without bound under a flood of
/// addresses).
const MAX_BUCKETS: usize = 200_000;

/// The buckets of every client key, by `governor` (GCRA, the token bucket's exact
/// equivalent).
type Buckets<C> = governor::RateLimiter<
    IpAddr,
    DefaultKeyedStateStore<IpAddr>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// The token buckets of every client address seen lately.
#[derive(Debug)]
pub(super) struct RateLimiter<C: Clock + Clone = DefaultClock> {
    /// Tokens a minute, and the capacity; `None`: no limit.
    quota: Option<Quota>,
    /// Proxies whose `X-Forwarded-For` is believed.
    trusted: Vec<IpNet>,
    /// The clock of the buckets (the real one but in tests).
    clock: C,
    /// Replaced whole when a flood of addresses fills it.
    buckets: RwLock<Buckets<C>>,
}

impl RateLimiter {
    /// A limiter of `per_minute` requests a minute per client (0: none), believing
    /// `X-Forwarded-For` from `trusted` proxies.
    pub(super) fn new(per_minute: u32, trusted: Vec<IpNet>) -> Self {
        Self::with_clock(per_minute, trusted, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// [`RateLimiter::new`] on `clock`.
    pub(super) fn with_clock(per_minute: u32, trusted: Vec<IpNet>, clock: C) -> Self {
        let quota = NonZeroU32::new(per_minute).map(Quota::per_minute);
        // With no limit the buckets are never used: any quota will do.
        let buckets = Self::buckets(quota.unwrap_or(Quota::per_minute(NonZeroU32::MIN)), &clock);
        RateLimiter {
            quota,
            trusted,
            clock,
            buckets: RwLock::new(buckets),
        }
    }

    fn buckets(quota: Quota, clock: &C) -> Buckets<C> {
        governor::RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone())
    }

    /// Takes a token from `client`'s bucket: `Ok`, or how long until a token is back.
    pub(super) fn take(&self, client: IpAddr) -> Result<(), Duration> {
        self.take_n(client, 1)
    }

    /// The capacity of a bucket (tokens a minute); 0: no limit.
    pub(super) fn capacity(&self) -> u32 {
        self.quota.map_or(0, |quota| quota.burst_size().get())
    }

    /// Takes `cost` tokens from `client`'s bucket (a request that costs as much as `cost`
    /// simple ones): `Ok`, or how long until that many are back. A refused request takes
    /// nothing. A cost above the capacity never fits: callers check
    /// [`RateLimiter::capacity`] first.
    pub(super) fn take_n(&self, client: IpAddr, cost: u32) -> Result<(), Duration> {
        let Some(quota) = self.quota else {
            return Ok(());
        };
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        self.prune(quota);
        let Ok(buckets) = self.buckets.read() else {
            return Ok(());
        };
        let wait = |not_until: NotUntil<C::Instant>| not_until.wait_time_from(self.clock.now());
        match buckets.check_key_n(&key(client), cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(wait(not_until)),
            // More than a full bucket: as long as a full bucket takes to fill.
            Err(_) => Err(quota.burst_size_replenished_in()),
        }
    }

    /// Drops the full buckets when there are many, and every bucket when there are too
    /// many even so.
    fn prune(&self, quota: Quota) {
        let many = self
            .buckets
            .read()
            .is_ok_and(|buckets| buckets.len() >= PRUNE_AT);
        if !many {
            return;
        }
        let Ok(mut buckets) = self.buckets.write() else {
            return;
        };
        buckets.retain_recent();
        if buckets.len() >= MAX_BUCKETS {
            tracing::warn!(
                clients = buckets.len(),
                "rate limiter: too many clients at once; forgetting them all"
            );
            *buckets = Self::buckets(quota, &self.clock);
        }
        buckets.shrink_to_fit();
    }

    /// The client's address: the peer's, or, from a trusted proxy, the nearest address of
    /// `X-Forwarded-For` that is not a trusted proxy itself.
    pub(super) fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|item| parse_forwarded(item.trim()))
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|address| !self.is_trusted(**address))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

/// An address as `X-Forwarded-For` may write it: `192.0.2.1`, `192.0.2.1:5000`,
/// `2001:db8::1`, `[2001:db8::1]:5000`.
fn parse_forwarded(text: &str) -> Option<IpAddr> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    text.parse::<SocketAddr>()
        .ok()
        .map(|socket| canonical(socket.ip()))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The bucket key of an address: IPv4 as it is, IPv6 by its /64.
fn key(address: IpAddr) -> IpAddr {
    match canonical(address) {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
        v4 => v4,
    }
}

/// The middleware of public routes: takes a token from the client's bucket, or answers
/// 429 with `Retry-After`. Requests with a valid API token, and requests on a router
/// without the shared [`RateLimiter`] extension, pass.
pub(super) async fn public(request: Request, next: Next) -> Response {
    match enforce(request.extensions(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// What [`public`] does, for a handler that decides itself whether to limit (one that
/// authenticates first, say): takes a token from the bucket of the request's client, or
/// returns the 429 problem.
pub(super) fn enforce(extensions: &Extensions, headers: &HeaderMap) -> Result<(), Problem> {
    enforce_cost(extensions, headers, 1)
}

/// [`enforce`] for a request that costs `cost` tokens (a check of `cost` names costs as
/// much as `cost` checks of one). A cost above the bucket's capacity can never be met: it is
/// refused with 413 `too-many-names`, saying the most one request may cost without an API
/// token.
pub(super) fn enforce_cost(
    extensions: &Extensions,
    headers: &HeaderMap,
    cost: u32,
) -> Result<(), Problem> {
    if extensions.get::<Caller>().is_some() {
        return Ok(());
    }
    let Some(limiter) = extensions.get::<Arc<RateLimiter>>() else {
        return Ok(());
    };
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let client = limiter.client(peer, headers);
    let lang = lang_of(headers);
    let capacity = limiter.capacity();
    if capacity > 0 && cost > capacity {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-names",
            lang,
            ("Troppi nomi", "Too many names"),
            match lang {
                crate::Lang::It => format!(
                    "{cost} nomi: senza token API al massimo {capacity} al minuto da un indirizzo"
                ),
                crate::Lang::En => format!(
                    "{cost} names: without an API token at most {capacity} a minute from one address"
                ),
            },
        )
        .with("limit", capacity));
    }
    limiter
        .take_n(client, cost)
        .map_err(|wait| too_many(lang, client, wait))
}

/// The 429 problem.
pub(super) fn too_many(lang: crate::Lang, client: IpAddr, wait: Duration) -> Problem {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
        lang,
        ("Troppe richieste", "Too many requests"),
        match lang {
            crate::Lang::It => {
                format!("troppe richieste da {client}: riprovare tra {seconds} secondi")
            }
            crate::Lang::En => {
                format!("too many requests from {client}: try again in {seconds} seconds")
            }
        },
    )
    .with("retry_after", seconds)
    .header(header::RETRY_AFTER, &seconds.to_string())
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn fake(per_minute: u32) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(per_minute, Vec::new(), clock.clone());
        (limiter, clock)
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refills() {
        let (limiter, clock) = fake(3);
        for _ in 0..3 {
            limiter.take(ip("192.0.2.1")).unwrap();
        }
        let wait = limiter.take(ip("192.0.2.1")).unwrap_err();
        assert_eq!(wait.as_secs(), 20, "one token every 20 s: {wait:?}");
        // Another client has its own bucket.
        limiter.take(ip("192.0.2.2")).unwrap();
        // 20 s later one token is back, not two.
        clock.advance(Duration::from_secs(20));
        limiter.take(ip("192.0.2.1")).unwrap();
        assert!(limiter.take(ip("192.0.2.1")).is_err());
        // No limit at 0.
        let (open, _) = fake(0);
        assert!(open.quota.is_none());
        for _ in 0..1000 {
            open.take(ip("192.0.2.1")).unwrap();
        }
    }

    #[test]
    fn a_request_may_cost_several_tokens() {
        let (limiter, clock) = fake(10);
        // 7 names, then 3: the bucket of 10 is empty.
        limiter.take_n(ip("192.0.2.1"), 7).unwrap();
        limiter.take_n(ip("192.0.2.1"), 3).unwrap();
        // 4 more wait for 4 tokens (6 s each).
        let wait = limiter.take_n(ip("192.0.2.1"), 4).unwrap_err();
        assert_eq!(wait.as_secs(), 24, "{wait:?}");
        // A refused request takes nothing: 6 s later one name fits, two do not.
        clock.advance(Duration::from_secs(6));
        assert!(limiter.take_n(ip("192.0.2.1"), 2).is_err());
        limiter.take_n(ip("192.0.2.1"), 1).unwrap();
        assert_eq!(limiter.capacity(), 10);
        // More than a bucket never fits.
        assert_eq!(
            limiter.take_n(ip("192.0.2.9"), 11),
            Err(Duration::from_secs(60))
        );
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let (limiter, clock) = fake(60);
        for i in 0..PRUNE_AT as u32 {
            limiter.take(IpAddr::from(i.to_be_bytes())).unwrap();
        }
        clock.advance(Duration::from_secs(2));
        // Every bucket is full again after a second: dropped.
        limiter.take(ip("192.0.2.1")).unwrap();
        let kept = limiter.buckets.read().unwrap().len();
        assert!(kept < 10, "{kept}");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let (limiter, _) = fake(1);
        limiter.take(ip("2001:db8:1:2::1")).unwrap();
        assert!(limiter.take(ip("2001:db8:1:2::ffff")).is_err());
        limiter.take(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let limiter = RateLimiter::new(1, trusted);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7:4000, 10.1.1.1".parse().unwrap(),
        );
        let proxy: SocketAddr = "10.0.0.2:50000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.5:50000".parse().unwrap();
        // From the proxy: the nearest address that is not a proxy.
        assert_eq!(limiter.client(Some(proxy), &headers), ip("198.51.100.7"));
        // From anyone else the header is ignored.
        assert_eq!(limiter.client(Some(stranger), &headers), ip("192.0.2.5"));
        // Without the header, the proxy itself.
        assert_eq!(
            limiter.client(Some(proxy), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }
}
