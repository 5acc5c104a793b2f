//! The real DNS lab: brought up once per test run by `lab/lab.sh up` (idempotent, locked),
//! left running for the other tests; `lab/lab.sh down` stops it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Addresses and files of the running lab.
#[derive(Debug)]
pub struct Lab {
    /// The lab's recursive resolver (Unbound).
    pub resolver: String,
    /// Root hints for iterative resolution from the lab's root.
    pub root_hints: PathBuf,
    /// The run directory (each instance's files, its knotc socket).
    pub dir: PathBuf,
}

impl Lab {
    /// Runs `knotc` against a Knot instance of the lab (`ns1`, `ns2`, …) and panics if it
    /// fails: for tests that change zones at run time (in memory only).
    pub fn knotc(&self, instance: &str, args: &[&str]) {
        let socket = self.dir.join(instance).join("knot.sock");
        let output = Command::new("knotc")
            .arg("-s")
            .arg(&socket)
            .args(args)
            .output()
            .expect("run knotc");
        assert!(
            output.status.success(),
            "knotc {args:?} on {instance} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the lab if needed and returns it. Panics (failing the test) if it cannot start.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let script = repo().join("lab/lab.sh");
        let status = Command::new("bash")
            .arg(&script)
            .arg("up")
            .status()
            .expect("run lab/lab.sh up");
        assert!(status.success(), "lab/lab.sh up failed");
        let env = Command::new("bash")
            .arg(&script)
            .arg("env")
            .output()
            .expect("run lab/lab.sh env");
        let text = String::from_utf8_lossy(&env.stdout).to_string();
        let value = |key: &str| {
            text.lines()
                .find_map(|line| {
                    line.trim_start_matches("export ")
                        .strip_prefix(&format!("{key}="))
                        .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
                })
                .unwrap_or_else(|| panic!("{key} missing from lab/lab.sh env: {text}"))
        };
        Lab {
            resolver: value("PECWATCH_LAB_RESOLVER"),
            root_hints: PathBuf::from(value("PECWATCH_LAB_ROOT_HINTS")),
            dir: PathBuf::from(value("PECWATCH_LAB_DIR")),
        }
    })
}

/// The lab's aruba profile: Aruba's PEC mail host with the lab's provider name servers
/// (dns1/dns2.aruba.it), so that zones on the provider's DNS are recognised.
pub fn lab_profile() -> PathBuf {
    repo().join("tests/fixtures/lab/profiles/aruba-lab.toml")
}

/// The provider's primary in the lab (dns1.aruba.it), which accepts TSIG-signed UPDATEs.
pub const PROVIDER_PRIMARY: &str = "127.53.2.1:53";
/// The provider's secondary in the lab (dns2.aruba.it).
pub const PROVIDER_SECONDARY: &str = "127.53.2.2:53";
/// The customer's primary in the lab (dyn.cliente.it, zone delega.it), which accepts
/// UPDATEs signed with the customer's test key.
pub const CUSTOMER_PRIMARY: &str = "127.53.1.7:53";

/// A test-only TSIG key file of the lab: `dns1/pecwatch-lab-test-only.key`, …
pub fn lab_key(path: &str) -> PathBuf {
    repo().join("tests/fixtures/lab/tsig").join(path)
}

impl Lab {
    /// Where dns1 loads its catalog members from (`<zone>.zone`): the provisioning's
    /// `[provision] zone_dir` in the lab.
    pub fn member_dir(&self) -> PathBuf {
        self.dir.join("dns1").join("members")
    }
}
