//! A tiny scriptable DNS server for tests: UDP and TCP on one port of 127.0.0.1 (or ::1).
//!
//! Each received query becomes a [`Request`]; a script (a closure, or a ready-made
//! [`Behaviour`]) turns it into [`Action`]s: send a message, send raw bytes, wait, close
//! the TCP connection, or hang. The server stops when the [`FakeDns`] is dropped.

#![allow(dead_code)] // Not every test binary uses every behaviour.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// The address every A answer of [`Behaviour::Correct`] carries.
pub const ANSWER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// How a query reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// A UDP datagram.
    Udp,
    /// A TCP connection.
    Tcp,
}

/// One query as the script sees it.
pub struct Request {
    /// The parsed query.
    pub message: Message,
    /// The query as it came (without the TCP length).
    pub bytes: Vec<u8>,
    /// UDP or TCP.
    pub via: Via,
    /// 1 for the first time this question arrives over this transport, 2 for the second…
    pub nth: usize,
}

/// What the server does with a query; actions run in order.
pub enum Action {
    /// Encode and send a message (with the 2-byte length over TCP).
    Send(Message),
    /// Send bytes as they are: one UDP datagram, or written raw to the TCP stream.
    Raw(Vec<u8>),
    /// UDP only: send a message from another socket (another source port).
    FromOtherPort(Message),
    /// Wait before the next action.
    Delay(Duration),
    /// TCP only: close the connection now.
    Close,
    /// TCP only: keep the connection open and never answer (slow loris).
    Hang,
}

/// A script: the actions for each query.
pub type Script = Arc<dyn Fn(&Request) -> Vec<Action> + Send + Sync>;

/// What the TCP side does after a UDP response with TC=1.
#[derive(Clone, Copy, Debug)]
pub enum TcpMode {
    /// Answers correctly.
    Answer,
    /// Answers, but with TC=1 again.
    Truncated,
    /// Closes the connection without a word.
    Close,
    /// Accepts and never replies.
    Hang,
    /// Sends a length prefix shorter than a DNS header.
    ShortLength,
    /// Sends an answer with another id, then the right one.
    WrongIdThenAnswer,
}

/// Ready-made behaviours.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Authoritative `A` [`ANSWER_IP`] for any A question, NODATA for other types.
    Correct,
    /// Authoritative answers from these records (matching name and type), NODATA otherwise.
    Records(Vec<Record>),
    /// A correct answer under another message id.
    WrongId,
    /// A correct-looking answer to another question.
    WrongQuestion,
    /// Bytes that are not a DNS response to anything (wrong id).
    Garbage,
    /// Garbage first, then the correct answer.
    GarbageThenAnswer,
    /// The right id and QR=1, then a body that does not parse.
    MalformedSameId,
    /// A valid answer of about 44 KB (1500 A records), far over the advertised EDNS size.
    Huge,
    /// UDP responses always have TC=1 and no records; TCP as the mode says.
    Truncated(TcpMode),
    /// A response with this code (AA set, question echoed).
    Rcode(ResponseCode),
    /// A correct answer without the AA bit.
    NotAuthoritative,
    /// A referral to `child.example.it` (NS in authority, no AA).
    Referral,
    /// Never answers.
    Silence,
    /// Answers only from the second time a question arrives.
    SecondAttempt,
    /// Sends the query back unchanged (QR=0).
    Echo,
    /// Answers correctly, but from another source port.
    FromOtherPort,
}

impl Behaviour {
    /// The actions for one request.
    pub fn actions(&self, request: &Request) -> Vec<Action> {
        use Action::{Close, Hang, Raw, Send};
        let query = &request.message;
        match self {
            Self::Correct => vec![Send(correct(query))],
            Self::Records(records) => vec![Send(from_records(query, records))],
            Self::WrongId => {
                let mut reply = correct(query);
                reply.metadata.id = reply.metadata.id.wrapping_add(1);
                vec![Send(reply)]
            }
            Self::WrongQuestion => {
                let mut other = query.clone();
                other.queries[0].name = Name::from_ascii("other.example.it.").unwrap();
                vec![Send(correct(&other))]
            }
            Self::Garbage => vec![Raw(garbage(query.metadata.id))],
            Self::GarbageThenAnswer => vec![Raw(garbage(query.metadata.id)), Send(correct(query))],
            Self::MalformedSameId => {
                // Header: our id, QR=1 AA=1, one question, one answer; then half a name.
                let [hi, lo] = query.metadata.id.to_be_bytes();
                vec![Raw(vec![
                    hi, lo, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0, 3, b'p', b'e',
                ])]
            }
            Self::Huge => {
                let mut reply = response(query);
                let name = query.queries[0].name.clone();
                for i in 0..1500u32 {
                    let ip = Ipv4Addr::from(0x0a00_0000 + i);
                    reply.add_answer(Record::from_rdata(name.clone(), 300, RData::A(A(ip))));
                }
                vec![Send(reply)]
            }
            Self::Truncated(mode) => match (request.via, mode) {
                (Via::Udp, _) => {
                    let mut reply = response(query);
                    reply.metadata.truncation = true;
                    vec![Send(reply)]
                }
                (Via::Tcp, TcpMode::Answer) => vec![Send(correct(query))],
                (Via::Tcp, TcpMode::Truncated) => {
                    let mut reply = correct(query);
                    reply.metadata.truncation = true;
                    vec![Send(reply)]
                }
                (Via::Tcp, TcpMode::Close) => vec![Close],
                (Via::Tcp, TcpMode::Hang) => vec![Hang],
                (Via::Tcp, TcpMode::ShortLength) => vec![Raw(vec![0, 4, 1, 2, 3, 4]), Hang],
                (Via::Tcp, TcpMode::WrongIdThenAnswer) => {
                    let mut wrong = correct(query);
                    wrong.metadata.id = wrong.metadata.id.wrapping_add(1);
                    vec![Send(wrong), Send(correct(query))]
                }
            },
            Self::Rcode(code) => {
                let mut reply = response(query);
                reply.metadata.response_code = *code;
                vec![Send(reply)]
            }
            Self::NotAuthoritative => {
                let mut reply = correct(query);
                reply.metadata.authoritative = false;
                vec![Send(reply)]
            }
            Self::Referral => {
                let mut reply = response(query);
                reply.metadata.authoritative = false;
                let child = Name::from_ascii("child.example.it.").unwrap();
                let host = Name::from_ascii("ns1.child.example.it.").unwrap();
                reply.add_authority(Record::from_rdata(child, 3600, RData::NS(NS(host.clone()))));
                reply.add_additional(Record::from_rdata(host, 3600, RData::A(A(ANSWER_IP))));
                vec![Send(reply)]
            }
            Self::Silence => Vec::new(),
            Self::SecondAttempt if request.nth < 2 => Vec::new(),
            Self::SecondAttempt => vec![Send(correct(query))],
            Self::Echo => vec![Raw(request.bytes.clone())],
            Self::FromOtherPort => vec![Action::FromOtherPort(correct(query))],
        }
    }
}

/// An empty authoritative response to `query`: same id, RD and question.
pub fn response(query: &Message) -> Message {
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.add_queries(query.queries.iter().cloned());
    reply
}

/// The authoritative answer of [`Behaviour::Correct`].
pub fn correct(query: &Message) -> Message {
    let mut reply = response(query);
    if let Some(question) = query.queries.first()
        && question.query_type == RecordType::A
    {
        let record = Record::from_rdata(question.name.clone(), 300, RData::A(A(ANSWER_IP)));
        reply.add_answer(record);
    }
    reply
}

/// An authoritative answer from `records`, or NODATA with an SOA when none match.
pub fn from_records(query: &Message, records: &[Record]) -> Message {
    let mut reply = response(query);
    let Some(question) = query.queries.first() else {
        return reply;
    };
    let matching = records
        .iter()
        .filter(|r| r.name == question.name && r.record_type() == question.query_type);
    reply.add_answers(matching.cloned());
    if reply.answers.is_empty() {
        let zone = Name::from_ascii("example.it.").unwrap();
        let mname = Name::from_ascii("ns1.example.it.").unwrap();
        let rname = Name::from_ascii("hostmaster.example.it.").unwrap();
        let soa = SOA::new(mname, rname, 2026010101, 3600, 600, 86400, 300);
        reply.add_authority(Record::from_rdata(zone, 300, RData::SOA(soa)));
    }
    reply
}

/// Bytes that are no DNS response: a header with another id and QR=0, then noise.
pub fn garbage(id: u16) -> Vec<u8> {
    let [hi, lo] = (!id).to_be_bytes();
    let mut bytes = vec![hi, lo, 0x01, 0x00];
    bytes.extend((0u8..60).map(|i| i.wrapping_mul(37) ^ 0xa5));
    bytes
}

/// A running fake server; stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How many times each question arrived, per transport.
type Seen = Arc<Mutex<HashMap<(Via, Name, RecordType), usize>>>;

impl FakeDns {
    /// Starts a server with a ready-made behaviour, UDP and TCP.
    pub async fn start(behaviour: Behaviour) -> Self {
        Self::with_script(script(behaviour)).await
    }

    /// Starts a server with UDP only: TCP connections to its port are refused.
    pub async fn udp_only(behaviour: Behaviour) -> Self {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), script(behaviour), false)
            .await
            .unwrap()
    }

    /// Starts a server on `[::1]`, UDP and TCP; `None` when the host has no IPv6.
    pub async fn start_v6(behaviour: Behaviour) -> Option<Self> {
        Self::start_on(Ipv6Addr::LOCALHOST.into(), script(behaviour), true).await
    }

    /// Starts a server with a script, UDP and TCP.
    pub async fn with_script(script: Script) -> Self {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), script, true)
            .await
            .unwrap()
    }

    /// Starts a server on `ip` (a loopback address); `tcp` says whether to listen on TCP
    /// too. `None` when `ip` cannot be bound.
    ///
    /// The server runs on its own thread and runtime, like a real server in another
    /// process: thousands of client tasks in the test's runtime cannot starve it.
    pub async fn start_on(ip: IpAddr, script: Script, tcp: bool) -> Option<Self> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let counters = (Arc::clone(&udp_queries), Arc::clone(&tcp_queries));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let Some((udp, listener)) = bind_pair(ip).await else {
                    let _ = ready_tx.send(None);
                    return;
                };
                let other = Arc::new(UdpSocket::bind((ip, 0)).await.unwrap());
                let _ = ready_tx.send(Some(udp.local_addr().unwrap()));
                let seen: Seen = Arc::default();
                let (udp_count, tcp_count) = counters;
                // Dropping the set when told to stop ends every task of the server.
                let mut tasks = JoinSet::new();
                let udp = Arc::new(udp);
                tasks.spawn(serve_udp(
                    udp,
                    other,
                    Arc::clone(&script),
                    Arc::clone(&seen),
                    udp_count,
                ));
                if tcp {
                    tasks.spawn(serve_tcp(listener, script, seen, tcp_count));
                } else {
                    drop(listener); // Connections to the port are now refused.
                }
                let _ = stop_rx.await;
            });
        });
        let addr = ready_rx.await.ok()??;
        Some(Self {
            addr,
            udp_queries,
            tcp_queries,
            stop: Some(stop_tx),
        })
    }

    /// The address to query (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries received over UDP so far.
    pub fn udp_queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    /// Queries received over TCP so far.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

fn script(behaviour: Behaviour) -> Script {
    Arc::new(move |request: &Request| behaviour.actions(request))
}

/// A UDP socket and a TCP listener on the same free port of `ip`.
async fn bind_pair(ip: IpAddr) -> Option<(UdpSocket, TcpListener)> {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).await.ok()?;
        let port = udp.local_addr().ok()?.port();
        if let Ok(tcp) = TcpListener::bind((ip, port)).await {
            return Some((udp, tcp));
        }
    }
    panic!("no port free for both UDP and TCP");
}

fn request(bytes: Vec<u8>, via: Via, seen: &Seen) -> Option<Request> {
    let message = Message::from_vec(&bytes).ok()?;
    let question = message.queries.first()?;
    let key = (via, question.name.to_lowercase(), question.query_type);
    let nth = {
        let mut seen = seen.lock().unwrap();
        let count = seen.entry(key).or_default();
        *count += 1;
        *count
    };
    Some(Request {
        message,
        bytes,
        via,
        nth,
    })
}

async fn serve_udp(
    socket: Arc<UdpSocket>,
    other: Arc<UdpSocket>,
    script: Script,
    seen: Seen,
    count: Arc<AtomicUsize>,
) {
    // A reader that only drains the socket, so that bursts of thousands of queries do
    // not overflow the kernel's receive buffer while scripts run.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = Arc::clone(&socket);
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let mut buf = vec![0u8; 65_535];
        loop {
            if let Ok((len, peer)) = reader.recv_from(&mut buf).await
                && tx.send((buf[..len].to_vec(), peer)).is_err()
            {
                return;
            }
        }
    });
    // Scripts with delays run in their own tasks; dropping the set aborts them.
    while let Some((bytes, peer)) = rx.recv().await {
        while tasks.try_join_next().is_some() {}
        let Some(request) = request(bytes, Via::Udp, &seen) else {
            continue;
        };
        count.fetch_add(1, Ordering::SeqCst);
        let actions = script(&request);
        let delays = actions.iter().any(|a| matches!(a, Action::Delay(_)));
        let run = send_udp(actions, Arc::clone(&socket), Arc::clone(&other), peer);
        if delays {
            tasks.spawn(run);
        } else {
            run.await;
        }
    }
}

async fn send_udp(
    actions: Vec<Action>,
    socket: Arc<UdpSocket>,
    other: Arc<UdpSocket>,
    peer: SocketAddr,
) {
    for action in actions {
        let _ = match action {
            Action::Send(message) => socket.send_to(&message.to_vec().unwrap(), peer).await,
            Action::Raw(bytes) => socket.send_to(&bytes, peer).await,
            Action::FromOtherPort(message) => other.send_to(&message.to_vec().unwrap(), peer).await,
            Action::Delay(pause) => {
                tokio::time::sleep(pause).await;
                Ok(0)
            }
            Action::Close | Action::Hang => return,
        };
    }
}

async fn serve_tcp(listener: TcpListener, script: Script, seen: Seen, count: Arc<AtomicUsize>) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        if let Ok((stream, _)) = listener.accept().await {
            let (script, seen, count) =
                (Arc::clone(&script), Arc::clone(&seen), Arc::clone(&count));
            connections.spawn(serve_connection(stream, script, seen, count));
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    script: Script,
    seen: Seen,
    count: Arc<AtomicUsize>,
) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut bytes = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut bytes).await.is_err() {
            return;
        }
        let Some(request) = request(bytes, Via::Tcp, &seen) else {
            return;
        };
        count.fetch_add(1, Ordering::SeqCst);
        for action in script(&request) {
            let written = match action {
                Action::Send(message) => {
                    let body = message.to_vec().unwrap();
                    let mut framed = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
                    framed.extend(body);
                    stream.write_all(&framed).await
                }
                Action::Raw(bytes) => stream.write_all(&bytes).await,
                Action::Delay(pause) => {
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                Action::Close => return,
                Action::Hang => std::future::pending().await,
                Action::FromOtherPort(_) => Ok(()),
            };
            if written.is_err() {
                return;
            }
        }
    }
}
