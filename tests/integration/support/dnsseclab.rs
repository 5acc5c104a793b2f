//! A signed DNS world of a test's own, for the DNSSEC tests: a private root and `it.`
//! signed at test time (so validity windows are relative to now) with Debian's
//! `bind9-utils` (`dnssec-keygen`, `dnssec-signzone -s/-e`), served by real Knot DNS
//! servers as pre-signed zones, with two Unbound resolvers: one plain, one validating from
//! the lab's root DS. On `127.56.S.x` port 53 (`S`: a slot no other running DNSSEC lab
//! holds). Started by the test, stopped when dropped. The zones' templates are in
//! `tests/fixtures/dnssec/`.
//!
//! | address | server | serves |
//! |---|---|---|
//! | 127.56.S.1 | knotd `root` | `.` (signed), `it.` delegated with DS |
//! | 127.56.S.2 | knotd `tld` | `it.` (signed, NSEC), the cases below delegated to `dns.it` |
//! | 127.56.S.3 | knotd `auth` (`dns.it`) | every case's zone |
//! | 127.56.S.53 | unbound, iterator only | recursive, from the lab's root |
//! | 127.56.S.54 | unbound, validator + iterator | recursive, trust anchor: the lab's root DS |
//!
//! The cases (each zone holds `pec MX 10 mx.pecprov.it.`, except `tobogus.it`):
//!
//! | zone | DNSSEC |
//! |---|---|
//! | `pecprov.it` | the provider's zone, signed: `mx A 127.56.S.25` |
//! | `secure.it` | signed, DS at `it.` |
//! | `insecure.it` | unsigned, no DS (an NSEC-proven unsigned delegation) |
//! | `orphan.it` | a DS at `it.` for a key the zone no longer uses: served unsigned |
//! | `expired.it` | signatures expired yesterday |
//! | `future.it` | signatures valid from tomorrow |
//! | `wrongds.it` | signed, but the DS at `it.` has a wrong digest |
//! | `bogusprov.it` | a provider whose signer stopped: `mx A 127.56.S.26`, signatures expired |
//! | `tobogus.it` | signed correctly, `pec MX 10 mx.bogusprov.it.` |
//! | `reg.it` | signed with NSEC3 opt-out, delegates `cliente.reg.it` without DS |
//! | `cliente.reg.it` | unsigned, under the opt-out span |
//! | `expiring.it` | signatures expiring in two days |

#![allow(dead_code)] // Not every test uses every part.

use std::fmt::Write as _;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::minilab::{Probe, run_ok, take_slot, wait_until_answers};

/// The fixtures: zone templates (`@SLOT@` is the lab's slot).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dnssec");

/// The zones of `dns.it` (127.56.S.3), and how each is signed.
const CHILDREN: [(&str, Signing); 12] = [
    ("pecprov.it", Signing::Valid),
    ("secure.it", Signing::Valid),
    ("insecure.it", Signing::Unsigned),
    ("orphan.it", Signing::Orphan),
    ("expired.it", Signing::Window(-10 * DAY, -DAY)),
    ("future.it", Signing::Window(DAY, 10 * DAY)),
    ("wrongds.it", Signing::WrongDs),
    ("bogusprov.it", Signing::Window(-10 * DAY, -DAY)),
    ("tobogus.it", Signing::Valid),
    ("reg.it", Signing::OptOut),
    ("cliente.reg.it", Signing::Unsigned),
    ("expiring.it", Signing::Window(-HOUR, 2 * DAY)),
];

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// How a zone is signed.
#[derive(Clone, Copy, Debug)]
enum Signing {
    /// Signed, valid from an hour ago for 30 days; its DS at the parent.
    Valid,
    /// Not signed, no DS.
    Unsigned,
    /// Not signed, but a DS (of a key made and thrown away) at the parent.
    Orphan,
    /// Signed with this validity window (seconds from now); its DS at the parent.
    Window(i64, i64),
    /// Signed, its DS at the parent with one digest byte changed.
    WrongDs,
    /// Signed with NSEC3 opt-out; its DS at the parent.
    OptOut,
}

/// A running DNSSEC lab.
pub struct DnssecLab {
    /// Its slot: the third byte of its addresses.
    pub slot: u8,
    dir: TempDir,
    children: Vec<(String, Child)>,
    _lock: File,
}

impl DnssecLab {
    /// Signs the zones, starts the servers and resolvers, and waits until each answers.
    pub fn start() -> Self {
        let (slot, lock) = take_slot("dnsseclab");
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut lab = Self {
            slot,
            dir,
            children: Vec::new(),
            _lock: lock,
        };
        lab.sign_zones();
        lab.write_files();
        for (name, host, zones) in [
            ("root", 1, vec![".".to_string()]),
            ("tld", 2, vec!["it".to_string()]),
            (
                "auth",
                3,
                CHILDREN.iter().map(|(z, _)| (*z).to_string()).collect(),
            ),
        ] {
            let config = lab.write_knot_conf(name, host, &zones);
            lab.spawn(name, Command::new("knotd").arg("-c").arg(config));
        }
        lab.wait_for("root", lab.addr(1), ".", false);
        lab.wait_for("tld", lab.addr(2), "it", false);
        lab.wait_for("auth", lab.addr(3), "secure.it", false);
        for (name, host, validating) in [("plain", 53, false), ("validating", 54, true)] {
            let config = lab.write_unbound_conf(name, host, validating);
            lab.spawn(
                name,
                Command::new("unbound").arg("-d").arg("-c").arg(config),
            );
            lab.wait_for(name, lab.addr(host), "dns.it", true);
        }
        lab
    }

    /// `127.56.S.host`.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 56, self.slot, host)
    }

    /// The non-validating resolver.
    pub fn plain_resolver(&self) -> String {
        self.addr(53).to_string()
    }

    /// The validating resolver.
    pub fn validating_resolver(&self) -> String {
        self.addr(54).to_string()
    }

    /// The root hints naming the lab's root.
    pub fn root_hints(&self) -> PathBuf {
        self.dir.path().join("root.hints")
    }

    /// The lab's trust anchor: the DS of its root.
    pub fn trust_anchor(&self) -> PathBuf {
        self.dir.path().join("anchor.ds")
    }

    /// A directory for the test's own files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A provider profile file: `pecprov` (MX host `mx.pecprov.it`, 127.56.S.25) or
    /// `bogusprov` (`mx.bogusprov.it`, 127.56.S.26), with `dnssec` policy.
    pub fn profile(&self, provider: &str, dnssec: &str) -> PathBuf {
        let host = if provider == "bogusprov" { 26 } else { 25 };
        let path = self.dir.path().join(format!("{provider}-{dnssec}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"{provider}\"\nmx_host = \"mx.{provider}.it\"\n\
                 mail_addresses = [\"{}\"]\ndnssec = \"{dnssec}\"\n",
                self.addr(host)
            ),
        )
        .unwrap();
        path
    }

    /// `pecwatch check --format json` of one domain, with the lab's trust anchor and
    /// `resolution` (`["--resolver", ADDR]` or `["--root-hints", FILE]`): the JSON line.
    pub fn check(&self, domain: &str, profile: &Path, resolution: &[&str]) -> serde_json::Value {
        let stdout = self.check_as("json", domain, profile, resolution);
        let line = stdout.lines().next().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// `pecwatch check --format FORMAT` of one domain (as [`check`](Self::check); with
    /// `"--built-in-anchors"` among `resolution`, pecwatch's own anchors): the output.
    pub fn check_as(
        &self,
        format: &str,
        domain: &str,
        profile: &Path,
        resolution: &[&str],
    ) -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pecwatch"));
        let built_in = "--built-in-anchors";
        command
            .arg("check")
            .args(resolution.iter().filter(|arg| **arg != built_in));
        if !resolution.contains(&built_in) {
            command.arg("--trust-anchor").arg(self.trust_anchor());
        }
        let output = command
            .arg("--profile")
            .arg(profile)
            .args(["--format", format, "--allow-private", "--no-ipv6", domain])
            .current_dir(self.dir.path())
            .env_remove("PECWATCH_CONFIG")
            .env_remove("PECWATCH_NOW")
            .env("PECWATCH_LOG", "warn")
            .env("NO_COLOR", "1")
            .output()
            .expect("run pecwatch");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            !stdout.is_empty(),
            "pecwatch check {domain}: no output: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// The response code (`NOERROR`, `SERVFAIL`, …) of a resolver for `name rtype`, asked
    /// as a stub asks (RD=1, CD=0): what a sender's mail server sees.
    pub fn resolver_status(&self, resolver: &str, name: &str, rtype: &str) -> String {
        let output = Command::new("kdig")
            .args([
                "+timeout=2",
                "+retry=1",
                "+rec",
                &format!("@{resolver}"),
                name,
                rtype,
            ])
            .output()
            .expect("run kdig");
        let text = String::from_utf8_lossy(&output.stdout);
        text.split("status: ")
            .nth(1)
            .and_then(|rest| rest.split([',', ';', '\n']).next())
            .unwrap_or("no answer")
            .to_string()
    }

    // -----------------------------------------------------------------------------------

    fn spawn(&mut self, name: &str, command: &mut Command) {
        let log = File::create(self.dir.path().join(format!("{name}.out"))).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.children.push((name.to_string(), child));
    }

    /// A zone template from the fixtures, with the slot filled in.
    fn template(&self, file: &str) -> String {
        let text = std::fs::read_to_string(Path::new(FIXTURES).join(file))
            .unwrap_or_else(|e| panic!("fixture {file}: {e}"));
        text.replace("@SLOT@", &self.slot.to_string())
    }

    /// Signs every zone bottom-up: the cases, then `it.` with their DS, then the root with
    /// the DS of `it.`; the root's DS becomes the lab's trust anchor.
    fn sign_zones(&self) {
        let keys = self.dir.path().join("keys");
        let zones = self.dir.path().join("zones");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::create_dir_all(&zones).unwrap();
        let now = jiff::Timestamp::now().as_second();
        let valid = (now - HOUR, now + 30 * DAY);
        let mut it = self.template("it.zone");
        for (zone, signing) in CHILDREN {
            let text = self.template(&format!("{zone}.zone"));
            let out = zones.join(format!("{zone}.zone"));
            let ds = match signing {
                Signing::Unsigned => {
                    std::fs::write(&out, text).unwrap();
                    None
                }
                Signing::Orphan => {
                    std::fs::write(&out, text).unwrap();
                    let key = keygen(&keys, zone, true);
                    let output = run_ok(
                        Command::new("dnssec-dsfromkey")
                            .arg("-2")
                            .arg(keys.join(format!("{key}.key"))),
                    );
                    Some(String::from_utf8_lossy(&output.stdout).into_owned())
                }
                Signing::Valid => Some(sign(&keys, &zones, zone, &text, valid, false)),
                Signing::Window(from, to) => Some(sign(
                    &keys,
                    &zones,
                    zone,
                    &text,
                    (now + from, now + to),
                    false,
                )),
                Signing::OptOut => Some(sign(&keys, &zones, zone, &text, valid, true)),
                Signing::WrongDs => {
                    let ds = sign(&keys, &zones, zone, &text, valid, false);
                    // Change the digest's last hex digit.
                    let ds = ds.trim_end();
                    let (head, last) = ds.split_at(ds.len() - 1);
                    let changed = if last == "0" { "1" } else { "0" };
                    Some(format!("{head}{changed}\n"))
                }
            };
            // `cliente.reg.it` is delegated by `reg.it` (its template), not by `it.`.
            if zone == "cliente.reg.it" {
                continue;
            }
            writeln!(it, "{zone}. NS dns.it.").unwrap();
            if let Some(ds) = ds {
                it.push_str(&ds);
            }
        }
        let ds_it = sign(&keys, &zones, "it", &it, valid, false);
        let root = format!("{}{ds_it}", self.template("root.zone"));
        let ds_root = sign(&keys, &zones, ".", &root, valid, false);
        std::fs::write(self.trust_anchor(), ds_root).unwrap();
    }

    fn write_files(&self) {
        std::fs::write(
            self.root_hints(),
            format!(
                ". 3600000 NS a.root.lab.\na.root.lab. 3600000 A {}\n",
                self.addr(1)
            ),
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
             template:\n  - id: default\n    storage: \"{storage}\"\n    file: \"%s.zone\"\n    \
             zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
             zone:\n",
            dir = dir.display(),
            addr = self.addr(host),
            storage = storage.display(),
        );
        for zone in zones {
            if zone == "." {
                conf.push_str("  - domain: \".\"\n    file: \"root.zone\"\n");
            } else {
                writeln!(conf, "  - domain: \"{zone}.\"").unwrap();
            }
        }
        let path = dir.join("knot.conf");
        std::fs::write(&path, conf).unwrap();
        path
    }

    fn write_unbound_conf(&self, name: &str, host: u8, validating: bool) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let modules = if validating {
            format!(
                "    module-config: \"validator iterator\"\n    trust-anchor-file: \"{}\"\n",
                self.trust_anchor().display()
            )
        } else {
            "    module-config: \"iterator\"\n".to_string()
        };
        let conf = format!(
            "server:\n    verbosity: 0\n    use-syslog: no\n    logfile: \"\"\n    \
             directory: \"{dir}\"\n    chroot: \"\"\n    username: \"\"\n    pidfile: \"\"\n    \
             do-daemonize: no\n    interface: {addr}\n    port: 53\n    \
             outgoing-interface: {addr}\n    do-ip6: no\n    \
             access-control: 127.0.0.0/8 allow\n    do-not-query-localhost: no\n    \
             root-hints: \"{hints}\"\n{modules}    \
             cache-max-ttl: 30\n    cache-max-negative-ttl: 5\n    \
             minimal-responses: yes\n    num-threads: 1\n    so-reuseport: no\n\
             remote-control:\n    control-enable: no\n",
            dir = dir.display(),
            addr = self.addr(host),
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
            || Command::new("kdig"),
            &probe,
            || {
                format!(
                    "dnssec lab: {what} ({addr}) does not answer {name}: {}",
                    self.logs()
                )
            },
        );
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "out") {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                writeln!(text, "--- {}\n{content}", path.display()).unwrap();
            }
        }
        text
    }
}

impl Drop for DnssecLab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `dnssec-keygen` for `zone` (a KSK when `ksk`): the key's file name without extension.
fn keygen(keys: &Path, zone: &str, ksk: bool) -> String {
    let mut command = Command::new("dnssec-keygen");
    command
        .args(["-q", "-a", "ECDSAP256SHA256", "-n", "ZONE", "-K"])
        .arg(keys);
    if ksk {
        command.args(["-f", "KSK"]);
    }
    let output = run_ok(command.arg(zone));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Signs `text` as `zone` (KSK and ZSK made here) with the window `(from, to)` in Unix
/// seconds, NSEC3 with opt-out when asked, into `zones/<zone>.zone` (`root.zone` for
/// the root). Returns the zone's DS record line(s).
fn sign(
    keys: &Path,
    zones: &Path,
    zone: &str,
    text: &str,
    (from, to): (i64, i64),
    opt_out: bool,
) -> String {
    let file = if zone == "." { "root" } else { zone };
    let unsigned = zones.join(format!("{file}.unsigned"));
    std::fs::write(&unsigned, text).unwrap();
    let dir = keys.join(file);
    std::fs::create_dir_all(&dir).unwrap();
    keygen(&dir, zone, true);
    keygen(&dir, zone, false);
    let stamp = |t: i64| {
        jiff::Timestamp::from_second(t)
            .unwrap()
            .strftime("%Y%m%d%H%M%S")
            .to_string()
    };
    let mut command = Command::new("dnssec-signzone");
    command
        .args(["-q", "-S", "-P", "-K"])
        .arg(&dir)
        .arg("-d")
        .arg(&dir)
        .args(["-s", &stamp(from), "-e", &stamp(to), "-o", zone, "-f"])
        .arg(zones.join(format!("{file}.zone")));
    if opt_out {
        command.args(["-3", "aabbccdd", "-H", "0", "-A"]);
    }
    run_ok(command.arg(&unsigned));
    let dsset = if zone == "." {
        "dsset-.".to_string()
    } else {
        format!("dsset-{zone}.")
    };
    std::fs::read_to_string(dir.join(dsset)).unwrap()
}
