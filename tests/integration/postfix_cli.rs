//! `pecwatch postfix`: the policy service and the socketmap table over real TCP, on both
//! backends; a removal is enforced within seconds; malformed requests do not stop it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::db::{TestDb, on_both};

const NOW: &str = "2026-11-23T10:00:00+01:00";

fn pecwatch(db: &TestDb, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecwatch"));
    command
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("PECWATCH_CONFIG")
        .env("PECWATCH_DATABASE_URL", &db.url)
        .env("PECWATCH_NOW", NOW);
    command
}

fn ok(db: &TestDb, args: &[&str]) {
    let output = pecwatch(db, args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running service, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends one policy request and reads the reply (up to the empty line).
fn ask(port: u16, sender: &str, recipient: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "request=smtpd_access_policy\nprotocol_state=RCPT\nsender={sender}\nrecipient={recipient}\n\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\n" {
            return reply;
        }
        reply.push_str(&line);
    }
}

#[tokio::test]
async fn the_policy_service_refuses_uncertified_domains_within_seconds() {
    on_both(|db| async move {
        for domain in ["pec.ok.it", "pec.via.it", "pec.poi.it"] {
            ok(
                &db,
                &["domains", "add", domain, "--holder-email", "h@esempio.it"],
            );
        }
        ok(
            &db,
            &["domains", "remove", "pec.via.it", "--reason", "test"],
        );
        let (policy, socketmap) = (free_port(), free_port());
        // The policy address from the flag, the socketmap's from the configuration.
        let child = pecwatch(
            &db,
            &["postfix", "--policy", &format!("127.0.0.1:{policy}")],
        )
        .env(
            "PECWATCH_POSTFIX_SOCKETMAP_LISTEN",
            format!("127.0.0.1:{socketmap}"),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut service = Service(child);
        let mut ready = String::new();
        BufReader::new(service.0.stderr.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(ready.contains("3 domini"), "{ready}");

        assert_eq!(ask(policy, "a@altro.it", "b@pec.ok.it"), "action=DUNNO\n");
        let refused = ask(policy, "a@altro.it", "b@pec.via.it");
        assert!(
            refused.starts_with("action=REJECT 5.7.1 Dominio PEC pec.via.it non certificato"),
            "{refused}"
        );
        assert_eq!(
            ask(policy, "a@sconosciuto.it", "b@altro.it"),
            "action=DUNNO\n"
        );

        // Removed now: enforced within seconds.
        ok(
            &db,
            &["domains", "remove", "pec.poi.it", "--reason", "test"],
        );
        let started = Instant::now();
        while ask(policy, "a@pec.poi.it", "b@altro.it") == "action=DUNNO\n" {
            assert!(started.elapsed() < Duration::from_secs(10), "not enforced");
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("removal enforced after {:?}", started.elapsed());

        // Garbage: the connection is closed, the service goes on.
        let mut bad = TcpStream::connect(("127.0.0.1", policy)).unwrap();
        bad.write_all(b"this is not a policy request\n\n").unwrap();
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest);
        assert!(rest.is_empty(), "no answer to garbage");
        assert_eq!(ask(policy, "a@altro.it", "b@pec.ok.it"), "action=DUNNO\n");

        // The socketmap: netstrings in, netstrings out, several per connection.
        let mut map = TcpStream::connect(("127.0.0.1", socketmap)).unwrap();
        let query = |name: &str| {
            let request = format!("virtual_mailbox_domains {name}");
            format!("{}:{request},", request.len())
        };
        map.write_all((query("pec.ok.it") + &query("pec.via.it")).as_bytes())
            .unwrap();
        let mut reply = [0u8; 64];
        let mut got = Vec::new();
        while got.len() < "5:OK OK,9:NOTFOUND ,".len() {
            let n = map.read(&mut reply).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&reply[..n]);
        }
        assert_eq!(String::from_utf8(got).unwrap(), "5:OK OK,9:NOTFOUND ,");
    })
    .await;
}
