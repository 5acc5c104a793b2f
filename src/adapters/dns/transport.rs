//! The prober's transport: one query to one server, one exact [`Reply`].
//!
//! Built for many queries in flight at once, in the manner of zdns and massdns:
//!
//! - A **shared pool of UDP sockets** per address family (unconnected, ephemeral ports).
//!   Each socket has a receive task, a send task and a map of the queries waiting on it,
//!   keyed by (server address, message id). A query picks a socket round-robin, registers
//!   under a random id that is free for that server on that socket, queues its datagram
//!   and waits on a oneshot. The send task sends what was queued since it last ran in one
//!   system call (`sendmmsg`), and the receive task reads what has arrived in one
//!   (`recvmmsg`).
//! - The receive task accepts a datagram only if it comes from the exact server address
//!   and port, is a response (QR=1), carries a pending id and repeats the question. Anything
//!   else is counted in [`TransportStats::ignored_packets`] and the query keeps waiting:
//!   that is the defence against spoofed, stale and garbage packets.
//! - A response whose id matches but which does not parse ends that attempt as malformed.
//!   Attempts are retried after `timeout`, up to `attempts`; a late answer to an earlier
//!   attempt is still accepted (same id). Only if *every* attempt was malformed is the
//!   outcome [`Outcome::Malformed`]; otherwise no usable answer is [`Outcome::Timeout`].
//! - A truncated response (TC=1) is asked again once over TCP, within `tcp_timeout`.
//! - Two paces ([`Pace`]): every check asks at the quick one (`attempts` × `timeout`);
//!   what failed is asked again at the patient one ([`Patience`]: more attempts, longer
//!   timeouts, and once over TCP after the UDP attempts timed out, since TCP recovers
//!   lost packets by itself).
//!
//! Nothing here panics on network data, and a query never takes longer than
//! `attempts × timeout + tcp_timeout` (at the patient pace, its own attempts and timeout)
//! plus scheduling slack once it holds one of the `max_in_flight` permits.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::outcome::{Outcome, Reply, Rr, Sections};
use super::{batch, reader};

/// Length of the fixed DNS header; nothing shorter can be a DNS message.
const HEADER_LEN: usize = 12;
/// Length of an OPT record without options.
const OPT_LEN: usize = 11;
/// Tries to find a message id not already pending for a server on a socket.
const ID_TRIES: usize = 64;
/// The receive buffer asked for each pooled socket. With thousands of queries in flight,
/// responses arrive in bursts that overflow the usual 208 KiB default (measured on
/// loopback at 4096 in flight: 3.8% of queries lost after 3 attempts with the default,
/// none with 1 MiB). The kernel caps the size at `net.core.rmem_max`: raise it for big runs.
const RECV_BUFFER: usize = 4 << 20;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// How long one UDP attempt waits for its response. Default 800 ms.
    pub timeout: Duration,
    /// UDP attempts per query (at least one is made). Default 3.
    pub attempts: u32,
    /// The whole TCP exchange after a truncated response: connect, write, read. Default 3 s.
    pub tcp_timeout: Duration,
    /// The UDP payload size advertised in the EDNS0 OPT record. Default 1232.
    pub edns_payload: u16,
    /// Sockets in the shared UDP pool, per address family. Default 8.
    pub udp_sockets: usize,
    /// Queries in flight at once; further queries wait for a slot. Default 4096.
    pub max_in_flight: usize,
    /// The patient pace, for asking again what failed.
    pub patient: Patience,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(800),
            attempts: 3,
            tcp_timeout: Duration::from_secs(3),
            edns_payload: 1232,
            udp_sockets: 8,
            max_in_flight: 4096,
            patient: Patience::default(),
        }
    }
}

/// How hard one query tries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// `attempts` UDP attempts of `timeout` each: every check.
    #[default]
    Quick,
    /// [`Patience`]: asking again what failed, before a failure is believed.
    Patient,
}

/// The patient pace. With 30% of the packets lost each way (a UDP attempt gets through
/// with probability 0.49), the defaults leave a query unanswered with probability about
/// 0.51⁵ ≈ 3.5% before TCP, which recovers most of the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// How long one UDP attempt waits. Default 2 s.
    pub timeout: Duration,
    /// UDP attempts; 0 turns patient re-asking off. Default 5.
    pub attempts: u32,
    /// After every UDP attempt timed out, ask once over TCP (within `tcp_timeout`).
    /// Default true.
    pub tcp: bool,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            attempts: 5,
            tcp: true,
        }
    }
}

/// Counters since the transport was created (a snapshot; see [`Transport::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransportStats {
    /// Calls to [`Transport::query`].
    pub queries: u64,
    /// UDP datagrams sent (first attempts and retries).
    pub udp_sent: u64,
    /// Responses accepted, over UDP (truncated ones included) or TCP.
    pub responses: u64,
    /// UDP attempts and TCP exchanges that ran out of time.
    pub timeouts: u64,
    /// Truncated responses asked again over TCP.
    pub tcp_fallbacks: u64,
    /// Packets dropped: unknown sender or id, not a response, wrong question, too short.
    pub ignored_packets: u64,
    /// Responses with the right id that did not parse.
    pub malformed: u64,
    /// Queries asked at the patient pace (asking again what failed).
    pub patient: u64,
}

/// The live counters behind [`TransportStats`].
#[derive(Default)]
struct Counters {
    queries: AtomicU64,
    udp_sent: AtomicU64,
    responses: AtomicU64,
    timeouts: AtomicU64,
    tcp_fallbacks: AtomicU64,
    ignored_packets: AtomicU64,
    malformed: AtomicU64,
    patient: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Why a response does not answer a query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Fewer bytes than a DNS header.
    #[error("{0} bytes is shorter than a DNS header")]
    TooShort(usize),
    /// The message id is not the query's.
    #[error("message id {got} does not match the query's id {expected}")]
    IdMismatch {
        /// The query's id.
        expected: u16,
        /// The id that came back.
        got: u16,
    },
    /// The QR bit is 0: a query, not a response.
    #[error("not a response (QR=0)")]
    NotResponse,
    /// The question section is not the query's question.
    #[error("the response's question does not match the query")]
    QuestionMismatch,
    /// The header is right but the message does not parse.
    #[error("unparsable response: {0}")]
    Unparsable(String),
}

/// Parses a response to the query `(id, qname, qtype)` and classifies it.
///
/// `recursion` is the query's RD bit: without recursion the server must be authoritative.
/// A truncated response (TC=1) is classified as it is, with a note in `detail`. Pure: the
/// transport and the fuzz target both use it.
pub fn parse_response(
    bytes: &[u8],
    id: u16,
    qname: &Name,
    qtype: RecordType,
    recursion: bool,
) -> Result<Reply, ResponseError> {
    let question = Question::new(qname, qtype, recursion);
    let response = question.decode(bytes, id)?;
    Ok(question.reply(response))
}

/// An accepted response: what [`Reply`] is made of and, for a DNSSEC query, the whole
/// parsed message.
#[derive(Debug)]
struct Response {
    authoritative: bool,
    truncation: bool,
    rcode: ResponseCode,
    sections: Sections,
    /// Kept only for [`Transport::query_dnssec`].
    message: Option<Message>,
}

/// What one query asks: shared by its attempts and by the receive task.
struct Question {
    /// Always fully qualified, so that it compares equal to names read from the wire.
    name: Name,
    qtype: RecordType,
    /// The RD bit; without it the server must be authoritative.
    recursion: bool,
    /// The DO bit (EDNS0): ask for the DNSSEC records (RRSIG, NSEC, NSEC3) too.
    dnssec: bool,
}

impl Question {
    fn new(name: &Name, qtype: RecordType, recursion: bool) -> Self {
        let mut name = name.clone();
        name.set_fqdn(true);
        Self {
            name,
            qtype,
            recursion,
            dnssec: false,
        }
    }

    /// The query on the wire: this question in class IN, RD as asked, EDNS0 with DO as
    /// asked. A query to a resolver (RD=1) also has CD=1: a validating resolver then hands
    /// over the data of a zone whose DNSSEC is broken instead of SERVFAIL, so that the
    /// broken zone is judged on its own answers (and its DNSSEC by [`crate::dnssec`]).
    ///
    /// Written directly (a query is a fixed header, the name's labels and a fixed OPT
    /// record): building a `Message` for every query cost several percent of a sweep's CPU.
    fn to_wire(&self, id: u16, payload: u16) -> Vec<u8> {
        let flags: u8 = if self.recursion { 0x01 } else { 0x00 }; // RD; QR=0, opcode QUERY
        let mut wire = Vec::with_capacity(HEADER_LEN + 256 + 4 + OPT_LEN);
        wire.extend_from_slice(&id.to_be_bytes());
        // Flags, then QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1 (the OPT record).
        let cd: u8 = if self.recursion { 0x10 } else { 0x00 };
        wire.extend_from_slice(&[flags, cd, 0, 1, 0, 0, 0, 0, 0, 1]);
        // A `Name` guarantees labels of at most 63 bytes and at most 255 bytes in all.
        for label in self.name.iter() {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.push(0);
        wire.extend_from_slice(&u16::from(self.qtype).to_be_bytes());
        wire.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        // OPT: root owner, type 41, the payload size as class, extended rcode 0, version 0,
        // flags (DO as asked), no options.
        wire.push(0);
        wire.extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
        wire.extend_from_slice(&payload.to_be_bytes());
        let dnssec_ok: u8 = if self.dnssec { 0x80 } else { 0x00 };
        wire.extend_from_slice(&[0, 0, dnssec_ok, 0, 0, 0]);
        wire
    }

    /// Checks the header, parses, and checks the question (name case-insensitively, type,
    /// class IN). Error responses (not NOERROR or NXDOMAIN) may omit the question.
    ///
    /// The common responses are read by the quick [`reader`]; whatever it leaves, and every
    /// response to a DNSSEC query (whose whole message is kept), by hickory's parser. Both
    /// decide the same.
    fn decode(&self, bytes: &[u8], id: u16) -> Result<Response, ResponseError> {
        let (id_hi, id_lo, flags) = match bytes {
            [hi, lo, flags, ..] if bytes.len() >= HEADER_LEN => (*hi, *lo, *flags),
            _ => return Err(ResponseError::TooShort(bytes.len())),
        };
        let got = u16::from_be_bytes([id_hi, id_lo]);
        if got != id {
            return Err(ResponseError::IdMismatch { expected: id, got });
        }
        if flags & 0x80 == 0 {
            return Err(ResponseError::NotResponse);
        }
        if !self.dnssec
            && let Some(quick) = reader::read(bytes)
        {
            let matches = match &quick.question {
                Some((name, qtype, class)) => {
                    *class == u16::from(DNSClass::IN) && *qtype == self.qtype && *name == self.name
                }
                None => self.may_omit_question(quick.rcode),
            };
            return matches
                .then_some(Response {
                    authoritative: quick.authoritative,
                    truncation: quick.truncation,
                    rcode: quick.rcode,
                    sections: quick.sections,
                    message: None,
                })
                .ok_or(ResponseError::QuestionMismatch);
        }
        let message =
            Message::from_vec(bytes).map_err(|e| ResponseError::Unparsable(e.to_string()))?;
        let matches = match message.queries.as_slice() {
            [q] => {
                q.query_class == DNSClass::IN && q.query_type == self.qtype && q.name == self.name
            }
            [] => self.may_omit_question(message.metadata.response_code),
            _ => false,
        };
        if !matches {
            return Err(ResponseError::QuestionMismatch);
        }
        let convert =
            |records: &[hickory_proto::rr::Record]| records.iter().map(Rr::from_record).collect();
        Ok(Response {
            authoritative: message.metadata.authoritative,
            truncation: message.metadata.truncation,
            rcode: message.metadata.response_code,
            sections: Sections {
                answers: convert(&message.answers),
                authority: convert(&message.authorities),
                additional: convert(&message.additionals),
            },
            message: self.dnssec.then_some(message),
        })
    }

    /// Only error responses (not NOERROR or NXDOMAIN) may omit the question.
    fn may_omit_question(&self, rcode: ResponseCode) -> bool {
        !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain)
    }

    /// Classifies an accepted response, noting truncation.
    fn reply(&self, response: Response) -> Reply {
        let (aa, rcode, truncation) = (response.authoritative, response.rcode, response.truncation);
        let mut reply = Reply::classify_sections(
            response.sections,
            aa,
            rcode,
            &self.name,
            self.qtype,
            !self.recursion,
        );
        if truncation {
            reply.detail = Some("truncated response (TC=1)".into());
        }
        reply
    }
}

fn network_error(detail: String) -> Reply {
    Reply::failed(Outcome::NetworkError, detail)
}

/// What the receive task (or the send task) hands to a waiting query. Nearly every
/// delivery is an answer: boxing it to shrink the rare ones would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Delivery {
    /// A response that answers it.
    Answer(Response),
    /// A response with its id and sender that does not parse.
    Malformed(ResponseError),
    /// The datagram could not be sent: the system's error.
    SendFailed(String),
}
/// Pending queries are keyed by the server's exact address and the message id.
type Key = (SocketAddr, u16);

/// A query waiting on a pooled socket.
struct Waiter {
    /// Tells this registration apart from a later one under the same key.
    serial: u64,
    question: Arc<Question>,
    tx: oneshot::Sender<Delivery>,
}

/// One socket of the pool and the queries waiting on it.
struct PooledSocket {
    socket: UdpSocket,
    pending: Mutex<HashMap<Key, Waiter>>,
    next_serial: AtomicU64,
    counters: Arc<Counters>,
    /// Datagrams queued by the queries, which the send task sends together.
    outbox: Mutex<Vec<Outgoing>>,
    /// Wakes the send task when the outbox gets its first datagram.
    send_ready: Notify,
}

/// A query's datagram waiting in a socket's outbox.
struct Outgoing {
    /// The waiting query's key (its server and message id) and registration.
    key: Key,
    serial: u64,
    bytes: Vec<u8>,
}

impl batch::Datagram for Outgoing {
    fn destination(&self) -> SocketAddr {
        self.key.0
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A registered query; dropping it (answered, timed out, cancelled) frees its id.
struct Registration<'a> {
    socket: &'a PooledSocket,
    key: Key,
    serial: u64,
    rx: oneshot::Receiver<Delivery>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut pending = self.socket.lock();
        if pending
            .get(&self.key)
            .is_some_and(|w| w.serial == self.serial)
        {
            pending.remove(&self.key);
        }
    }
}

impl PooledSocket {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Waiter>> {
        // A panic elsewhere cannot leave the map inconsistent: keep going.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a query under a random id not already pending for `server`.
    fn register(&self, server: SocketAddr, question: &Arc<Question>) -> Option<Registration<'_>> {
        let serial = self.next_serial.fetch_add(1, Relaxed);
        let mut pending = self.lock();
        for _ in 0..ID_TRIES {
            let key = (server, rand::random::<u16>());
            if let Entry::Vacant(slot) = pending.entry(key) {
                let (tx, rx) = oneshot::channel();
                let question = Arc::clone(question);
                slot.insert(Waiter {
                    serial,
                    question,
                    tx,
                });
                return Some(Registration {
                    socket: self,
                    key,
                    serial,
                    rx,
                });
            }
        }
        None
    }

    /// Hands a datagram to the query it answers, or counts it as ignored.
    fn dispatch(&self, datagram: &[u8], from: SocketAddr) {
        let key = match datagram {
            [hi, lo, ..] => (from, u16::from_be_bytes([*hi, *lo])),
            _ => return bump(&self.counters.ignored_packets),
        };
        // Look up under the lock, parse outside it.
        let waiting = self
            .lock()
            .get(&key)
            .map(|w| (w.serial, Arc::clone(&w.question)));
        let Some((serial, question)) = waiting else {
            return bump(&self.counters.ignored_packets);
        };
        let delivery = match question.decode(datagram, key.1) {
            Ok(message) => Delivery::Answer(message),
            Err(error @ ResponseError::Unparsable(_)) => {
                bump(&self.counters.malformed);
                Delivery::Malformed(error)
            }
            Err(_) => return bump(&self.counters.ignored_packets),
        };
        self.deliver(key, serial, delivery);
    }

    /// Hands `delivery` to the query registered under `key` as `serial`, if it still is.
    fn deliver(&self, key: Key, serial: u64, delivery: Delivery) {
        let mut pending = self.lock();
        if let Entry::Occupied(slot) = pending.entry(key)
            && slot.get().serial == serial
        {
            // The query may have given up meanwhile; then nobody is listening.
            let _ = slot.remove().tx.send(delivery);
        }
    }

    /// Queues a query's datagram for the send task.
    fn queue(&self, registration: &Registration<'_>, bytes: Vec<u8>) {
        let first = {
            let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            outbox.push(Outgoing {
                key: registration.key,
                serial: registration.serial,
                bytes,
            });
            outbox.len() == 1
        };
        // Otherwise the send task has been woken already and has not taken the outbox yet.
        if first {
            self.send_ready.notify_one();
        }
    }
}

/// Reads datagrams for one pooled socket until the transport is dropped: what has
/// arrived, in one call ([`batch::receive`]). A call that did not fill the buffers found
/// the socket drained: it counts as "would block", so that the next call waits for the
/// socket to be readable again instead of finding it empty.
async fn receive_loop(socket: Arc<PooledSocket>) {
    let mut inbox = None;
    loop {
        let read = socket
            .socket
            .async_io(Interest::READABLE, || {
                let inbox = inbox.get_or_insert_with(batch::Inbox::new);
                let count = batch::receive(&socket.socket, inbox)?;
                for (datagram, from) in inbox.datagrams() {
                    socket.dispatch(datagram, from);
                }
                if inbox.drained(count) {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            })
            .await;
        // Errors on an unconnected socket are transient (e.g. ICMP reports): go on,
        // without spinning.
        if read.is_err() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Sends the datagrams queued on one pooled socket until the transport is dropped: all
/// that the queries queued since it last ran, in as few calls as [`batch::send`] allows.
/// A datagram that cannot be sent fails its query at once, with the system's error.
async fn send_loop(socket: Arc<PooledSocket>) {
    let mut sending = Vec::new();
    loop {
        socket.send_ready.notified().await;
        // Once more to the back of the runtime's queue: the queries that are ready to run
        // queue their datagrams first, and go out in the same call (about 10 a call on the
        // bench instead of 5, half the calls and half the wake-ups of the servers).
        tokio::task::yield_now().await;
        std::mem::swap(
            &mut *socket.outbox.lock().unwrap_or_else(PoisonError::into_inner),
            &mut sending,
        );
        let mut next = 0;
        while let Some(rest) = sending.get(next..).filter(|rest| !rest.is_empty()) {
            let sent = socket
                .socket
                .async_io(Interest::WRITABLE, || batch::send(&socket.socket, rest))
                .await;
            match sent {
                Ok(count) if count > 0 => {
                    socket.counters.udp_sent.fetch_add(count as u64, Relaxed);
                    next += count;
                }
                failed => {
                    let error = match failed {
                        Err(error) => error.to_string(),
                        Ok(_) => "nothing sent".to_owned(),
                    };
                    if let Some(first) = rest.first() {
                        let detail = format!("UDP send to {}: {error}", first.key.0);
                        socket.deliver(first.key, first.serial, Delivery::SendFailed(detail));
                    }
                    next += 1;
                }
            }
        }
        sending.clear();
    }
}

/// Binds `size` unconnected sockets on `addr` (port 0: ephemeral ports).
fn bind_pool(
    addr: SocketAddr,
    size: usize,
    counters: &Arc<Counters>,
) -> io::Result<Vec<Arc<PooledSocket>>> {
    (0..size)
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            // Best effort: a smaller buffer only means more retries under load.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            Ok(Arc::new(PooledSocket {
                socket: UdpSocket::from_std(socket.into())?,
                pending: Mutex::new(HashMap::new()),
                next_serial: AtomicU64::new(0),
                counters: Arc::clone(counters),
                outbox: Mutex::new(Vec::new()),
                send_ready: Notify::new(),
            }))
        })
        .collect()
}

/// A DNS transport shared by every check: cheap to clone, all clones share the pool.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    config: TransportConfig,
    v4: Vec<Arc<PooledSocket>>,
    v6: Vec<Arc<PooledSocket>>,
    next_socket: AtomicUsize,
    in_flight: Semaphore,
    counters: Arc<Counters>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl Transport {
    /// Binds the socket pools and starts their receive tasks.
    ///
    /// Must be called inside a tokio runtime (an error otherwise). A host without IPv6
    /// still gets a transport: queries to IPv6 servers then return
    /// [`Outcome::NetworkError`].
    pub fn new(config: TransportConfig) -> io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let counters = Arc::new(Counters::default());
        let size = config.udp_sockets.max(1);
        let v4 = bind_pool((Ipv4Addr::UNSPECIFIED, 0).into(), size, &counters)?;
        let v6 = bind_pool((Ipv6Addr::UNSPECIFIED, 0).into(), size, &counters).unwrap_or_default();
        let tasks = v4.iter().chain(&v6);
        let tasks = tasks
            .flat_map(|socket| {
                [
                    runtime.spawn(receive_loop(Arc::clone(socket))),
                    runtime.spawn(send_loop(Arc::clone(socket))),
                ]
            })
            .collect();
        let in_flight = Semaphore::new(config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS));
        let next_socket = AtomicUsize::new(0);
        let inner = Inner {
            config,
            v4,
            v6,
            next_socket,
            in_flight,
            counters,
            tasks,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Asks `server` for `(qname, qtype, IN)` and classifies what comes back.
    ///
    /// With `recursion == false` the query has RD=0 and the server must answer
    /// authoritatively (an answer without AA is [`Outcome::NotAuthoritative`]); with
    /// `recursion == true` it has RD=1, for a recursive resolver. Never panics; takes at
    /// most `attempts × timeout + tcp_timeout` (plus slack) after getting an in-flight slot.
    pub async fn query(
        &self,
        server: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        recursion: bool,
    ) -> Reply {
        self.query_at(Pace::Quick, server, qname, qtype, recursion)
            .await
    }

    /// [`query`](Self::query) at the given pace: at the patient one, with its attempts
    /// and timeout, and once over TCP after the UDP attempts all timed out.
    pub async fn query_at(
        &self,
        pace: Pace,
        server: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        recursion: bool,
    ) -> Reply {
        let (counters, config) = (&*self.inner.counters, &self.inner.config);
        bump(&counters.queries);
        let (timeout, attempts, tcp) = match pace {
            Pace::Quick => (config.timeout, config.attempts, false),
            Pace::Patient => {
                bump(&counters.patient);
                let patience = config.patient;
                (patience.timeout, patience.attempts, patience.tcp)
            }
        };
        let Ok(_permit) = self.inner.in_flight.acquire().await else {
            return network_error("transport closed".into());
        };
        let question = Arc::new(Question::new(qname, qtype, recursion));
        match self
            .udp_exchange(server, &question, timeout, attempts)
            .await
        {
            Ok(response) if response.truncation => self.tcp_exchange(server, &question).await,
            Ok(response) => question.reply(response),
            Err(reply) if tcp && reply.outcome == Outcome::Timeout => {
                let mut over_tcp = self.tcp_exchange(server, &question).await;
                if over_tcp.outcome.is_transient() {
                    over_tcp.detail = Some(format!(
                        "{}; then over TCP: {}",
                        reply.detail.unwrap_or_default(),
                        over_tcp.detail.unwrap_or_default()
                    ));
                }
                over_tcp
            }
            Err(reply) => reply,
        }
    }

    /// Like [`Transport::query`] with DO=1 (and CD=1 with recursion): also returns the
    /// whole parsed message, whose DNSSEC records (RRSIG, DNSKEY, DS, NSEC, NSEC3) the
    /// classified [`Reply`] leaves out. `None` when no usable message came back.
    pub async fn query_dnssec(
        &self,
        server: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        recursion: bool,
    ) -> (Reply, Option<Message>) {
        bump(&self.inner.counters.queries);
        let Ok(_permit) = self.inner.in_flight.acquire().await else {
            return (network_error("transport closed".into()), None);
        };
        let mut question = Question::new(qname, qtype, recursion);
        question.dnssec = true;
        let question = Arc::new(question);
        let (wait, attempts) = (self.inner.config.timeout, self.inner.config.attempts);
        let response = match self.udp_exchange(server, &question, wait, attempts).await {
            Ok(response) if response.truncation => {
                bump(&self.inner.counters.tcp_fallbacks);
                let id = rand::random::<u16>();
                let query = question.to_wire(id, self.inner.config.edns_payload);
                let exchange = tcp_read(server, &query, id, &question, &self.inner.counters);
                match timeout(self.inner.config.tcp_timeout, exchange).await {
                    Ok(Ok(response)) => {
                        bump(&self.inner.counters.responses);
                        response
                    }
                    Ok(Err(mut reply)) => {
                        reply.via_tcp = true;
                        return (reply, None);
                    }
                    Err(_) => {
                        bump(&self.inner.counters.timeouts);
                        let detail = format!("no TCP response from {server}");
                        return (Reply::failed(Outcome::Timeout, detail), None);
                    }
                }
            }
            Ok(response) => response,
            Err(reply) => return (reply, None),
        };
        let mut response = response;
        let message = response.message.take();
        (question.reply(response), message)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> TransportStats {
        let c = &self.inner.counters;
        TransportStats {
            queries: c.queries.load(Relaxed),
            udp_sent: c.udp_sent.load(Relaxed),
            responses: c.responses.load(Relaxed),
            timeouts: c.timeouts.load(Relaxed),
            tcp_fallbacks: c.tcp_fallbacks.load(Relaxed),
            ignored_packets: c.ignored_packets.load(Relaxed),
            malformed: c.malformed.load(Relaxed),
            patient: c.patient.load(Relaxed),
        }
    }

    /// The UDP attempts: the accepted response, or the failed reply.
    async fn udp_exchange(
        &self,
        server: SocketAddr,
        question: &Arc<Question>,
        wait: Duration,
        attempts: u32,
    ) -> Result<Response, Reply> {
        let (inner, counters) = (&*self.inner, &*self.inner.counters);
        let pool = if server.is_ipv4() {
            &inner.v4
        } else {
            &inner.v6
        };
        let turn = inner.next_socket.fetch_add(1, Relaxed);
        let Some(socket) = pool.get(turn % pool.len().max(1)) else {
            return Err(network_error(format!("no UDP socket for {server}")));
        };
        let attempts = attempts.max(1);
        let (mut registration, mut malformed, mut timeouts) = (None, None, 0);
        for _ in 0..attempts {
            // Keep the id across timeouts, so that a late answer still counts.
            let mut current = match registration.take() {
                Some(current) => current,
                None => socket
                    .register(server, question)
                    .ok_or_else(|| network_error(format!("no free message id for {server}")))?,
            };
            socket.queue(
                &current,
                question.to_wire(current.key.1, inner.config.edns_payload),
            );
            match timeout(wait, &mut current.rx).await {
                Ok(Ok(Delivery::Answer(response))) => {
                    bump(&counters.responses);
                    return Ok(response);
                }
                Ok(Ok(Delivery::SendFailed(detail))) => return Err(network_error(detail)),
                // Malformed: the registration is gone; the next attempt takes a new id.
                Ok(Ok(Delivery::Malformed(error))) => malformed = Some(error),
                Ok(Err(_)) => return Err(network_error("the receive task stopped".into())),
                Err(_) => {
                    bump(&counters.timeouts);
                    timeouts += 1;
                    registration = Some(current);
                }
            }
        }
        let detail = match &malformed {
            Some(error) => {
                format!("{timeouts} of {attempts} UDP attempts timed out, the others: {error}")
            }
            None => format!("no response to {attempts} UDP attempts"),
        };
        Err(match malformed {
            Some(error) if timeouts == 0 => Reply::failed(Outcome::Malformed, error.to_string()),
            _ => Reply::failed(Outcome::Timeout, detail),
        })
    }

    /// The query again over TCP after a truncated response (or, at the patient pace, after
    /// the UDP attempts timed out): connect, write and read all within `tcp_timeout`. Every outcome decided here has `via_tcp` set.
    async fn tcp_exchange(&self, server: SocketAddr, question: &Question) -> Reply {
        let (config, counters) = (&self.inner.config, &*self.inner.counters);
        bump(&counters.tcp_fallbacks);
        let id = rand::random::<u16>();
        let query = question.to_wire(id, config.edns_payload);
        let exchange = tcp_read(server, &query, id, question, counters);
        let mut reply = match timeout(config.tcp_timeout, exchange).await {
            Ok(Ok(response)) => {
                bump(&counters.responses);
                let truncation = response.truncation;
                let mut reply = question.reply(response);
                if truncation {
                    reply.detail = Some("truncated even over TCP (TC=1); accepted as is".into());
                }
                reply
            }
            Ok(Err(reply)) => reply,
            Err(_) => {
                bump(&counters.timeouts);
                let detail = format!(
                    "no TCP response from {server} within {:?}",
                    config.tcp_timeout
                );
                Reply::failed(Outcome::Timeout, detail)
            }
        };
        reply.via_tcp = true;
        reply
    }
}

/// One TCP exchange: connect, send the framed query, read one message at a time until one
/// answers (others are ignored). The caller bounds it in time.
async fn tcp_read(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
    counters: &Counters,
) -> Result<Response, Reply> {
    let io_error = |what: &str, e: io::Error| network_error(format!("TCP {what} {server}: {e}"));
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| io_error("connect to", e))?;
    // Best effort: Nagle's algorithm would only delay the single write.
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(query.len()).map_err(|_| network_error("query too long".into()))?;
    let framed = [&len.to_be_bytes()[..], query].concat();
    stream
        .write_all(&framed)
        .await
        .map_err(|e| io_error("write to", e))?;
    loop {
        let len = stream
            .read_u16()
            .await
            .map_err(|e| io_error("read from", e))?;
        if usize::from(len) < HEADER_LEN {
            let detail = format!("TCP message length {len} is shorter than a DNS header");
            return Err(Reply::failed(Outcome::Malformed, detail));
        }
        let mut message = vec![0u8; usize::from(len)];
        stream
            .read_exact(&mut message)
            .await
            .map_err(|e| io_error("read from", e))?;
        match question.decode(&message, id) {
            Ok(response) => return Ok(response),
            Err(error @ ResponseError::Unparsable(_)) => {
                bump(&counters.malformed);
                return Err(Reply::failed(Outcome::Malformed, error.to_string()));
            }
            Err(_) => bump(&counters.ignored_packets),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Edns, MessageType, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// An authoritative answer with one A record to `(qname, qtype)`.
    fn answer(id: u16, qname: &str, qtype: RecordType) -> Message {
        let mut message = Message::response(id, hickory_proto::op::OpCode::Query);
        message.metadata.authoritative = true;
        message.add_query(Query::query(name(qname), qtype));
        let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
        message.add_answer(Record::from_rdata(name(qname), 300, a));
        message
    }

    fn bytes(message: &Message) -> Vec<u8> {
        message.to_vec().unwrap()
    }

    #[test]
    fn query_has_one_question_rd_and_edns() {
        for recursion in [false, true] {
            let question = Question::new(&name("pec.example.it"), RecordType::MX, recursion);
            let wire = question.to_wire(4242, 1232);
            let message = Message::from_vec(&wire).unwrap();
            assert_eq!(message.metadata.id, 4242);
            assert_eq!(message.metadata.message_type, MessageType::Query);
            assert_eq!(message.metadata.recursion_desired, recursion);
            assert_eq!(message.queries.len(), 1);
            let question = &message.queries[0];
            assert_eq!(question.name, name("pec.example.it."));
            assert_eq!(question.query_type, RecordType::MX);
            assert_eq!(question.query_class, DNSClass::IN);
            let edns = message.edns.expect("an OPT record");
            assert_eq!(edns.max_payload(), 1232);
            assert!(!edns.flags().dnssec_ok);
            assert!(message.answers.is_empty() && message.additionals.is_empty());
        }
    }

    #[test]
    fn query_bytes_are_hickorys() {
        let long = format!("{}.{}.it", "a".repeat(63), "B".repeat(63));
        for (qname, qtype) in [
            ("pec.example.it", RecordType::MX),
            ("PEC.Example.IT.", RecordType::SOA),
            (".", RecordType::NS),
            (long.as_str(), RecordType::AAAA),
        ] {
            for (recursion, payload) in [(false, 1232), (true, 4096)] {
                let question = Question::new(&name(qname), qtype, recursion);
                let mut message = Message::query();
                message.metadata.id = 513;
                message.metadata.recursion_desired = recursion;
                message.metadata.checking_disabled = recursion;
                message.add_query(Query::query(question.name.clone(), qtype));
                let mut edns = Edns::new();
                edns.set_max_payload(payload).set_dnssec_ok(false);
                message.set_edns(edns);
                assert_eq!(question.to_wire(513, payload), bytes(&message), "{qname}");
            }
        }
    }

    #[test]
    fn accepts_the_answer_to_its_question() {
        let wire = bytes(&answer(7, "pec.example.it.", RecordType::A));
        let reply =
            parse_response(&wire, 7, &name("pec.example.it."), RecordType::A, false).unwrap();
        assert_eq!(reply.outcome, Outcome::Answer);
        assert_eq!(reply.answers.len(), 1);
        assert!(!reply.via_tcp && reply.detail.is_none());
        // Case-insensitive name; a query name given without the trailing dot.
        let reply =
            parse_response(&wire, 7, &name("PEC.Example.IT"), RecordType::A, false).unwrap();
        assert_eq!(reply.outcome, Outcome::Answer);
    }

    #[test]
    fn recursion_decides_whether_aa_is_required() {
        let mut message = answer(7, "pec.example.it.", RecordType::A);
        message.metadata.authoritative = false;
        let wire = bytes(&message);
        let qname = name("pec.example.it.");
        let direct = parse_response(&wire, 7, &qname, RecordType::A, false).unwrap();
        assert_eq!(direct.outcome, Outcome::NotAuthoritative);
        let recursive = parse_response(&wire, 7, &qname, RecordType::A, true).unwrap();
        assert_eq!(recursive.outcome, Outcome::Answer);
    }

    #[test]
    fn notes_truncation() {
        let mut message = answer(7, "pec.example.it.", RecordType::A);
        message.metadata.truncation = true;
        let reply = parse_response(
            &bytes(&message),
            7,
            &name("pec.example.it."),
            RecordType::A,
            false,
        )
        .unwrap();
        assert!(reply.detail.unwrap().contains("TC=1"));
    }

    #[test]
    fn rejects_what_does_not_answer_the_query() {
        let qname = name("pec.example.it.");
        let parse = |wire: &[u8]| parse_response(wire, 7, &qname, RecordType::A, false);
        let good = bytes(&answer(7, "pec.example.it.", RecordType::A));

        assert_eq!(parse(&[]), Err(ResponseError::TooShort(0)));
        assert_eq!(parse(&good[..11]), Err(ResponseError::TooShort(11)));
        assert_eq!(
            parse(&bytes(&answer(8, "pec.example.it.", RecordType::A))),
            Err(ResponseError::IdMismatch {
                expected: 7,
                got: 8
            })
        );
        let mut query = answer(7, "pec.example.it.", RecordType::A);
        query.metadata.message_type = MessageType::Query;
        assert_eq!(parse(&bytes(&query)), Err(ResponseError::NotResponse));
        for wrong in [
            answer(7, "other.example.it.", RecordType::A),
            answer(7, "pec.example.it.", RecordType::MX),
        ] {
            assert_eq!(parse(&bytes(&wrong)), Err(ResponseError::QuestionMismatch));
        }
        let mut chaos = answer(7, "pec.example.it.", RecordType::A);
        chaos.queries[0].query_class = DNSClass::CH;
        assert_eq!(parse(&bytes(&chaos)), Err(ResponseError::QuestionMismatch));
        let mut two = answer(7, "pec.example.it.", RecordType::A);
        two.add_query(Query::query(qname.clone(), RecordType::A));
        assert_eq!(parse(&bytes(&two)), Err(ResponseError::QuestionMismatch));
        // A header that promises a record the body does not hold.
        assert!(matches!(
            parse(&good[..good.len() - 3]),
            Err(ResponseError::Unparsable(_))
        ));
    }

    #[test]
    fn only_error_responses_may_omit_the_question() {
        let qname = name("pec.example.it.");
        let mut refused =
            Message::error_msg(7, hickory_proto::op::OpCode::Query, ResponseCode::Refused);
        let reply = parse_response(&bytes(&refused), 7, &qname, RecordType::A, false).unwrap();
        assert_eq!(reply.outcome, Outcome::Refused);
        refused.metadata.response_code = ResponseCode::NoError;
        assert_eq!(
            parse_response(&bytes(&refused), 7, &qname, RecordType::A, false),
            Err(ResponseError::QuestionMismatch)
        );
    }
}

#[cfg(test)]
mod pace_tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{Message, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, UdpSocket};

    use super::*;

    /// A server that takes UDP queries and never answers them (a lossy path), and answers
    /// over TCP.
    async fn udp_deaf_server() -> SocketAddr {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(address).await.unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while udp.recv_from(&mut buf).await.is_ok() {}
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let len = stream.read_u16().await.unwrap();
                let mut query = vec![0u8; usize::from(len)];
                stream.read_exact(&mut query).await.unwrap();
                let bytes = a_answer(&query);
                let len = u16::try_from(bytes.len()).unwrap();
                stream.write_all(&len.to_be_bytes()).await.unwrap();
                stream.write_all(&bytes).await.unwrap();
            }
        });
        address
    }

    /// The authoritative answer to a query: one A record for its name.
    fn a_answer(query: &[u8]) -> Vec<u8> {
        let query = Message::from_vec(query).unwrap();
        let mut answer = Message::response(query.metadata.id, OpCode::Query);
        answer.metadata.authoritative = true;
        let qname = query.queries[0].name.clone();
        answer.add_query(Query::query(qname.clone(), RecordType::A));
        let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
        answer.add_answer(Record::from_rdata(qname, 60, a));
        answer.to_vec().unwrap()
    }

    /// A UDP server on loopback that answers every query with one A record, authoritatively.
    async fn udp_answering_server() -> SocketAddr {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = udp.recv_from(&mut buf).await {
                udp.send_to(&a_answer(&buf[..len]), from).await.unwrap();
            }
        });
        address
    }

    /// Among queries sent together, a datagram the system refuses (broadcast, on a socket
    /// not allowed to: no packet leaves the host) fails its own query at once, as a network
    /// error naming the server, without waiting for a timeout; the others are answered.
    #[tokio::test]
    async fn a_refused_datagram_fails_only_its_query_and_at_once() {
        let server = udp_answering_server().await;
        let transport = Transport::new(TransportConfig {
            udp_sockets: 1,
            timeout: Duration::from_secs(5),
            ..TransportConfig::default()
        })
        .unwrap();
        let refused: SocketAddr = (Ipv4Addr::BROADCAST, 53).into();
        let names: Vec<Name> = (0..200)
            .map(|i| Name::from_ascii(format!("n{i}.pec.example.it.")).unwrap())
            .collect();
        let started = std::time::Instant::now();
        let (broadcast, answers) = tokio::join!(
            transport.query(refused, &names[0], RecordType::A, false),
            futures::future::join_all(names.iter().map(|name| transport.query(
                server,
                name,
                RecordType::A,
                false
            )))
        );
        assert_eq!(broadcast.outcome, Outcome::NetworkError, "{broadcast:?}");
        let detail = broadcast.detail.unwrap_or_default();
        assert!(
            detail.starts_with("UDP send to 255.255.255.255:53: "),
            "{detail}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a timeout was waited for"
        );
        assert!(
            answers.iter().all(|reply| reply.outcome == Outcome::Answer),
            "{answers:?}"
        );
        let stats = transport.stats();
        // The refused datagram is not counted as sent; every other one is, once.
        assert_eq!((stats.udp_sent, stats.responses), (200, 200));
    }

    #[tokio::test]
    async fn the_patient_pace_tries_tcp_after_udp_timeouts() {
        let server = udp_deaf_server().await;
        let config = TransportConfig {
            timeout: Duration::from_millis(20),
            attempts: 2,
            patient: Patience {
                timeout: Duration::from_millis(30),
                attempts: 3,
                tcp: true,
            },
            ..TransportConfig::default()
        };
        let transport = Transport::new(config).unwrap();
        let qname = Name::from_ascii("pec.example.it.").unwrap();
        let quick = transport.query(server, &qname, RecordType::A, false).await;
        assert_eq!(quick.outcome, Outcome::Timeout);
        assert_eq!(transport.stats().udp_sent, 2);
        let patient = transport
            .query_at(Pace::Patient, server, &qname, RecordType::A, false)
            .await;
        assert_eq!(patient.outcome, Outcome::Answer, "{patient:?}");
        assert!(patient.via_tcp);
        let stats = transport.stats();
        assert_eq!(
            (stats.udp_sent, stats.patient, stats.tcp_fallbacks),
            (5, 1, 1)
        );
    }

    #[tokio::test]
    async fn without_tcp_the_patient_pace_is_only_more_attempts() {
        let server = udp_deaf_server().await;
        let config = TransportConfig {
            timeout: Duration::from_millis(20),
            attempts: 1,
            patient: Patience {
                timeout: Duration::from_millis(20),
                attempts: 4,
                tcp: false,
            },
            ..TransportConfig::default()
        };
        let transport = Transport::new(config).unwrap();
        let qname = Name::from_ascii("pec.example.it.").unwrap();
        let patient = transport
            .query_at(Pace::Patient, server, &qname, RecordType::A, false)
            .await;
        assert_eq!(patient.outcome, Outcome::Timeout);
        assert_eq!(transport.stats().udp_sent, 4);
        assert_eq!(transport.stats().tcp_fallbacks, 0);
    }
}
