//! A PostgreSQL cluster of a test's own (Debian's server binaries: `initdb`, `pg_ctl`),
//! in a temporary directory, on a free port of 127.0.0.1, run as the `postgres` user
//! (initdb refuses root): for tests that stop or restart the database, which the shared
//! server at 127.0.0.1:5432 must never be. Stopped (immediately) when dropped.

#![allow(dead_code)] // Not every test uses every part.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

/// A running cluster.
pub struct PgCluster {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
}

impl PgCluster {
    /// Creates and starts a cluster (trust authentication on 127.0.0.1 only). Panics
    /// (failing the test) if the binaries are missing or it does not start.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries (apt-get install postgresql)")
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = PgCluster { port, dir, bin };
        // The directory belongs to the user that runs the server.
        run_ok(
            Command::new("chown")
                .arg("postgres:")
                .arg(cluster.dir.path()),
        );
        run_ok(
            cluster
                .as_postgres("initdb")
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--no-sync",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-D",
                ])
                .arg(cluster.data()),
        );
        cluster.start_server();
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: the sessions are ended, their transactions rolled back)
    /// and starts it again, waiting until it accepts connections.
    pub fn restart(&self) {
        run_ok(
            self.as_postgres("pg_ctl")
                .args(["restart", "-m", "fast", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-o")
                .arg(self.options())
                .arg("-l")
                .arg(self.dir.path().join("server.log")),
        );
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn options(&self) -> String {
        format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        )
    }

    fn start_server(&self) {
        run_ok(
            self.as_postgres("pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-o")
                .arg(self.options())
                .arg("-l")
                .arg(self.dir.path().join("server.log")),
        );
    }

    /// A server binary run as the `postgres` user.
    fn as_postgres(&self, program: &str) -> Command {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .current_dir(self.dir.path());
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data())
            .output();
    }
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("run a command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
