//! The transport against hostile and broken servers (the in-process fake of
//! `support::fake_dns`): every behaviour gives the right outcome, nothing panics, and
//! every query ends within `attempts × timeout + tcp_timeout`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, MX};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use pecwatch::dns::outcome::Data;
use pecwatch::dns::{Outcome, Reply, Transport, TransportConfig};

use crate::support::fake_dns::{
    ANSWER_IP, Action, Behaviour, FakeDns, Request, TcpMode, correct, response,
};

const TIMEOUT: Duration = Duration::from_millis(150);
const ATTEMPTS: u32 = 3;
const TCP_TIMEOUT: Duration = Duration::from_millis(400);
/// The hang guard: far above the bound, so that only a real hang trips it.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn config() -> TransportConfig {
    TransportConfig {
        timeout: TIMEOUT,
        attempts: ATTEMPTS,
        tcp_timeout: TCP_TIMEOUT,
        ..TransportConfig::default()
    }
}

/// The documented bound on one query, with slack for a loaded test machine.
fn bound() -> Duration {
    TIMEOUT * ATTEMPTS + TCP_TIMEOUT + Duration::from_secs(1)
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// One query through a fresh transport, under the hang guard; also checks the bound.
async fn ask_with(
    transport: &Transport,
    server: SocketAddr,
    qtype: RecordType,
    recursion: bool,
) -> (Reply, Duration) {
    let start = Instant::now();
    let qname = name("pec.example.it.");
    let query = transport.query(server, &qname, qtype, recursion);
    let reply = tokio::time::timeout(HANG_GUARD, query)
        .await
        .expect("the query hung");
    let elapsed = start.elapsed();
    assert!(
        elapsed < bound(),
        "took {elapsed:?}, over the bound {:?}",
        bound()
    );
    (reply, elapsed)
}

async fn ask(server: &FakeDns) -> (Reply, Transport, Duration) {
    let transport = Transport::new(config()).unwrap();
    let (reply, elapsed) = ask_with(&transport, server.addr(), RecordType::A, false).await;
    (reply, transport, elapsed)
}

async fn outcome_of(behaviour: Behaviour) -> Reply {
    let server = FakeDns::start(behaviour).await;
    ask(&server).await.0
}

fn addresses(reply: &Reply) -> Vec<Ipv4Addr> {
    reply
        .answers
        .iter()
        .filter_map(|rr| match rr.data {
            Data::A { address } => Some(address),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn correct_answer() {
    let server = FakeDns::start(Behaviour::Correct).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer, "{reply:?}");
    assert_eq!(addresses(&reply), [ANSWER_IP]);
    assert_eq!(reply.rcode, Some(0));
    assert!(!reply.via_tcp && reply.detail.is_none());
    let stats = transport.stats();
    assert_eq!((stats.queries, stats.udp_sent, stats.responses), (1, 1, 1));
    assert_eq!(
        (stats.timeouts, stats.ignored_packets, stats.malformed),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn given_records_answer_and_nodata() {
    let owner = name("pec.example.it.");
    let mx = MX::new(10, name("mx.pec.aruba.it."));
    let records = vec![Record::from_rdata(owner.clone(), 300, RData::MX(mx))];
    let server = FakeDns::start(Behaviour::Records(records)).await;
    let transport = Transport::new(config()).unwrap();
    let (reply, _) = ask_with(&transport, server.addr(), RecordType::MX, false).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert_eq!(reply.mx_set(&owner), [(10, name("mx.pec.aruba.it."))]);
    let (reply, _) = ask_with(&transport, server.addr(), RecordType::A, false).await;
    assert_eq!(reply.outcome, Outcome::NoData);
}

#[tokio::test]
async fn wrong_id_only_times_out() {
    let server = FakeDns::start(Behaviour::WrongId).await;
    let (reply, transport, elapsed) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert!(elapsed >= TIMEOUT * ATTEMPTS, "{elapsed:?}");
    let stats = transport.stats();
    assert_eq!(stats.udp_sent, u64::from(ATTEMPTS));
    assert_eq!(stats.timeouts, u64::from(ATTEMPTS));
    assert_eq!(stats.ignored_packets, u64::from(ATTEMPTS));
}

#[tokio::test]
async fn wrong_question_times_out() {
    let server = FakeDns::start(Behaviour::WrongQuestion).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert_eq!(transport.stats().ignored_packets, u64::from(ATTEMPTS));
}

#[tokio::test]
async fn garbage_only_times_out() {
    let server = FakeDns::start(Behaviour::Garbage).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert_eq!(transport.stats().ignored_packets, u64::from(ATTEMPTS));
}

#[tokio::test]
async fn answer_after_garbage_is_an_answer() {
    let server = FakeDns::start(Behaviour::GarbageThenAnswer).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    let stats = transport.stats();
    assert_eq!((stats.udp_sent, stats.ignored_packets), (1, 1));
}

#[tokio::test]
async fn echoed_query_is_ignored() {
    let server = FakeDns::start(Behaviour::Echo).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert_eq!(transport.stats().ignored_packets, u64::from(ATTEMPTS));
}

#[tokio::test]
async fn answer_from_another_port_is_ignored() {
    let server = FakeDns::start(Behaviour::FromOtherPort).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert_eq!(transport.stats().ignored_packets, u64::from(ATTEMPTS));
}

#[tokio::test]
async fn malformed_on_every_attempt_is_malformed() {
    let server = FakeDns::start(Behaviour::MalformedSameId).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Malformed, "{reply:?}");
    assert!(reply.detail.unwrap().contains("unparsable"));
    let stats = transport.stats();
    assert_eq!((stats.udp_sent, stats.malformed, stats.timeouts), (3, 3, 0));
    assert_eq!(server.udp_queries(), 3);
}

#[tokio::test]
async fn malformed_then_silence_is_a_timeout() {
    // One broken response, then nothing: not every attempt was malformed.
    let script = Arc::new(|request: &Request| match request.nth {
        1 => {
            let [hi, lo] = request.message.metadata.id.to_be_bytes();
            vec![Action::Raw(vec![
                hi, lo, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0, 9,
            ])]
        }
        _ => Vec::new(),
    });
    let server = FakeDns::with_script(script).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert!(reply.detail.unwrap().contains("unparsable"));
    assert_eq!(transport.stats().malformed, 1);
}

#[tokio::test]
async fn huge_datagram_is_read_whole() {
    let server = FakeDns::start(Behaviour::Huge).await;
    let (reply, _, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert_eq!(reply.answers.len(), 1500);
}

#[tokio::test]
async fn truncated_then_tcp_answer() {
    let server = FakeDns::start(Behaviour::Truncated(TcpMode::Answer)).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer, "{reply:?}");
    assert!(reply.via_tcp);
    assert_eq!(addresses(&reply), [ANSWER_IP]);
    assert!(reply.detail.is_none());
    assert_eq!(server.tcp_queries(), 1);
    let stats = transport.stats();
    assert_eq!((stats.tcp_fallbacks, stats.responses), (1, 2));
}

#[tokio::test]
async fn truncated_over_tcp_too_is_accepted_with_a_note() {
    let reply = outcome_of(Behaviour::Truncated(TcpMode::Truncated)).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert!(reply.via_tcp);
    assert!(reply.detail.unwrap().contains("TCP"));
}

#[tokio::test]
async fn truncated_and_tcp_closed_is_a_network_error() {
    let reply = outcome_of(Behaviour::Truncated(TcpMode::Close)).await;
    assert_eq!(reply.outcome, Outcome::NetworkError, "{reply:?}");
    assert!(reply.via_tcp);
}

#[tokio::test]
async fn truncated_and_tcp_refused_is_a_network_error() {
    let server = FakeDns::udp_only(Behaviour::Truncated(TcpMode::Answer)).await;
    let (reply, _, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::NetworkError, "{reply:?}");
    assert!(reply.detail.unwrap().contains("connect"));
}

#[tokio::test]
async fn truncated_and_tcp_slow_loris_times_out() {
    let server = FakeDns::start(Behaviour::Truncated(TcpMode::Hang)).await;
    let (reply, transport, elapsed) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert!(reply.via_tcp);
    assert!(elapsed >= TCP_TIMEOUT, "{elapsed:?}");
    assert_eq!(transport.stats().timeouts, 1);
}

#[tokio::test]
async fn tcp_length_shorter_than_a_header_is_malformed() {
    let reply = outcome_of(Behaviour::Truncated(TcpMode::ShortLength)).await;
    assert_eq!(reply.outcome, Outcome::Malformed, "{reply:?}");
    assert!(reply.via_tcp);
}

#[tokio::test]
async fn tcp_wrong_id_is_skipped() {
    let server = FakeDns::start(Behaviour::Truncated(TcpMode::WrongIdThenAnswer)).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert!(reply.via_tcp);
    assert_eq!(transport.stats().ignored_packets, 1);
}

#[tokio::test]
async fn response_codes() {
    let cases = [
        (ResponseCode::ServFail, Outcome::ServFail),
        (ResponseCode::Refused, Outcome::Refused),
        (ResponseCode::NXDomain, Outcome::NxDomain),
        (ResponseCode::NotImp, Outcome::OtherRcode),
        (ResponseCode::FormErr, Outcome::OtherRcode),
    ];
    for (code, expected) in cases {
        let reply = outcome_of(Behaviour::Rcode(code)).await;
        assert_eq!(reply.outcome, expected, "{code:?}");
        assert_eq!(reply.rcode, Some(u16::from(code)));
    }
}

#[tokio::test]
async fn answer_without_aa() {
    let server = FakeDns::start(Behaviour::NotAuthoritative).await;
    let transport = Transport::new(config()).unwrap();
    let (direct, _) = ask_with(&transport, server.addr(), RecordType::A, false).await;
    assert_eq!(direct.outcome, Outcome::NotAuthoritative);
    // From a recursive resolver, an answer without AA is normal.
    let (recursive, _) = ask_with(&transport, server.addr(), RecordType::A, true).await;
    assert_eq!(recursive.outcome, Outcome::Answer);
}

#[tokio::test]
async fn referral() {
    let reply = outcome_of(Behaviour::Referral).await;
    assert_eq!(reply.outcome, Outcome::Referral);
    assert_eq!(reply.authority.len(), 1);
    assert_eq!(reply.additional.len(), 1);
}

#[tokio::test]
async fn silence_times_out_within_bounds() {
    let server = FakeDns::start(Behaviour::Silence).await;
    let (reply, transport, elapsed) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Timeout);
    assert!(reply.outcome.is_transient());
    assert!(elapsed >= TIMEOUT * ATTEMPTS, "{elapsed:?}");
    assert!(elapsed < TIMEOUT * (ATTEMPTS + 2), "{elapsed:?}");
    assert_eq!(server.udp_queries(), 3);
    assert_eq!(transport.stats().timeouts, 3);
}

#[tokio::test]
async fn answer_on_the_second_attempt() {
    let server = FakeDns::start(Behaviour::SecondAttempt).await;
    let (reply, transport, elapsed) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert!(elapsed >= TIMEOUT, "{elapsed:?}");
    assert_eq!(server.udp_queries(), 2);
    assert_eq!(transport.stats().udp_sent, 2);
}

#[tokio::test]
async fn late_answer_to_the_first_attempt_counts() {
    // The first attempt's answer arrives during the second attempt; later ones never come.
    let script = Arc::new(|request: &Request| match request.nth {
        1 => vec![
            Action::Delay(TIMEOUT * 3 / 2),
            Action::Send(correct(&request.message)),
        ],
        _ => Vec::new(),
    });
    let server = FakeDns::with_script(script).await;
    let (reply, transport, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer);
    assert_eq!(transport.stats().udp_sent, 2);
}

#[tokio::test]
async fn rd_bit_and_edns_as_asked() {
    // (RD bit, EDNS payload size) of each query.
    type Seen = Arc<Mutex<Vec<(bool, Option<u16>)>>>;
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let script = Arc::new(move |request: &Request| {
        let message = &request.message;
        let payload = message.edns.as_ref().map(|edns| edns.max_payload());
        record
            .lock()
            .unwrap()
            .push((message.metadata.recursion_desired, payload));
        vec![Action::Send(correct(message))]
    });
    let server = FakeDns::with_script(script).await;
    let transport = Transport::new(config()).unwrap();
    ask_with(&transport, server.addr(), RecordType::A, false).await;
    ask_with(&transport, server.addr(), RecordType::A, true).await;
    assert_eq!(
        *seen.lock().unwrap(),
        [(false, Some(1232)), (true, Some(1232))]
    );
}

#[tokio::test]
async fn ipv6_server() {
    let Some(server) = FakeDns::start_v6(Behaviour::Truncated(TcpMode::Answer)).await else {
        eprintln!("no IPv6 loopback: skipped");
        return;
    };
    let (reply, _, _) = ask(&server).await;
    assert_eq!(reply.outcome, Outcome::Answer, "{reply:?}");
    assert!(reply.via_tcp);
}

#[test]
fn new_outside_a_runtime_is_an_error() {
    assert!(Transport::new(TransportConfig::default()).is_err());
}

#[tokio::test]
async fn cancelled_queries_leave_the_transport_usable() {
    let silent = FakeDns::start(Behaviour::Silence).await;
    let server = FakeDns::start(Behaviour::Correct).await;
    let transport = Transport::new(config()).unwrap();
    let qname = name("a.example.it.");
    for _ in 0..100 {
        let query = transport.query(silent.addr(), &qname, RecordType::A, false);
        assert!(
            tokio::time::timeout(Duration::from_millis(1), query)
                .await
                .is_err()
        );
    }
    let (reply, _) = ask_with(&transport, server.addr(), RecordType::A, false).await;
    assert_eq!(reply.outcome, Outcome::Answer);
}

/// The address the load script gives name number `i`.
fn load_address(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}

/// Answers `n<i>.load.example.it` with [`load_address`]`(i)`, after hostile noise when
/// `noisy`: an answer with the wrong id, garbage, the right answer from another port.
fn load_script(noisy: bool) -> impl Fn(&Request) -> Vec<Action> + Send + Sync {
    move |request: &Request| {
        let query = &request.message;
        let qname = query.queries[0].name.clone();
        let label = String::from_utf8_lossy(qname.iter().next().unwrap()).into_owned();
        let i: u32 = label.trim_start_matches('n').parse().unwrap();
        let mut reply = response(query);
        reply.add_answer(Record::from_rdata(qname, 60, RData::A(A(load_address(i)))));
        let mut actions = Vec::new();
        if noisy {
            let mut wrong = reply.clone();
            wrong.metadata.id = wrong.metadata.id.wrapping_add(1);
            actions.push(Action::Send(wrong));
            actions.push(Action::Raw(vec![0xde, 0xad, 0xbe]));
            actions.push(Action::FromOtherPort(reply.clone()));
        }
        actions.push(Action::Send(reply));
        actions
    }
}

/// `count` concurrent queries for distinct names; each must get its own answer.
async fn many_queries(count: u32, noisy: bool) {
    let server = FakeDns::with_script(Arc::new(load_script(noisy))).await;
    // What is tested is that every query gets its own answer under load, not how fast: a
    // generous timeout and attempts, so that a busy test machine (datagrams dropped while
    // the server's thread waits for a core) does not turn a slow answer into a timeout.
    let transport = Transport::new(TransportConfig {
        timeout: Duration::from_secs(3),
        attempts: 6,
        ..TransportConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let transport = transport.clone();
            let addr = server.addr();
            tokio::spawn(async move {
                let qname = name(&format!("n{i}.load.example.it."));
                let reply = transport.query(addr, &qname, RecordType::A, false).await;
                (i, reply)
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .expect("the load hung");
    for joined in all {
        let (i, reply) = joined.unwrap();
        assert_eq!(reply.outcome, Outcome::Answer, "query {i}: {reply:?}");
        assert_eq!(addresses(&reply), [load_address(i)], "query {i}");
    }
    let stats = transport.stats();
    assert_eq!(stats.queries, u64::from(count));
    assert_eq!(stats.responses, u64::from(count));
    eprintln!(
        "{count} queries (noisy: {noisy}) in {:?}, server saw {}: {stats:?}",
        start.elapsed(),
        server.udp_queries()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_concurrent_queries() {
    many_queries(5000, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_through_hostile_noise() {
    many_queries(2000, true).await;
}
