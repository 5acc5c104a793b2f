//! A real Postfix from Debian (packages `postfix`, `swaks`, installed by `scripts/setup`)
//! for the tests, as a throwaway instance, and `pecwatch postfix` for it to ask.
//!
//! The instance lives in a temporary directory: its own `config_directory` (`etc/`, from
//! `tests/fixtures/postfix/main.cf`, `master.cf` and `maildirs`), `queue_directory` (`spool/`),
//! `data_directory` (`data/`), maildirs (`mail/`) and log (`maillog`). It is started with
//! `postfix -c DIR start-fg` (root, no system configuration read or written), listens only
//! on 127.0.0.1 and a free port, makes no DNS lookup and sends nothing out, and is
//! stopped (`postfix -c DIR stop`, then SIGKILL) when the [`Postfix`] is dropped, even
//! when the test fails. Every failure message carries its log.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::lab::repo;

const POSTFIX: &str = "/usr/sbin/postfix";
const POSTMAP: &str = "/usr/sbin/postmap";
const SWAKS: &str = "/usr/bin/swaks";
/// The uid and gid Postfix's virtual(8) delivers as (nobody, nogroup).
const MAIL_ID: u32 = 65534;
/// How many times readiness is polled, [`POLL`] apart, before giving up.
const READY_ATTEMPTS: u32 = 300;
const POLL: Duration = Duration::from_millis(50);

/// A free port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `pecwatch postfix` (policy service and socketmap) on a registry; killed when dropped.
pub struct PecwatchPostfix {
    /// The policy service's port on 127.0.0.1.
    pub policy: u16,
    /// The socketmap's port on 127.0.0.1.
    pub socketmap: u16,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl PecwatchPostfix {
    /// Starts `pecwatch postfix` on the registry at `url`, with the extra environment
    /// `env` (e.g. `PECWATCH_POSTFIX_CHECK_MAILBOXES`), and waits for its "listening"
    /// line.
    pub fn start(url: &str, env: &[(&str, &str)]) -> Self {
        let (policy, socketmap) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("pecwatch.log");
        let file = fs::File::create(&log).expect("pecwatch.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_pecwatch"));
        command
            .args(["postfix", "--policy", &format!("127.0.0.1:{policy}")])
            .args(["--socketmap", &format!("127.0.0.1:{socketmap}")])
            .current_dir(std::env::temp_dir())
            .env_remove("PECWATCH_CONFIG")
            .env("PECWATCH_DATABASE_URL", url)
            .env("PECWATCH_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("pecwatch.log"))
            .stderr(file);
        let child = command.spawn().expect("run pecwatch postfix");
        let mut service = PecwatchPostfix {
            policy,
            socketmap,
            child,
            log,
            _dir: dir,
        };
        for _ in 0..READY_ATTEMPTS {
            if service.log().contains("pecwatch postfix: policy") {
                return service;
            }
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("pecwatch postfix exited ({status}):\n{}", service.log());
            }
            std::thread::sleep(POLL);
        }
        panic!("pecwatch postfix did not start:\n{}", service.log());
    }

    /// What it logged.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PecwatchPostfix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `swaks` got from Postfix for one message.
#[derive(Debug)]
pub struct Sent {
    /// swaks's exit status (0: accepted; 23: MAIL FROM refused; 24: every RCPT TO
    /// refused; …).
    pub status: Option<i32>,
    /// The SMTP conversation as swaks printed it (`<-` replies, `<**` refusals).
    pub transcript: String,
}

impl Sent {
    /// Whether the message was accepted: `250` after `DATA`.
    pub fn accepted(&self) -> bool {
        self.status == Some(0)
            && self
                .transcript
                .lines()
                .any(|line| line.starts_with("<-  250 2.0.0 Ok: queued as "))
    }

    /// The first refusal (`5xx`/`4xx` reply), without swaks's `<** ` prefix.
    pub fn refusal(&self) -> Option<&str> {
        self.transcript
            .lines()
            .find_map(|line| line.strip_prefix("<** "))
    }
}

/// A running throwaway Postfix; stopped when dropped.
pub struct Postfix {
    /// Its smtpd's port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Postfix {
    /// Configures and starts Postfix asking the policy service at `127.0.0.1:policy` and
    /// finding its certified domains in the socketmap at `127.0.0.1:socketmap`;
    /// `mailbox_maps` is its `virtual_mailbox_maps`. Waits until smtpd greets. Panics,
    /// with Postfix's log, if it cannot.
    pub fn start(policy: u16, socketmap: u16, mailbox_maps: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        // Postfix's daemons run as postfix and nobody: they must reach inside.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["etc", "spool", "data", "mail"] {
            fs::create_dir(root.join(sub)).expect("create Postfix's directories");
        }
        let postfix_uid = user_id("postfix");
        std::os::unix::fs::chown(root.join("data"), Some(postfix_uid), None).expect("chown data");
        std::os::unix::fs::chown(root.join("mail"), Some(MAIL_ID), Some(MAIL_ID))
            .expect("chown mail");

        let port = free_port();
        let fixture = |name: &str| {
            let path = repo().join("tests/fixtures/postfix").join(name);
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let main_cf = fixture("main.cf")
            .replace("@DIR@", &root.display().to_string())
            .replace("@POLICY@", &format!("127.0.0.1:{policy}"))
            .replace("@SOCKETMAP@", &format!("127.0.0.1:{socketmap}"))
            .replace("@MAILBOX_MAPS@", mailbox_maps);
        let master_cf = fixture("master.cf")
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@DIR@", &root.display().to_string());
        fs::write(root.join("etc/main.cf"), main_cf).expect("write main.cf");
        fs::write(root.join("etc/master.cf"), master_cf).expect("write master.cf");
        let maildirs = fixture("maildirs");
        fs::write(root.join("etc/maildirs"), maildirs).expect("write maildirs");

        let mut postfix = Postfix {
            port,
            dir,
            child: None,
        };
        // `check` creates the queue's directories with their owners and modes.
        let checked = postfix.command().arg("check").output().unwrap_or_else(|e| {
            panic!("cannot run {POSTFIX} (scripts/setup installs postfix): {e}")
        });
        postfix.expect_success(&checked, "postfix check");
        let out = fs::File::create(postfix.dir.path().join("start-fg.log")).expect("log");
        let child = postfix
            .command()
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("run postfix start-fg");
        postfix.child = Some(child);
        postfix.wait_ready();
        postfix
    }

    /// `postfix -c DIR …`.
    fn command(&self) -> Command {
        let mut command = Command::new(POSTFIX);
        command.arg("-c").arg(self.config_dir());
        command
    }

    /// The instance's `config_directory`.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Postfix's log so far (`maillog_file`, and what `start-fg` printed).
    pub fn log(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("start-fg.log"), read("maillog"))
    }

    /// Panics with the command's output and Postfix's log unless `output` is a success.
    pub fn expect_success(&self, output: &Output, what: &str) {
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}{}\n--- Postfix log ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    /// Sends one message from `from` to `to` with swaks, through this Postfix.
    pub fn send(&self, from: &str, to: &str) -> Sent {
        let output = Command::new(SWAKS)
            .args(["--server", &format!("127.0.0.1:{}", self.port)])
            .args(["--from", from, "--to", to, "--helo", "client.prova.test"])
            .args(["--header", "Subject: prova pecwatch", "--timeout", "20"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SWAKS} (scripts/setup installs swaks): {e}"));
        Sent {
            status: output.status.code(),
            transcript: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// `postmap -q KEY TABLE` with this instance's configuration: `Some(value)` when
    /// found, `None` when not (exit 1); panics on any other outcome.
    pub fn postmap_query(&self, key: &str, table: &str) -> Option<String> {
        let output = Command::new(POSTMAP)
            .arg("-c")
            .arg(self.config_dir())
            .args(["-q", key, table])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {POSTMAP}: {e}"));
        match output.status.code() {
            Some(0) => Some(String::from_utf8_lossy(&output.stdout).trim().to_owned()),
            Some(1) if output.stdout.is_empty() => None,
            _ => panic!(
                "postmap -q {key} {table}: {output:?}\n--- Postfix log ---\n{}",
                self.log()
            ),
        }
    }

    /// The messages delivered into the maildir `path` (under `virtual_mailbox_base`).
    pub fn delivered(&self, path: &str) -> Vec<String> {
        let new = self.dir.path().join("mail").join(path).join("new");
        let Ok(entries) = fs::read_dir(&new) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| fs::read_to_string(entry.path()).ok())
            .collect()
    }

    /// Polls until smtpd greets with `220`; panics with the log if it never does or
    /// `postfix start-fg` exits.
    fn wait_ready(&mut self) {
        for _ in 0..READY_ATTEMPTS {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "postfix start-fg exited ({status}):\n--- Postfix log ---\n{}",
                    self.log()
                );
            }
            if greets(self.port) {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "Postfix did not greet on 127.0.0.1:{}:\n--- Postfix log ---\n{}",
            self.port,
            self.log()
        );
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = self
            .command()
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..200 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        // Still there: kill master (its children follow it) and postfix-script.
        if let Some(master) = self.master_pid() {
            let _ = Command::new("kill").args(["-KILL", &master]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn master_pid(&self) -> Option<String> {
        let pid = fs::read_to_string(self.dir.path().join("spool/pid/master.pid")).ok()?;
        let pid = pid.trim();
        (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.to_owned())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something on `127.0.0.1:port` greets like an SMTP server (`220 …`).
fn greets(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let greeted = BufReader::new(&stream).read_line(&mut line).is_ok() && line.starts_with("220 ");
    if greeted {
        use std::io::Write as _;
        let _ = (&stream).write_all(b"QUIT\r\n");
    }
    greeted
}

/// The uid of a system user (`id -u NAME`).
fn user_id(name: &str) -> u32 {
    let output = Command::new("id")
        .args(["-u", name])
        .output()
        .expect("run id");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no user {name} (scripts/setup installs postfix)"))
}
