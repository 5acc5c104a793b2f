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
    security: Security,
    /// `USER:PASSWORD` it requires, if any.
    auth: Option<String>,
}

/// How the server protects the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain text.
    Plain,
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte (smtps).
    Tls,
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
    /// Starts a plain server on a free port.
    pub fn start() -> Self {
        Self::start_with(Security::Plain, None)
    }

    /// Starts a server with TLS (a certificate for 127.0.0.1 made for it, see
    /// [`ca_file`](Self::ca_file)) and/or required authentication (`USER:PASSWORD`;
    /// offered over plain text with [`Security::Plain`], as a careless relay does).
    pub fn start_with(security: Security, auth: Option<&str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = SmtpServer {
            port,
            dir,
            child: None,
            security,
            auth: auth.map(str::to_owned),
        };
        if security != Security::Plain {
            server.make_certificate();
        }
        server.resume();
        server
    }

    /// `smtp://127.0.0.1:PORT`, or `smtps://` for TLS from the start.
    pub fn url(&self) -> String {
        let scheme = match self.security {
            Security::Tls => "smtps",
            Security::Plain | Security::StartTls => "smtp",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The certificate of the CA that signed the server's, for `smtp.ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("tls").join("ca.pem")
    }

    /// Makes a test CA and, signed by it, the server's certificate for 127.0.0.1.
    fn make_certificate(&self) {
        let tls = self.dir.path().join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(
            tls.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=pecwatch test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
                "-out",
                "cert.pem",
            ],
        ];
        for args in steps {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run openssl");
            assert!(status.success(), "openssl {args:?} failed");
        }
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
        let mut command = Command::new("/usr/bin/python3");
        command
            .arg(&script)
            .arg(self.port.to_string())
            .arg(self.dir.path().join("mail"));
        let tls = self.dir.path().join("tls");
        match self.security {
            Security::Plain => {}
            Security::StartTls => {
                command.arg("--starttls");
            }
            Security::Tls => {
                command.arg("--tls");
            }
        }
        if self.security != Security::Plain {
            command.arg(tls.join("cert.pem")).arg(tls.join("key.pem"));
        }
        if let Some(auth) = &self.auth {
            command.arg("--auth").arg(auth);
        }
        std::fs::create_dir_all(self.dir.path().join("mail")).unwrap();
        let mut child = command
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

    /// Every AUTH the server received so far (`MECHANISM LOGIN PASSWORD` lines).
    pub fn auth_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("auth.log")).unwrap_or_default()
    }

    /// The messages accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mail = self.dir.path().join("mail");
        let mut numbers: Vec<u32> = std::fs::read_dir(&mail)
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
                    &std::fs::read_to_string(mail.join(format!("{n}.json"))).unwrap(),
                )
                .unwrap();
                let raw = std::fs::read(mail.join(format!("{n}.eml"))).unwrap();
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
