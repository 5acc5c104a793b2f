//! Benchmark of the Postfix policy service: `cargo bench --bench policy`.
//!
//! Starts the policy service in-process on loopback with a snapshot of 100,000 domains
//! (a tenth of them removed), then CLIENTS (default 16) connections send requests back
//! to back for SECONDS (default 5), as Postfix's smtpd processes do, and prints requests
//! per second and the latency percentiles. Environment: PECWATCH_BENCH_CLIENTS,
//! PECWATCH_BENCH_SECONDS. Target (issue 6): at least 20,000 requests/s, p99 under 1 ms.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pecwatch::lifecycle::State;
use pecwatch::postfix::{ServiceLimits, Snapshot, serve_policy};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs benchmarks too, without `--bench`: nothing to time.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("policy benchmark: run it with `cargo bench --bench policy`");
        return;
    }
    let clients = env("PECWATCH_BENCH_CLIENTS", 16) as usize;
    let seconds = env("PECWATCH_BENCH_SECONDS", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let snapshot = Snapshot::new((0..100_000).map(|i| {
            let state = if i % 10 == 0 { State::Removed } else { State::Certified };
            (format!("pec.d{i}.it"), state)
        }));
        let shared = Arc::new(RwLock::new(Arc::new(snapshot)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(serve_policy(listener, shared, ServiceLimits::default()));

        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                tokio::spawn(async move {
                    let stream = TcpStream::connect(address).await.expect("connect");
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    let mut latencies = Vec::new();
                    let mut line = String::new();
                    let mut n = client;
                    while Instant::now() < deadline {
                        n += clients;
                        let request = format!(
                            "request=smtpd_access_policy\nprotocol_state=RCPT\n\
                             client_address=192.0.2.1\nsender=mittente@esterno.it\n\
                             recipient=utente@pec.d{}.it\n\n",
                            n % 100_000
                        );
                        let sent = Instant::now();
                        write.write_all(request.as_bytes()).await.expect("write");
                        loop {
                            line.clear();
                            reader.read_line(&mut line).await.expect("read");
                            if line == "\n" || line.is_empty() {
                                break;
                            }
                        }
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let started = Instant::now();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("client"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let percentile = |p: f64| {
            let index = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
            latencies[index].as_secs_f64() * 1000.0
        };
        println!(
            "policy service: {} requests from {clients} connections in {elapsed:.2} s = {:.0} requests/s; \
             latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            percentile(0.50),
            percentile(0.99),
            percentile(1.0),
        );
    });
}
