//! A small DNS lab of a test's own, for fault tests that must not touch the shared lab
//! (`lab/lab.sh`, 127.53.*): real Knot DNS servers (a root, the `it.` TLD, the provider's
//! `aruba.it`, two customer servers) and, when asked, an Unbound resolver, on
//! `127.55.S.x` port 53, where `S` is a slot no other running minilab holds (a lock file
//! per slot). Started by the test, stopped when dropped.
//!
//! With [`Options::netns`] everything runs inside a network namespace made for the lab
//! (`ip netns add`), whose own loopback carries its traffic: [`MiniLab::drop_packets`]
//! can then make the customer servers lose packets with iptables without any effect on
//! anyone else's traffic, and the namespace goes away with the lab.
//!
//! | address | server | serves |
//! |---|---|---|
//! | 127.55.S.1 | knotd `root` | `.`, delegating `it.` |
//! | 127.55.S.2 | knotd `tld` | `it.`, delegating the zones below |
//! | 127.55.S.3 | knotd `provider` (dns1.aruba.it) | `aruba.it`: `mx.pec.aruba.it A 127.55.S.25` |
//! | 127.55.S.11, .12 | knotd `ns1`, `ns2` (ns1/ns2.cliente.it) | `cliente.it` (with MX targets that are wrong: `wrong` at .99, `multi` at .25 and .99, `noa` without A), `ok.it` (`pec` correct), `many.it` (any name correct), `manybad.it` (any name without MX), `z0.it` … (`pec` correct in each; with [`Options::editable`], files of their own that [`MiniLab::set_zones`] rewrites) |
//! | 127.55.S.53 | unbound `resolver` (optional) | recursive, from the minilab's root |

#![allow(dead_code)] // Not every test uses every part.

use std::fmt::Write as _;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The address of the minilab's customer servers (ns1, ns2.cliente.it).
pub const CUSTOMER_SERVERS: [u8; 2] = [11, 12];

/// What to start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How many zones `z0.it` … `z{N-1}.it` (each with a correct `pec` MX) the customer
    /// servers serve: domains in distinct zones, each found through the resolver.
    pub zones: usize,
    /// Start the Unbound resolver on 127.55.S.53.
    pub resolver: bool,
    /// Run everything in a network namespace of the lab's own.
    pub netns: bool,
    /// Give each `zN.it` a zone file of its own, for [`MiniLab::set_zones`].
    pub editable: bool,
}

/// A running minilab.
pub struct MiniLab {
    /// Its slot: the third byte of its addresses.
    pub slot: u8,
    dir: TempDir,
    netns: Option<String>,
    servers: Vec<(String, Child)>,
    resolver: Option<Child>,
    options: Options,
    _lock: File,
}

/// The server instances: name, last byte of the address, zone files served.
fn instances(zones: usize) -> Vec<(&'static str, u8, Vec<String>)> {
    let mut customer: Vec<String> = ["cliente.it", "ok.it", "many.it", "manybad.it"]
        .iter()
        .map(|z| (*z).to_owned())
        .collect();
    customer.extend((0..zones).map(|i| format!("z{i}.it")));
    vec![
        ("root", 1, vec![".".to_owned()]),
        ("tld", 2, vec!["it".to_owned()]),
        ("provider", 3, vec!["aruba.it".to_owned()]),
        ("ns1", CUSTOMER_SERVERS[0], customer.clone()),
        ("ns2", CUSTOMER_SERVERS[1], customer),
    ]
}

impl MiniLab {
    /// Starts a minilab and waits until every server answers. Panics (failing the test)
    /// if it cannot.
    pub fn start(options: Options) -> Self {
        let (slot, lock) = take_slot("minilab");
        let dir = tempfile::tempdir().expect("temporary directory");
        let netns = options.netns.then(|| {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "pwml{}-{}-{}",
                std::process::id(),
                slot,
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            run_ok(Command::new("ip").args(["netns", "add", &name]));
            run_ok(
                Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]),
            );
            name
        });
        let mut lab = MiniLab {
            slot,
            dir,
            netns,
            servers: Vec::new(),
            resolver: None,
            options: options.clone(),
            _lock: lock,
        };
        lab.write_zones();
        for (name, host, zones) in instances(options.zones) {
            let config = lab.write_knot_conf(name, host, &zones);
            let log = File::create(lab.dir.path().join(format!("{name}.out"))).unwrap();
            let child = lab
                .command("knotd")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start knotd");
            lab.servers.push((name.to_owned(), child));
        }
        for (name, host, zones) in instances(options.zones) {
            let probe = if zones[0] == "." {
                "."
            } else {
                zones[0].as_str()
            };
            lab.wait_for(name, lab.addr(host), probe, false);
        }
        if options.resolver {
            lab.start_resolver();
        }
        lab
    }

    /// `127.55.S.host`.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 55, self.slot, host)
    }

    /// The resolver's address, `127.55.S.53`.
    pub fn resolver(&self) -> String {
        self.addr(53).to_string()
    }

    /// The root hints file naming the minilab's root.
    pub fn root_hints(&self) -> PathBuf {
        self.dir.path().join("root.hints")
    }

    /// A directory for the test's own files (removed with the lab).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command run where the lab runs (in its network namespace, if it has one).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// `pecwatch` on `url`, at `now` (`None`: the real clock), resolving through the
    /// minilab (its resolver if it has one, else iteratively from its root), with
    /// private addresses allowed (the minilab is on loopback) and `env` added.
    pub fn pecwatch(
        &self,
        url: &str,
        now: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let mut command = self.command(env!("CARGO_BIN_EXE_pecwatch"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("PECWATCH_CONFIG")
            .env("PECWATCH_DATABASE_URL", url)
            .env("PECWATCH_DNS_ALLOW_PRIVATE", "true")
            .env("PECWATCH_DNS_IPV6", "false")
            .env("PECWATCH_WEB_ENABLED", "false")
            .env("PECWATCH_LOG", "warn")
            .env("NO_COLOR", "1");
        if self.options.resolver {
            command
                .env("PECWATCH_DNS_RESOLVER", self.resolver())
                .env_remove("PECWATCH_DNS_ROOT_HINTS");
        } else {
            command
                .env("PECWATCH_DNS_ROOT_HINTS", self.root_hints())
                .env("PECWATCH_DNS_RESOLVER", "");
        }
        match now {
            Some(now) => command.env("PECWATCH_NOW", now),
            None => command
                .env_remove("PECWATCH_NOW")
                .env("PECWATCH_SWEEP_TIME", super::cli::far_from_now()),
        };
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    /// Runs [`pecwatch`](Self::pecwatch) to its end; panics with its output unless it
    /// exits with `expected`.
    pub fn run(
        &self,
        url: &str,
        now: &str,
        args: &[&str],
        env: &[(&str, &str)],
        expected: i32,
    ) -> Output {
        let output = self.pecwatch(url, Some(now), args, env).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(expected),
            "pecwatch {args:?} at {now}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Rewrites editable zones ([`Options::editable`]): each `(zone, serial, records)`
    /// becomes the zone's file (its SOA with `serial`, its NS, then `records`, names
    /// relative to the zone), and both customer servers load the new files before this
    /// returns.
    pub fn set_zones(&self, zones: &[(String, u32, String)]) {
        assert!(self.options.editable, "set_zones needs Options::editable");
        if zones.is_empty() {
            return;
        }
        let dir = self.dir.path().join("zones");
        for (zone, serial, records) in zones {
            let text = format!(
                "$TTL 60\n@ SOA ns1.cliente.it. hostmaster.ns1.cliente.it. {serial} 3600 600 \
                 86400 5\n@ NS ns1.cliente.it.\n@ NS ns2.cliente.it.\n{records}"
            );
            std::fs::write(dir.join(format!("{zone}.zone")), text).unwrap();
        }
        for server in ["ns1", "ns2"] {
            let socket = self.dir.path().join(server).join("knot.sock");
            let mut command = self.command("knotc");
            command.arg("-s").arg(&socket).args(["-b", "zone-reload"]);
            command.args(zones.iter().map(|(zone, _, _)| format!("{zone}.")));
            run_ok(&mut command);
        }
    }

    /// Kills the resolver (SIGKILL: it dies as a crashed resolver would).
    pub fn kill_resolver(&mut self) {
        if let Some(mut resolver) = self.resolver.take() {
            // A paused process dies too, but let it go first in case it was paused.
            let _ = Command::new("kill")
                .args(["-CONT", &resolver.id().to_string()])
                .status();
            let _ = resolver.kill();
            let _ = resolver.wait();
        }
    }

    /// Stops the resolver where it is (SIGSTOP): it takes queries and answers none, as a
    /// resolver that hangs would.
    pub fn pause_resolver(&self) {
        self.signal_resolver("-STOP");
    }

    /// Lets a paused resolver go on (SIGCONT).
    pub fn resume_resolver(&self) {
        self.signal_resolver("-CONT");
    }

    fn signal_resolver(&self, signal: &str) {
        let resolver = self.resolver.as_ref().expect("the minilab has a resolver");
        run_ok(Command::new("kill").args([signal, &resolver.id().to_string()]));
    }

    /// Starts the resolver (again), and waits until it answers.
    pub fn start_resolver(&mut self) {
        self.kill_resolver();
        let config = self.write_unbound_conf();
        let log = File::create(self.dir.path().join("unbound.out")).unwrap();
        let child = self
            .command("unbound")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start unbound");
        self.resolver = Some(child);
        self.wait_for("resolver", self.addr(53), "ns1.cliente.it", true);
    }

    /// Makes the customer servers (ns1, ns2) lose packets: each packet to or from them is
    /// dropped with `probability`, by iptables in the lab's network namespace.
    pub fn drop_packets(&self, probability: f64) {
        assert!(self.netns.is_some(), "packet loss needs Options::netns");
        for host in CUSTOMER_SERVERS {
            let addr = self.addr(host).to_string();
            for side in ["-s", "-d"] {
                run_ok(self.command("iptables").args([
                    "-A",
                    "INPUT",
                    side,
                    &addr,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability.to_string(),
                    "-j",
                    "DROP",
                ]));
            }
        }
    }

    /// How many packets the rules of [`drop_packets`](Self::drop_packets) dropped.
    pub fn dropped_packets(&self) -> u64 {
        let output = run_ok(
            self.command("iptables")
                .args(["-L", "INPUT", "-v", "-x", "-n"]),
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains("DROP"))
            .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// The requests a Knot server received, from its statistics module (`ns1`, …).
    pub fn requests(&self, server: &str) -> u64 {
        let socket = self.dir.path().join(server).join("knot.sock");
        let output = run_ok(
            self.command("knotc")
                .arg("-s")
                .arg(&socket)
                .args(["stats", "mod-stats"]),
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains("request-protocol"))
            .filter_map(|line| line.rsplit('=').next()?.trim().parse::<u64>().ok())
            .sum()
    }

    // -----------------------------------------------------------------------------------

    fn write_zones(&self) {
        let zones = self.dir.path().join("zones");
        std::fs::create_dir_all(&zones).unwrap();
        let a = |host: u8| self.addr(host);
        let soa = |primary: &str| {
            format!("$TTL 60\n@ SOA {primary} hostmaster.{primary} 1 3600 600 86400 5\n")
        };
        std::fs::write(
            self.root_hints(),
            format!(
                ".  3600000  NS  a.root.lab.\na.root.lab.  3600000  A  {}\n",
                a(1)
            ),
        )
        .unwrap();
        std::fs::write(
            zones.join("root.zone"),
            format!(
                "{}@ NS a.root.lab.\na.root.lab. A {}\nit. NS a.nic.it.\na.nic.it. A {}\n",
                soa("a.root.lab."),
                a(1),
                a(2)
            ),
        )
        .unwrap();
        let mut tld = format!(
            "{}@ NS a.nic.it.\na.nic.it. A {}\n\
             aruba.it. NS dns1.aruba.it.\ndns1.aruba.it. A {}\n\
             ns1.cliente.it. A {}\nns2.cliente.it. A {}\n",
            soa("a.nic.it."),
            a(2),
            a(3),
            a(CUSTOMER_SERVERS[0]),
            a(CUSTOMER_SERVERS[1]),
        );
        let mut customer = vec!["cliente.it".to_owned(), "ok.it".to_owned()];
        customer.extend(["many.it".to_owned(), "manybad.it".to_owned()]);
        customer.extend((0..self.options.zones).map(|i| format!("z{i}.it")));
        for zone in &customer {
            writeln!(
                tld,
                "{zone}. NS ns1.cliente.it.\n{zone}. NS ns2.cliente.it."
            )
            .unwrap();
        }
        std::fs::write(zones.join("it.zone"), tld).unwrap();
        std::fs::write(
            zones.join("aruba.it.zone"),
            format!(
                "{}@ NS dns1.aruba.it.\ndns1 A {}\nmx.pec A {}\n",
                soa("dns1.aruba.it."),
                a(3),
                a(25)
            ),
        )
        .unwrap();
        let ns = "@ NS ns1.cliente.it.\n@ NS ns2.cliente.it.\n";
        let head = format!("{}{ns}", soa("ns1.cliente.it."));
        std::fs::write(
            zones.join("cliente.it.zone"),
            format!(
                "{head}ns1 A {}\nns2 A {}\nwrong A {}\nmulti A {}\nmulti A {}\n\
                 noa TXT \"no address\"\n",
                a(CUSTOMER_SERVERS[0]),
                a(CUSTOMER_SERVERS[1]),
                a(99),
                a(25),
                a(99),
            ),
        )
        .unwrap();
        let correct = format!("{head}pec MX 10 mx.pec.aruba.it.\n");
        std::fs::write(zones.join("ok.it.zone"), &correct).unwrap();
        // One file for every zN.it: the names in it are relative to each zone.
        std::fs::write(zones.join("member.zone"), &correct).unwrap();
        if self.options.editable {
            for i in 0..self.options.zones {
                std::fs::write(zones.join(format!("z{i}.it.zone")), &correct).unwrap();
            }
        }
        std::fs::write(
            zones.join("many.it.zone"),
            format!("{head}* MX 10 mx.pec.aruba.it.\n"),
        )
        .unwrap();
        std::fs::write(
            zones.join("manybad.it.zone"),
            format!("{head}* TXT \"no mail here\"\n"),
        )
        .unwrap();
    }

    fn write_knot_conf(&self, name: &str, host: u8, zones: &[String]) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let storage = self.dir.path().join("zones");
        let mut conf = format!(
            "server:\n    rundir: \"{dir}\"\n    listen: {addr}@53\n    udp-workers: 1\n    \
             tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: \"{dir}/knot.log\"\n    any: warning\n\
             database:\n    storage: \"{dir}/db\"\n\
             control:\n    listen: \"{dir}/knot.sock\"\n\
             mod-stats:\n  - id: requests\n    request-protocol: on\n\
             template:\n  - id: default\n    storage: \"{storage}\"\n    file: \"%s.zone\"\n    \
             zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    \
             global-module: mod-stats/requests\n\
             zone:\n",
            dir = dir.display(),
            addr = self.addr(host),
            storage = storage.display(),
        );
        for zone in zones {
            if zone == "." {
                conf.push_str("  - domain: \".\"\n    file: \"root.zone\"\n");
            } else if zone.starts_with('z') && !self.options.editable {
                writeln!(conf, "  - domain: \"{zone}.\"\n    file: \"member.zone\"").unwrap();
            } else {
                writeln!(conf, "  - domain: \"{zone}.\"").unwrap();
            }
        }
        let path = dir.join("knot.conf");
        std::fs::write(&path, conf).unwrap();
        path
    }

    fn write_unbound_conf(&self) -> PathBuf {
        let dir = self.dir.path().join("resolver");
        std::fs::create_dir_all(&dir).unwrap();
        let conf = format!(
            "server:\n    verbosity: 0\n    use-syslog: no\n    logfile: \"\"\n    \
             directory: \"{dir}\"\n    chroot: \"\"\n    username: \"\"\n    pidfile: \"\"\n    \
             do-daemonize: no\n    interface: {addr}\n    port: 53\n    \
             outgoing-interface: {addr}\n    do-ip6: no\n    \
             access-control: 127.0.0.0/8 allow\n    do-not-query-localhost: no\n    \
             root-hints: \"{hints}\"\n    module-config: \"iterator\"\n    \
             cache-max-ttl: 30\n    cache-max-negative-ttl: 5\n    infra-cache-max-rtt: 2000\n    \
             infra-host-ttl: 60\n    discard-timeout: 0\n    wait-limit: 0\n    \
             minimal-responses: yes\n    num-threads: 1\n    so-reuseport: no\n\
             remote-control:\n    control-enable: no\n",
            dir = dir.display(),
            addr = self.addr(53),
            hints = self.root_hints().display(),
        );
        let path = dir.join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        path
    }

    /// Waits until `addr` answers `name SOA` (`A` through a resolver) with NOERROR.
    fn wait_for(&self, what: &str, addr: Ipv4Addr, name: &str, recursive: bool) {
        let probe = Probe {
            addr,
            name,
            recursive,
        };
        wait_until_answers(
            || self.command("kdig"),
            &probe,
            || {
                format!(
                    "minilab: {what} ({addr}) does not answer {name}: {}",
                    self.logs()
                )
            },
        );
    }

    /// The servers' output, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "out") {
                    let content = std::fs::read_to_string(&path).unwrap_or_default();
                    writeln!(text, "--- {}\n{content}", path.display()).unwrap();
                }
            }
        }
        text
    }
}

impl Drop for MiniLab {
    fn drop(&mut self) {
        self.kill_resolver();
        for (_, child) in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(netns) = self.netns.take() {
            let _ = Command::new("ip").args(["netns", "del", &netns]).status();
        }
    }
}

/// Takes the first free slot (1–250) of a kind of lab (`minilab`, `dnsseclab`): a lock on a
/// file per slot, held while the lab runs (and released by the kernel if the test process
/// dies).
pub fn take_slot(kind: &str) -> (u8, File) {
    let dir = std::env::temp_dir().join(format!("pecwatch-{kind}"));
    std::fs::create_dir_all(&dir).unwrap();
    for slot in 1..=250u8 {
        let file = File::create(dir.join(format!("slot-{slot}.lock"))).unwrap();
        if file.try_lock().is_ok() {
            return (slot, file);
        }
    }
    panic!("no free {kind} slot (1-250)");
}

/// A query a lab server must answer with NOERROR before a test starts: `name SOA` with
/// recursion off, or `name A` through a resolver.
pub struct Probe<'a> {
    /// The server.
    pub addr: Ipv4Addr,
    /// The name asked.
    pub name: &'a str,
    /// Through a resolver.
    pub recursive: bool,
}

/// Asks the probe with `kdig` (built by `kdig`, so that it can run inside a network
/// namespace) every 50 ms until it answers NOERROR; panics with `failure()` after 30 s.
pub fn wait_until_answers(
    kdig: impl Fn() -> Command,
    probe: &Probe<'_>,
    failure: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let server = format!("@{}", probe.addr);
    let (rd, rtype) = if probe.recursive {
        ("+rec", "A")
    } else {
        ("+norec", "SOA")
    };
    loop {
        let output = kdig()
            .args(["+timeout=1", "+retry=0", rd, &server, probe.name, rtype])
            .output()
            .expect("run kdig");
        if String::from_utf8_lossy(&output.stdout).contains("status: NOERROR") {
            return;
        }
        assert!(Instant::now() < deadline, "{}", failure());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command, panicking with its output if it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("run a command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
