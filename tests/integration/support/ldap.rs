//! A throwaway OpenLDAP server for the tests: Debian's `slapd` (packages `slapd`,
//! `ldap-utils`, installed by `scripts/setup`) in a temporary directory of its own.
//!
//! Its configuration is a cn=config directory built with `slapadd -n0` from a generated
//! LDIF: the `back_mdb` module, the core schema (`/etc/ldap/schema/core.ldif`), our RFC
//! 6109 schema (`schema/rfc6109.ldif`), and one mdb database whose suffix is the index's
//! base DN, with a root DN and password to write with. It listens only on
//! `ldap://127.0.0.1:<free port>`, logs (`-d stats`) to a file that every failure message
//! includes, and is stopped (SIGTERM, then SIGKILL) when the [`Slapd`] is dropped, even
//! when the test fails. The system's slapd configuration is never touched.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::lab::repo;

/// The password of the root DN (`cn=admin,<suffix>`, `olcRootPW`, plain text: the
/// server lives for one test).
pub const ROOT_PASSWORD: &str = "segreto";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SLAPTEST: &str = "/usr/sbin/slaptest";
/// How many times readiness is polled, [`POLL`] apart, before giving up.
const READY_ATTEMPTS: u32 = 300;
const POLL: Duration = Duration::from_millis(50);

/// A running slapd; stopped when dropped.
pub struct Slapd {
    /// `ldap://127.0.0.1:PORT`.
    pub url: String,
    /// The database's suffix (the index's base DN).
    pub suffix: String,
    dir: TempDir,
    child: Option<Child>,
}

impl Slapd {
    /// Configures and starts a slapd whose database holds `suffix` (a single `o=…` RDN,
    /// like the index's default `o=postacert`), creates the suffix's entry, and waits
    /// until it answers. Panics, with slapd's log, if it cannot.
    pub fn start(suffix: &str) -> Self {
        let organization = suffix
            .strip_prefix("o=")
            .filter(|o| !o.is_empty() && !o.contains([',', '+', '=']))
            .unwrap_or_else(|| panic!("test slapd: the suffix must be one o=… RDN: {suffix}"));
        let dir = tempfile::tempdir().expect("temporary directory");
        for sub in ["slapd.d", "db"] {
            fs::create_dir(dir.path().join(sub)).expect("create slapd's directories");
        }
        let config = dir.path().join("config.ldif");
        fs::write(&config, config_ldif(dir.path(), suffix)).expect("write config.ldif");
        let slapd_d = dir.path().join("slapd.d");
        let built = Command::new(SLAPADD)
            .arg("-n0")
            .arg("-F")
            .arg(&slapd_d)
            .arg("-l")
            .arg(&config)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SLAPADD} (scripts/setup installs slapd): {e}"));
        assert!(
            built.status.success(),
            "slapadd -n0 refused the generated configuration {}:\n{}",
            config.display(),
            text(&built)
        );

        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let log = fs::File::create(dir.path().join("slapd.log")).expect("slapd.log");
        let child = Command::new(SLAPD)
            // -d keeps it in the foreground (a child we can stop) and logs to stderr.
            .args(["-d", "stats", "-h", &format!("{url}/"), "-F"])
            .arg(&slapd_d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("slapd.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SLAPD}: {e}"));
        let mut slapd = Slapd {
            url,
            suffix: suffix.to_owned(),
            dir,
            child: Some(child),
        };
        slapd.wait_ready();
        let base = format!("dn: {suffix}\nobjectClass: organization\no: {organization}\n");
        let added = slapd.ldapadd(&base);
        slapd.expect_success(&added, "ldapadd of the suffix's entry");
        slapd
    }

    /// slapd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// The cn=config directory slapd runs on.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("slapd.d")
    }

    /// Panics with the command's output and slapd's log unless `output` is a success.
    pub fn expect_success(&self, output: &Output, what: &str) {
        assert!(
            output.status.success(),
            "{what} failed:\n{}\n--- slapd log ---\n{}",
            text(output),
            self.log()
        );
    }

    /// `ldapadd` of `ldif` as the root DN; the output, whatever the outcome.
    pub fn ldapadd(&self, ldif: &str) -> Output {
        self.write_with("ldapadd", ldif)
    }

    /// `ldapmodify` of `ldif` (records with `changetype`) as the root DN.
    pub fn ldapmodify(&self, ldif: &str) -> Output {
        self.write_with("ldapmodify", ldif)
    }

    fn write_with(&self, tool: &str, ldif: &str) -> Output {
        let file = tempfile::NamedTempFile::new_in(self.dir.path()).expect("LDIF file");
        fs::write(file.path(), ldif).expect("write the LDIF");
        ldap_tool(tool)
            .args(["-x", "-H", &self.url, "-D", &root_dn(&self.suffix)])
            .args(["-w", ROOT_PASSWORD, "-f"])
            .arg(file.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {tool} (scripts/setup installs ldap-utils): {e}")
            })
    }

    /// `ldapsearch` (anonymous, subtree under the suffix) for `filter`: the entries as
    /// LDIF, unwrapped, without comments. Panics, with slapd's log, if the search fails.
    pub fn search(&self, filter: &str, attributes: &[&str]) -> String {
        let output = ldap_tool("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url, "-b"])
            .arg(&self.suffix)
            .arg(filter)
            .args(attributes)
            .output()
            .expect("run ldapsearch");
        self.expect_success(&output, &format!("ldapsearch {filter}"));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Polls the root DSE until slapd answers; panics with its log if it exits or never
    /// answers.
    fn wait_ready(&mut self) {
        for _ in 0..READY_ATTEMPTS {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "slapd exited at start ({status}):\n--- slapd log ---\n{}",
                    self.log()
                );
            }
            let probe = ldap_tool("ldapsearch")
                .args(["-x", "-o", "nettimeout=1", "-H", &self.url])
                .args(["-b", "", "-s", "base", "namingContexts"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if probe.is_ok_and(|status| status.success()) {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "slapd did not answer on {} after {} attempts:\n--- slapd log ---\n{}",
            self.url,
            READY_ATTEMPTS,
            self.log()
        );
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The schema entry slapd makes of the classic `schema/rfc6109.schema` (converted with
/// `slaptest -f … -F …`, after core.schema), to compare with the one it makes of
/// `schema/rfc6109.ldif`.
pub fn convert_classic_schema() -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let conf = dir.path().join("slapd.conf");
    fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\ninclude {}\n",
            repo().join("schema/rfc6109.schema").display()
        ),
    )
    .expect("write slapd.conf");
    let out = dir.path().join("slapd.d");
    fs::create_dir(&out).expect("slapd.d");
    let converted = Command::new(SLAPTEST)
        .arg("-f")
        .arg(&conf)
        .arg("-F")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SLAPTEST}: {e}"));
    assert!(
        converted.status.success(),
        "slaptest refused schema/rfc6109.schema:\n{}",
        text(&converted)
    );
    schema_entry(&out)
}

/// The RFC 6109 schema entry of a cn=config directory (`cn={N}rfc6109`): its attribute
/// types and object classes, unfolded, as slapd normalised them.
pub fn schema_entry(config_dir: &Path) -> String {
    let schemas = config_dir.join("cn=config").join("cn=schema");
    let file = fs::read_dir(&schemas)
        .unwrap_or_else(|e| panic!("{}: {e}", schemas.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with("rfc6109.ldif"))
        .unwrap_or_else(|| panic!("no rfc6109 schema entry in {}", schemas.display()));
    let ldif = fs::read_to_string(&file).expect("the schema entry");
    pecwatch::index::parse_attributes(&ldif)
        .into_iter()
        .filter(|(name, _)| name == "olcAttributeTypes" || name == "olcObjectClasses")
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(&value)))
        .collect()
}

/// The cn=config LDIF of a test slapd living in `dir`.
fn config_ldif(dir: &Path, suffix: &str) -> String {
    let read = |path: &Path| {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    };
    let core = read(Path::new("/etc/ldap/schema/core.ldif"));
    let rfc6109 = read(&repo().join("schema/rfc6109.ldif"));
    let dir = dir.display();
    let root_dn = root_dn(suffix);
    format!(
        "dn: cn=config\n\
         objectClass: olcGlobal\n\
         cn: config\n\
         olcPidFile: {dir}/slapd.pid\n\
         olcArgsFile: {dir}/slapd.args\n\
         \n\
         dn: cn=module{{0}},cn=config\n\
         objectClass: olcModuleList\n\
         cn: module{{0}}\n\
         olcModulePath: /usr/lib/ldap\n\
         olcModuleLoad: back_mdb\n\
         \n\
         dn: cn=schema,cn=config\n\
         objectClass: olcSchemaConfig\n\
         cn: schema\n\
         \n\
         {core}\n\
         {rfc6109}\n\
         dn: olcDatabase={{0}}config,cn=config\n\
         objectClass: olcDatabaseConfig\n\
         olcDatabase: {{0}}config\n\
         \n\
         dn: olcDatabase={{1}}mdb,cn=config\n\
         objectClass: olcDatabaseConfig\n\
         objectClass: olcMdbConfig\n\
         olcDatabase: {{1}}mdb\n\
         olcDbDirectory: {dir}/db\n\
         olcSuffix: {suffix}\n\
         olcRootDN: {root_dn}\n\
         olcRootPW: {ROOT_PASSWORD}\n\
         olcDbIndex: objectClass eq\n\
         olcDbIndex: managedDomains eq\n"
    )
}

/// The DN that may write everything (`olcRootDN`).
fn root_dn(suffix: &str) -> String {
    format!("cn=admin,{suffix}")
}

/// An ldap-utils command that reads no `ldap.conf` or `.ldaprc`.
fn ldap_tool(tool: &str) -> Command {
    let mut command = Command::new(tool);
    command.env("LDAPNOINIT", "1");
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
