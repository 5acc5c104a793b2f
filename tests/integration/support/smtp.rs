//! A real SMTP server for the tests (`tests/fixtures/smtp/server.py`, on Debian's
//! python3-aiosmtpd) on a free loopback port, storing what it accepts in a temporary
//! directory. Recipients `rifiuta…@` are refused (550), `riprova…@` deferred (451).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use super::lab::repo;

/// A running test SMTP server; stopped when dropped.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

/// A message the server accepted.
#[derive(Debug)]
pub struct Received {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The message as received (headers and body).
    pub raw: String,
    /// What a mail reader sees: `type`, `headers` (decoded), `parts` (each with `type`,
    /// `charset`, `encoding` and the decoded `text`).
    pub parsed: Value,
}

impl Received {
    /// A decoded header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parsed["headers"].get(name).and_then(Value::as_str)
    }

    /// The decoded text of the first part of this content type (`text/plain`, …).
    pub fn part(&self, content_type: &str) -> Option<&Value> {
        self.parsed["parts"]
            .as_array()?
            .iter()
            .find(|part| part["type"] == content_type)
    }
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = SmtpServer {
            port,
            dir,
            child: None,
        };
        server.resume();
        server
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server (connections are refused until [`resume`](Self::resume)).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, keeping what it received.
    pub fn resume(&mut self) {
        let script: PathBuf = repo().join("tests/fixtures/smtp/server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the test SMTP server (python3-aiosmtpd)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its output");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    /// The messages accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut numbers: Vec<u32> = std::fs::read_dir(self.dir.path())
            .expect("read the mail directory")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .map(|n| {
                let meta: Value = serde_json::from_str(
                    &std::fs::read_to_string(self.dir.path().join(format!("{n}.json"))).unwrap(),
                )
                .unwrap();
                let raw = std::fs::read(self.dir.path().join(format!("{n}.eml"))).unwrap();
                Received {
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                    parsed: meta,
                }
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
