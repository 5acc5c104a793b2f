//! Servers that cannot be held open or filled (`src/adapters/net.rs`, `[web]` and `[postfix]`
//! limits), on the real binary over loopback: an endless policy line costs the service no
//! memory and closes its connection, an oversized netstring or policy request closes its
//! connection, thousands of silent sockets neither stop the web interface nor the policy
//! service from answering and are closed by the servers after their timeouts, and one
//! address cannot take more than its share of connections.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use pecwatch::registry::Backend;
use socket2::{Domain, Socket, Type};

use crate::support::db::create;
use crate::support::postfix::{PecwatchPostfix, free_port};
use crate::support::web;

const NOW: &str = "2026-11-23T10:00:00+01:00";

/// The test process's own limit of open files raised to its hard limit: it holds
/// thousands of sockets.
fn raise_own_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE")
}

/// A kilobyte figure from `/proc/PID/status` (`VmHWM`: the peak resident set).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Sends one policy request on a new connection and reads the reply.
fn ask(port: u16, recipient: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to policy");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@altro.it\nrecipient={recipient}\n\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    reader.read_line(&mut reply).expect("policy reply");
    reply
}

/// Writes `total` bytes of `fill` (no newline) in 1 MiB pieces until the peer closes:
/// how many bytes were written before the write failed, or `None` if all of them were.
fn flood(stream: &mut TcpStream, total: usize, fill: u8) -> Option<usize> {
    let chunk = vec![fill; 1 << 20];
    let mut sent = 0;
    while sent < total {
        match stream.write(&chunk[..chunk.len().min(total - sent)]) {
            Ok(0) | Err(_) => return Some(sent),
            Ok(n) => sent += n,
        }
    }
    None
}

/// Whether the server closed `stream` (end of input, or a reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
        ),
    }
}

/// A connection to `target` from the loopback address `source` that sends nothing.
fn silent(source: Ipv4Addr, target: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(IpAddr::V4(source), 0).into())
        .expect("bind a loopback source address");
    socket.connect(&target.into()).expect("connect");
    socket.into()
}

/// The Prometheus counter `name` in `text`.
fn counter(text: &str, name: &str) -> f64 {
    web::parse_exposition(text)
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test]
async fn an_endless_policy_line_costs_no_memory_and_is_closed() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let metrics = free_port();
    let service = PecwatchPostfix::start(
        &db.url,
        &[(
            "PECWATCH_POSTFIX_METRICS_LISTEN",
            &format!("127.0.0.1:{metrics}"),
        )],
    );
    let pid = service.pid();
    let before = status_kib(pid, "VmHWM");

    // 400 MiB without a newline, over 3 connections at once (as the finding did).
    let total = 400 << 20;
    let started = Instant::now();
    let floods: Vec<_> = (0..3)
        .map(|_| {
            let port = service.policy;
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let sent = flood(&mut stream, total / 3, b'a');
                (sent, closed_within(&mut stream, Duration::from_secs(10)))
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for flood in floods {
        let (sent, closed) = flood.join().unwrap();
        let sent = sent.expect("the service read the whole endless line");
        assert!(sent < total / 3, "{sent}");
        assert!(closed, "the connection was not closed");
        accepted.push(sent);
    }
    let elapsed = started.elapsed();
    let peak = status_kib(pid, "VmHWM");
    let now = status_kib(pid, "VmRSS");
    eprintln!(
        "400 MiB line: closed after {elapsed:?}, bytes written before the close {accepted:?}; \
         VmHWM {before} kB before, {peak} kB after; VmRSS {now} kB"
    );
    assert!(peak < 100 * 1024, "VmHWM {peak} kB");

    // The service goes on, and told what it did.
    assert_eq!(ask(service.policy, "b@altro.it"), "action=DUNNO\n");
    assert!(
        service.log().contains("request too large"),
        "{}",
        service.log()
    );
    let text = web::client()
        .get(format!("http://127.0.0.1:{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counter(&text, "pecwatch_postfix_too_large_total"), 3.0);
    drop(service);
    cleanup.run().await;
}

#[tokio::test]
async fn oversized_netstrings_and_policy_requests_close_their_connection() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let service = PecwatchPostfix::start(
        &db.url,
        &[
            ("PECWATCH_POSTFIX_MAX_NETSTRING_BYTES", "1024"),
            ("PECWATCH_POSTFIX_MAX_LINE_BYTES", "1024"),
            ("PECWATCH_POSTFIX_MAX_REQUEST_BYTES", "4096"),
        ],
    );

    // A netstring announcing more than the cap: closed as soon as its length is read,
    // without an answer.
    let mut map = TcpStream::connect(("127.0.0.1", service.socketmap)).unwrap();
    map.write_all(b"2000:virtual_mailbox_domains ").unwrap();
    let sent = flood(&mut map, 64 << 20, b'x');
    assert!(sent.is_some(), "64 MiB of netstring read");
    assert!(closed_within(&mut map, Duration::from_secs(10)));
    // One within the cap but sent without its length: closed too.
    let mut map = TcpStream::connect(("127.0.0.1", service.socketmap)).unwrap();
    assert!(flood(&mut map, 64 << 20, b'7').is_some());
    assert!(closed_within(&mut map, Duration::from_secs(10)));
    // The socketmap still answers.
    let mut map = TcpStream::connect(("127.0.0.1", service.socketmap)).unwrap();
    let request = "virtual_mailbox_domains pec.x.it";
    write!(map, "{}:{request},", request.len()).unwrap();
    let mut reply = [0u8; 12];
    map.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"9:NOTFOUND ,");

    // A policy request of short lines, larger in all than the cap.
    let mut policy = TcpStream::connect(("127.0.0.1", service.policy)).unwrap();
    let lines: String = (0..100)
        .map(|i| format!("x{i}={}\n", "y".repeat(60)))
        .collect();
    policy.write_all(lines.as_bytes()).unwrap();
    let _ = policy.write_all(b"\n");
    assert!(closed_within(&mut policy, Duration::from_secs(10)));
    let mut rest = Vec::new();
    let _ = policy.read_to_end(&mut rest);
    assert!(rest.is_empty(), "an answer to an oversized request");
    assert_eq!(ask(service.policy, "b@altro.it"), "action=DUNNO\n");
    let log = service.log();
    assert_eq!(log.matches("request too large").count(), 2, "{log}");
    assert!(log.contains("malformed netstring: no length"), "{log}");
    drop(service);
    cleanup.run().await;
}

#[tokio::test]
async fn thousands_of_silent_sockets_hold_nothing_open() {
    raise_own_fd_limit();
    let (db, cleanup) = create(Backend::Sqlite).await;
    let limits = [
        ("PECWATCH_WEB_HEADER_READ_TIMEOUT", "3s"),
        ("PECWATCH_WEB_REQUEST_TIMEOUT", "3s"),
        ("PECWATCH_WEB_IDLE_TIMEOUT", "4s"),
        ("PECWATCH_POSTFIX_IDLE_TIMEOUT", "3s"),
    ];
    let server = web::start(&db.url, NOW, &limits).await;
    let postfix = PecwatchPostfix::start(&db.url, &limits);
    let web_address: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let policy_address = SocketAddr::from(([127, 0, 0, 1], postfix.policy));

    // 2,000 silent sockets on each server, 40 from each of 50 loopback addresses (within
    // the per-address caps).
    let opened = Instant::now();
    let mut sockets = Vec::new();
    for i in 0..2000u32 {
        let source = Ipv4Addr::new(127, 0, 77, 1 + (i % 50) as u8);
        sockets.push(silent(source, web_address));
        sockets.push(silent(source, policy_address));
    }
    let open_time = opened.elapsed();

    // Everything still answers, at once.
    let client = web::client();
    let timed = |started: Instant| started.elapsed();
    let started = Instant::now();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    let healthz = timed(started);
    assert_eq!(health.status(), 200);
    let started = Instant::now();
    let console = client
        .get(server.url("/console/login"))
        .send()
        .await
        .unwrap();
    let console_time = timed(started);
    assert_eq!(console.status(), 200);
    let started = Instant::now();
    assert_eq!(ask(postfix.policy, "b@altro.it"), "action=DUNNO\n");
    let policy_time = timed(started);
    let asked = opened.elapsed();
    eprintln!(
        "4,000 silent sockets opened in {open_time:?}; then /healthz {healthz:?}, \
         /console/login {console_time:?}, policy lookup {policy_time:?}"
    );
    for (what, time) in [
        ("/healthz", healthz),
        ("/console/login", console_time),
        ("a policy lookup", policy_time),
    ] {
        assert!(time < Duration::from_secs(1), "{what} took {time:?}");
    }
    assert!(
        asked < Duration::from_secs(3),
        "the answers came after the silent sockets' timeout ({asked:?}): nothing was tested"
    );

    // The servers close every silent socket after their timeouts.
    let mut last_closed = Duration::ZERO;
    for socket in &mut sockets {
        assert!(
            closed_within(socket, Duration::from_secs(30)),
            "a silent socket was left open"
        );
        last_closed = last_closed.max(opened.elapsed());
    }
    eprintln!("every silent socket closed by the servers {last_closed:?} after the first opened");
    assert!(last_closed >= Duration::from_secs(2), "{last_closed:?}");
    drop(sockets);
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(postfix);
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn one_address_gets_only_its_share_of_connections() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let server = web::start(
        &db.url,
        NOW,
        &[("PECWATCH_WEB_MAX_CONNECTIONS_PER_CLIENT", "5")],
    )
    .await;
    let address: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let source = Ipv4Addr::new(127, 0, 78, 1);
    let mut held: Vec<_> = (0..5).map(|_| silent(source, address)).collect();
    // Give the server time to count them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sixth = silent(source, address);
    assert!(
        closed_within(&mut sixth, Duration::from_secs(5)),
        "a sixth connection from one address was kept"
    );
    // The five are kept (until their timeout), and other addresses are served.
    assert!(!closed_within(&mut held[0], Duration::from_millis(200)));
    let health = web::client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Counted in the process's metrics.
    let text = web::client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        counter(&text, "pecwatch_web_refused_connections_total"),
        1.0
    );
    assert_eq!(counter(&text, "pecwatch_web_accept_errors_total"), 0.0);
    drop(held);
    drop(server);
    cleanup.run().await;
}

#[tokio::test]
async fn running_out_of_file_descriptors_only_pauses_the_service() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let (policy, socketmap) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pecwatch.log");
    let file = std::fs::File::create(&log).unwrap();
    // At most 64 open files, hard limit included: a few dozen connections use them up.
    let mut child = std::process::Command::new("prlimit")
        .args([
            "--nofile=64:64",
            "--",
            env!("CARGO_BIN_EXE_pecwatch"),
            "postfix",
        ])
        .args(["--policy", &format!("127.0.0.1:{policy}")])
        .args(["--socketmap", &format!("127.0.0.1:{socketmap}")])
        .current_dir(dir.path())
        .env_remove("PECWATCH_CONFIG")
        .env("PECWATCH_DATABASE_URL", &db.url)
        .env("PECWATCH_LOG", "warn")
        .env("PECWATCH_POSTFIX_IDLE_TIMEOUT", "2s")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("run pecwatch postfix under prlimit");
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("pecwatch postfix: policy")
    {
        assert!(started.elapsed() < Duration::from_secs(30), "did not start");
        assert!(matches!(child.try_wait(), Ok(None)), "ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let silent: Vec<_> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", policy)).unwrap())
        .collect();
    // Answered once the silent connections are closed at their idle timeout.
    let asked = Instant::now();
    assert_eq!(ask(policy, "b@altro.it"), "action=DUNNO\n");
    eprintln!(
        "out of file descriptors: a lookup answered after {:?}",
        asked.elapsed()
    );
    assert!(matches!(child.try_wait(), Ok(None)), "the service ended");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("cannot accept a connection"), "{text}");
    // No metrics here (no file descriptor to spare for them): the log tells it.
    assert!(!text.contains("panicked"), "{text}");
    drop(silent);
    assert_eq!(ask(policy, "c@altro.it"), "action=DUNNO\n");
    let _ = child.kill();
    let _ = child.wait();
    cleanup.run().await;
}

#[tokio::test]
async fn stalled_requests_are_cut_at_their_timeout() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let env = [
        ("PECWATCH_WEB_REQUEST_TIMEOUT", "2s"),
        ("PECWATCH_WEB_IDLE_TIMEOUT", "4s"),
        ("PECWATCH_POSTFIX_REQUEST_TIMEOUT", "2s"),
        ("PECWATCH_POSTFIX_IDLE_TIMEOUT", "30s"),
    ];
    let server = web::start(&db.url, NOW, &env).await;
    let postfix = PecwatchPostfix::start(&db.url, &env);

    // An upload that stops halfway: 408 at the request timeout, then the connection is
    // closed.
    let address = server.base.trim_start_matches("http://");
    let mut upload = TcpStream::connect(address).unwrap();
    let started = Instant::now();
    write!(
        upload,
        "POST /api/v1/check HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"names\": ["
    )
    .unwrap();
    upload
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = upload.read_to_string(&mut answer);
    let cut = started.elapsed();
    eprintln!("a stalled upload: answered and closed after {cut:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(cut >= Duration::from_secs(2), "{cut:?}");

    // A policy request that stops halfway through a line: closed at the request
    // timeout, long before the idle timeout.
    let mut policy = TcpStream::connect(("127.0.0.1", postfix.policy)).unwrap();
    let started = Instant::now();
    policy
        .write_all(b"request=smtpd_access_policy\nsender=a@")
        .unwrap();
    assert!(closed_within(&mut policy, Duration::from_secs(20)));
    let cut = started.elapsed();
    eprintln!("a stalled policy request: closed after {cut:?}");
    assert!(cut >= Duration::from_secs(2), "{cut:?}");
    assert!(cut < Duration::from_secs(20), "{cut:?}");
    drop(postfix);
    drop(server);
    cleanup.run().await;
}
