//! What keeps the servers (the web interface, the Postfix policy service and socketmap)
//! from being held open or filled: connection caps, an accept loop that survives running
//! out of file descriptors, and the open-file limit raised at start.
//!
//! A [`Gate`] admits connections: at most `max_connections` at once in all (the accept
//! loop waits for a free place, so further clients wait in the kernel's backlog), and at
//! most `max_per_client` from one client address (a further one is accepted and closed
//! at once). Addresses in `exempt` (the web interface's trusted reverse proxies, which
//! carry every client's connections) are not capped per address. Each admitted
//! connection holds an [`Admission`] that gives its place back when dropped.
//!
//! [`accept`] is the accept loop's step: an error such as `EMFILE` (no file descriptor
//! left) is logged and the loop waits a little and goes on, rather than ending the
//! service. [`bind`] listens with a long queue, so that a burst of connections waits in
//! it rather than being dropped. [`raise_fd_limit`] raises the soft `RLIMIT_NOFILE` to the hard limit.
//! The counting ([`Gate::admit`]) is pure logic, tested without a network.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest wait after an accept error before trying again (the wait doubles from
/// [`BACKOFF_START`] up to it).
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The first wait after an accept error.
const BACKOFF_START: Duration = Duration::from_millis(10);

/// How many connections a server admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// At most this many connections at once, in all (0: no cap).
    pub max_connections: usize,
    /// At most this many connections at once from one client address (0: no cap).
    pub max_per_client: usize,
    /// Addresses not capped per address (trusted reverse proxies).
    pub exempt: Vec<ipnet::IpNet>,
}

/// Connections refused or troubles met by the accept loops of this process, by kind.
#[derive(Debug, Default)]
pub struct NetCounters {
    /// Connections closed at once because their client address had too many.
    pub refused_per_client: AtomicU64,
    /// Accept errors other than a connection aborted by its client (`EMFILE`, …).
    pub accept_errors: AtomicU64,
}

impl NetCounters {
    /// The counters in the Prometheus text format, named for the `server` whose
    /// connections this process accepts (`web`, `postfix`): per process, from zero at
    /// start.
    pub fn to_prometheus(&self, server: &str) -> String {
        format!(
            "# HELP pecwatch_{server}_refused_connections_total Connections closed at once: too many from one address.\n\
             # TYPE pecwatch_{server}_refused_connections_total counter\n\
             pecwatch_{server}_refused_connections_total {}\n\
             # HELP pecwatch_{server}_accept_errors_total Failures to accept a connection (such as no file descriptor left).\n\
             # TYPE pecwatch_{server}_accept_errors_total counter\n\
             pecwatch_{server}_accept_errors_total {}\n",
            self.refused_per_client.load(Ordering::Relaxed),
            self.accept_errors.load(Ordering::Relaxed),
        )
    }
}

/// This process's counters.
pub static NET_COUNTERS: NetCounters = NetCounters {
    refused_per_client: AtomicU64::new(0),
    accept_errors: AtomicU64::new(0),
};

/// Connections open now, by client address.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Admits connections within [`ConnectionLimits`]. Cheap to clone (shared counts).
#[derive(Clone, Debug)]
pub struct Gate {
    limits: Arc<ConnectionLimits>,
    /// `None` when there is no global cap.
    places: Option<Arc<Semaphore>>,
    per_client: Counts,
}

/// An admitted connection's place: given back when dropped.
#[derive(Debug)]
pub struct Admission {
    _place: Option<OwnedSemaphorePermit>,
    client: Option<(IpAddr, Counts)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some((address, counts)) = self.client.take()
            && let Ok(mut counts) = counts.lock()
            && let Some(count) = counts.get_mut(&address)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

impl Gate {
    /// A gate with these limits.
    pub fn new(limits: ConnectionLimits) -> Self {
        let places =
            (limits.max_connections > 0).then(|| Arc::new(Semaphore::new(limits.max_connections)));
        Self {
            limits: Arc::new(limits),
            places,
            per_client: Arc::default(),
        }
    }

    /// Waits for a free place under the global cap (at once when there is no cap).
    async fn place(&self) -> Option<OwnedSemaphorePermit> {
        match &self.places {
            Some(places) => Arc::clone(places).acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Counts a connection from `address`: its admission, or `None` when the address
    /// already has `max_per_client` connections (and is not exempt).
    pub fn admit(&self, address: IpAddr) -> Option<Admission> {
        self.admit_with(address, None)
    }

    fn admit_with(
        &self,
        address: IpAddr,
        place: Option<OwnedSemaphorePermit>,
    ) -> Option<Admission> {
        let address = canonical(address);
        let capped = self.limits.max_per_client > 0
            && !self.limits.exempt.iter().any(|net| net.contains(&address));
        if !capped {
            return Some(Admission {
                _place: place,
                client: None,
            });
        }
        let mut counts = self.per_client.lock().ok()?;
        let count = counts.entry(address).or_insert(0);
        if *count >= self.limits.max_per_client {
            return None;
        }
        *count += 1;
        Some(Admission {
            _place: place,
            client: Some((address, Arc::clone(&self.per_client))),
        })
    }

    /// Connections open now from `address` (counted ones only).
    pub fn open_from(&self, address: IpAddr) -> usize {
        self.per_client
            .lock()
            .map(|counts| counts.get(&canonical(address)).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address, so that one client counts once.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an accept error concerns only the connection being accepted (its client
/// gave up): then the next accept goes on at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The next connection admitted by `gate` on `listener`: waits for a free place under
/// the global cap, accepts, and closes at once a connection whose client address has too
/// many. An accept error (`EMFILE`, `ENFILE`, `ENOMEM`, …) never ends the loop: it is
/// logged (`what` names the server) and the accept is tried again after a pause that
/// doubles up to a second.
pub async fn accept(
    listener: &TcpListener,
    gate: &Gate,
    what: &'static str,
) -> (TcpStream, SocketAddr, Admission) {
    let mut backoff = BACKOFF_START;
    loop {
        let place = gate.place().await;
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = BACKOFF_START;
                match gate.admit_with(peer.ip(), place) {
                    Some(admission) => return (stream, peer, admission),
                    None => {
                        NET_COUNTERS
                            .refused_per_client
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "{what}: too many connections from this address, closed");
                        drop(stream);
                    }
                }
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                NET_COUNTERS.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "{what}: cannot accept a connection, trying again in {backoff:?}");
                drop(place);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// The listen backlog of the servers: connections the kernel completes and queues before
/// they are accepted (capped by `net.core.somaxconn`). The standard library's 128
/// overflows under a burst of connections, and clients then wait a second or more for
/// their SYN to be sent again.
pub const BACKLOG: u32 = 4096;

/// A listener on `address` with a [`BACKLOG`]-long queue.
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Raises this process's soft limit of open files (`RLIMIT_NOFILE`) to its hard limit,
/// so that many connections do not run out of file descriptors; the limit now in force,
/// or the error (logged by the caller).
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_per_client: usize, exempt: &[&str]) -> Gate {
        Gate::new(ConnectionLimits {
            max_connections: 0,
            max_per_client,
            exempt: exempt.iter().map(|net| net.parse().unwrap()).collect(),
        })
    }

    #[test]
    fn one_address_gets_at_most_its_share_and_places_come_back() {
        let gate = gate(2, &[]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(a).expect("first");
        let second = gate.admit(a).expect("second");
        assert!(gate.admit(a).is_none(), "a third from the same address");
        // The same client over IPv6 (IPv4-mapped) counts as the same address.
        assert!(gate.admit("::ffff:192.0.2.1".parse().unwrap()).is_none());
        let other = gate.admit(b).expect("another address");
        assert_eq!(gate.open_from(a), 2);
        drop(first);
        assert_eq!(gate.open_from(a), 1);
        let again = gate.admit(a).expect("a place came back");
        drop((second, again, other));
        assert_eq!(gate.open_from(a), 0);
        assert_eq!(gate.open_from(b), 0);
        assert!(
            gate.per_client.lock().unwrap().is_empty(),
            "no address left"
        );
    }

    #[test]
    fn exempt_addresses_and_no_cap_are_not_counted() {
        let gate = gate(1, &["10.0.0.0/8"]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let held: Vec<_> = (0..10)
            .map(|_| gate.admit(proxy).expect("exempt"))
            .collect();
        assert_eq!(held.len(), 10);
        assert_eq!(gate.open_from(proxy), 0);
        let unlimited = self::gate(0, &[]);
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        let held: Vec<_> = (0..100).map(|_| unlimited.admit(client)).collect();
        assert!(held.iter().all(Option::is_some));
    }

    #[test]
    fn client_troubles_are_told_from_the_servers() {
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        // EMFILE: the process has no file descriptor left; a pause, not the end.
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
    }

    #[tokio::test]
    async fn the_global_cap_waits_for_a_free_place() {
        let gate = Gate::new(ConnectionLimits {
            max_connections: 1,
            max_per_client: 0,
            exempt: Vec::new(),
        });
        let place = gate.place().await;
        assert!(place.is_some());
        let waiting = tokio::time::timeout(Duration::from_millis(50), gate.place()).await;
        assert!(waiting.is_err(), "a second place while the first is held");
        drop(place);
        let next = tokio::time::timeout(Duration::from_millis(50), gate.place()).await;
        assert!(next.is_ok_and(|place| place.is_some()));
    }
}
