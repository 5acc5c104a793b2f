//! `pecwatch.toml` and its environment overrides, through [`Config::from_sources`]: nothing
//! here reads the real process environment.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::civil::Time;
use pecwatch::clock;
use pecwatch::config::{Config, ConfigError};
use pecwatch::probe::Resolution;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(var, value)| ((*var).to_owned(), (*value).to_owned()))
        .collect()
}

/// Loads `text` as if read from `/etc/pecwatch.toml`, with the given environment.
fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_sources(Some(text), Some(Path::new("/etc/pecwatch.toml")), env(vars))
}

/// Loads only the environment, with no file.
fn load_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_sources(None, None, env(vars))
}

/// The one-line message of a configuration that must fail.
fn error(result: Result<Config, ConfigError>) -> String {
    let error = result.expect_err("the configuration should be rejected");
    assert_eq!(error.exit_code(), 2, "{error}");
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_bytes())
        .expect("write temp file");
    file
}

fn example_profile() -> String {
    format!("{MANIFEST_DIR}/examples/profile.toml")
}

fn serialized(config: &Config) -> toml::Value {
    toml::Value::try_from(config).expect("serialize")
}

// ---------------------------------------------------------------------------------------
// Defaults, full file, the example
// ---------------------------------------------------------------------------------------

#[test]
fn defaults_with_no_file() {
    let config = load_env(&[]).unwrap();
    assert_eq!(config.provenance.file(), None);
    assert_eq!(config.database.url, "sqlite://pecwatch.db");
    assert_eq!(config.dns.resolver, "");
    assert_eq!(config.dns.root_hints, PathBuf::new());
    assert!(!config.dns.allow_private);
    assert!(config.dns.ipv6);
    assert_eq!(config.dns.timeout_ms, 800);
    assert_eq!(config.dns.attempts, 3);
    assert_eq!(config.dns.concurrency, 512);
    assert_eq!(config.check.profile, "aruba");
    assert!(config.profiles.is_empty());
    assert_eq!(config.lifecycle, pecwatch::lifecycle::Policy::default());
    assert_eq!(config.lifecycle.grace, SignedDuration::from_hours(7 * 24));
    assert_eq!(config.sweep.time, Time::constant(3, 0, 0, 0));
    assert_eq!(config.sweep.timezone, "Europe/Rome");
    assert_eq!(config.sweep.max_new_failure_share, 0.05);
    assert!(config.sweep.canaries.is_empty());
    assert_eq!(config.sweep.batch_size, 500);
    assert_eq!(config.sweep.lease, SignedDuration::from_mins(10));
    assert_eq!(config.sweep.recheck_pending, SignedDuration::from_mins(10));
    assert!(config.sweep.operators.is_empty());
    assert_eq!(config.smtp.url, "smtp://127.0.0.1:25");
    assert_eq!(config.smtp.from, "PEC monitor <noreply@localhost>");
    assert_eq!(config.smtp.username, None);
    assert_eq!(config.smtp.password, None);
    assert_eq!(config.smtp.password_file, None);
    assert_eq!(
        config.web.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(serialized(&config), serialized(&Config::default()));
    assert_eq!(config.default_profile().unwrap().name, "aruba");
    assert_eq!(
        config.sweep_time_zone().unwrap().iana_name(),
        Some("Europe/Rome")
    );
}

#[test]
fn full_file() {
    let hints = temp_file(". NS a.root.\na.root. A 192.0.2.53\na.root. AAAA 2001:db8::53\n");
    let text = format!(
        r#"
        [database]
        url = "postgres://pec:pw@db.example.it/pecwatch"

        [dns]
        root_hints = {hints:?}
        allow_private = true
        ipv6 = false
        timeout_ms = 300
        attempts = 2
        concurrency = 64

        [check]
        profile = "esempio"

        [profiles]
        esempio = {profile:?}

        [lifecycle]
        confirm_after = "30m"
        transient_confirmations = 4
        grace = "10d"
        expiry_warnings = [60, 14, 1]
        start_grace_at_queue = true

        [sweep]
        time = "04:30"
        timezone = "UTC"
        max_new_failure_share = 0.2
        canaries = ["PEC.Example.IT.", "cert.caffè.it"]
        batch_size = 100
        lease = "5m"
        recheck_pending = "90s"
        operators = ["noc@example.it", "Ops Team <ops@example.it>"]

        [smtp]
        url = "smtps://mail.example.it:465"
        from = "Gestore PEC <avvisi@example.it>"
        username = "pecwatch"
        password = "1234"

        [web]
        listen = "[::1]:9090"
        "#,
        hints = hints.path().display().to_string(),
        profile = example_profile(),
    );
    let config = load(&text, &[]).unwrap();
    assert_eq!(config.provenance.file(), Some("/etc/pecwatch.toml"));
    assert_eq!(
        config.redacted_database_url(),
        "postgres://pec:***@db.example.it/pecwatch"
    );
    assert!(config.dns.allow_private && !config.dns.ipv6);
    assert_eq!(
        (
            config.dns.timeout_ms,
            config.dns.attempts,
            config.dns.concurrency
        ),
        (300, 2, 64)
    );
    assert_eq!(config.default_profile().unwrap().name, "esempio");
    assert_eq!(config.profile("Aruba").unwrap().name, "aruba");
    assert_eq!(config.profile_names(), ["aruba", "esempio", "infocert"]);
    let policy = config.policy();
    assert_eq!(policy.confirm_after, SignedDuration::from_mins(30));
    assert_eq!(policy.transient_confirmations, 4);
    assert_eq!(policy.grace, SignedDuration::from_hours(240));
    assert_eq!(policy.expiry_warnings, [60, 14, 1]);
    assert!(policy.start_grace_at_queue);
    assert_eq!(config.sweep.time, Time::constant(4, 30, 0, 0));
    assert_eq!(config.sweep_time_zone().unwrap().iana_name(), Some("UTC"));
    assert_eq!(config.sweep.max_new_failure_share, 0.2);
    assert_eq!(
        config.sweep.canaries,
        ["pec.example.it", "cert.xn--caff-8oa.it"]
    );
    assert_eq!(config.canaries().unwrap().len(), 2);
    assert_eq!(config.sweep.batch_size, 100);
    assert_eq!(config.sweep.lease, SignedDuration::from_mins(5));
    assert_eq!(config.sweep.recheck_pending, SignedDuration::from_secs(90));
    assert_eq!(config.sweep.operators.len(), 2);
    assert_eq!(config.smtp.password.as_deref(), Some("1234"));
    assert_eq!(
        config.web.listen,
        "[::1]:9090".parse::<SocketAddr>().unwrap()
    );

    let probe = config.probe_config().unwrap();
    assert_eq!(
        probe.resolution,
        Resolution::Iterative(vec![
            "192.0.2.53".parse().unwrap(),
            "2001:db8::53".parse().unwrap()
        ])
    );
    assert!(probe.allow_private && !probe.ipv6);
    assert_eq!(
        probe.transport.timeout,
        std::time::Duration::from_millis(300)
    );
    assert_eq!(probe.transport.attempts, 2);
}

#[test]
fn example_file_is_valid_and_shows_the_defaults() {
    let path = PathBuf::from(MANIFEST_DIR).join("examples/pecwatch.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::from_sources(Some(&text), Some(&path), []).unwrap();
    // Every value written in the example is the real default.
    assert_eq!(serialized(&config), serialized(&Config::default()));
}

#[test]
fn example_file_documents_every_key() {
    let text = std::fs::read_to_string(format!("{MANIFEST_DIR}/examples/pecwatch.toml")).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let section_lines = |section: &str| -> Vec<&str> {
        let header = format!("[{section}]");
        let start = lines
            .iter()
            .position(|line| *line == header)
            .unwrap_or_else(|| panic!("the example has no {header} section"));
        lines[start + 1..]
            .iter()
            .take_while(|line| !line.starts_with('['))
            .copied()
            .collect()
    };
    for section in pecwatch::config::SECTIONS {
        section_lines(section);
    }
    let keys = Config::keys();
    assert!(keys.len() > 25, "{keys:?}");
    for (section, key) in keys {
        let body = section_lines(&section);
        let assignment = format!("{key} =");
        assert!(
            body.iter()
                .any(|line| line.trim_start_matches(['#', ' ']).starts_with(&assignment)),
            "the example does not show [{section}] {key}"
        );
        let var = Config::env_var(&section, &key);
        assert!(
            body.iter()
                .any(|line| line.starts_with('#') && line.contains(&var)),
            "the example does not name {var} in [{section}]"
        );
    }
    assert!(text.contains("PECWATCH_PROFILES_<NAME>"));
}

// ---------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------

#[test]
fn env_booleans() {
    for (value, expected) in [
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("yes", true),
        ("no", false),
        ("YES", true),
        (" off ", false),
    ] {
        let config = load_env(&[("PECWATCH_DNS_ALLOW_PRIVATE", value)]).unwrap();
        assert_eq!(config.dns.allow_private, expected, "{value:?}");
        let config = load_env(&[("PECWATCH_DNS_IPV6", value)]).unwrap();
        assert_eq!(config.dns.ipv6, expected, "{value:?}");
    }
}

#[test]
fn env_numbers_lists_durations_and_strings() {
    let config = load_env(&[
        ("PECWATCH_DNS_TIMEOUT_MS", "250"),
        ("PECWATCH_DNS_CONCURRENCY", " 2048 "),
        ("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "0.1"),
        (
            "PECWATCH_SWEEP_CANARIES",
            "pec.example.it, CERT.example.it ,",
        ),
        ("PECWATCH_SWEEP_OPERATORS", "noc@example.it,ops@example.it"),
        ("PECWATCH_LIFECYCLE_EXPIRY_WARNINGS", "60,14"),
        ("PECWATCH_LIFECYCLE_GRACE", "10d"),
        ("PECWATCH_LIFECYCLE_CONFIRM_AFTER", "PT2H"),
        ("PECWATCH_LIFECYCLE_START_GRACE_AT_QUEUE", "yes"),
        ("PECWATCH_SWEEP_LEASE", "30m"),
        ("PECWATCH_SWEEP_TIME", "05:15"),
        ("PECWATCH_SWEEP_TIMEZONE", "America/New_York"),
        ("PECWATCH_SMTP_USERNAME", "4321"),
        ("PECWATCH_SMTP_PASSWORD", "1234"),
        ("PECWATCH_SMTP_FROM", "avvisi@example.it"),
        ("PECWATCH_DATABASE_URL", "postgres://u:p@localhost/pec"),
        ("PECWATCH_DNS_RESOLVER", "127.0.0.1:5353"),
        ("PECWATCH_WEB_LISTEN", "0.0.0.0:80"),
        ("PECWATCH_CHECK_PROFILE", "infocert"),
    ])
    .unwrap();
    assert_eq!(config.dns.timeout_ms, 250);
    assert_eq!(config.dns.concurrency, 2048);
    assert_eq!(config.sweep.max_new_failure_share, 0.1);
    assert_eq!(config.sweep.canaries, ["pec.example.it", "cert.example.it"]);
    assert_eq!(config.sweep.operators, ["noc@example.it", "ops@example.it"]);
    assert_eq!(config.lifecycle.expiry_warnings, [60, 14]);
    assert_eq!(config.lifecycle.grace, SignedDuration::from_hours(240));
    assert_eq!(
        config.lifecycle.confirm_after,
        SignedDuration::from_hours(2)
    );
    assert!(config.lifecycle.start_grace_at_queue);
    assert_eq!(config.sweep.lease, SignedDuration::from_mins(30));
    assert_eq!(config.sweep.time, Time::constant(5, 15, 0, 0));
    assert_eq!(config.sweep.timezone, "America/New_York");
    // Strings that look like numbers stay strings.
    assert_eq!(config.smtp.username.as_deref(), Some("4321"));
    assert_eq!(config.smtp.password.as_deref(), Some("1234"));
    assert_eq!(config.smtp.from, "avvisi@example.it");
    assert_eq!(config.database.url, "postgres://u:p@localhost/pec");
    assert_eq!(
        config.web.listen,
        "0.0.0.0:80".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.default_profile().unwrap().name, "infocert");
    assert_eq!(
        config.probe_config().unwrap().resolution,
        Resolution::Recursive("127.0.0.1:5353".parse().unwrap())
    );
}

#[test]
fn env_overrides_the_file_and_empty_lists() {
    let text = "[sweep]\ncanaries = [\"pec.example.it\"]\n[dns]\ntimeout_ms = 100\n";
    let config = load(
        text,
        &[
            ("PECWATCH_SWEEP_CANARIES", ""),
            ("PECWATCH_DNS_TIMEOUT_MS", "200"),
        ],
    )
    .unwrap();
    assert!(config.sweep.canaries.is_empty());
    assert_eq!(config.dns.timeout_ms, 200);
    assert_eq!(
        config.provenance.origin("dns", "timeout_ms"),
        "PECWATCH_DNS_TIMEOUT_MS"
    );
    assert_eq!(
        config.provenance.origin("sweep", "time"),
        "(built-in default)"
    );
}

#[test]
fn env_profiles() {
    let config = load_env(&[
        ("PECWATCH_PROFILES_ESEMPIO", &example_profile()),
        ("PECWATCH_CHECK_PROFILE", "esempio"),
    ])
    .unwrap();
    assert_eq!(
        config.profiles.get("esempio"),
        Some(&PathBuf::from(example_profile()))
    );
    assert_eq!(config.default_profile().unwrap().name, "esempio");

    let message = error(load_env(&[(
        "PECWATCH_PROFILES_BROKEN",
        "/nonexistent/p.toml",
    )]));
    assert!(message.contains("PECWATCH_PROFILES_BROKEN"), "{message}");
    assert!(message.contains("[profiles] broken"), "{message}");
}

#[test]
fn other_pecwatch_variables_are_ignored() {
    let config = load_env(&[
        ("PECWATCH_NOW", "not a time at all"),
        ("PECWATCH_LOG", "debug"),
        ("PECWATCH_CONFIG", "/nonexistent.toml"),
        ("PECWATCH_LAB_RESOLVER", "x"),
        ("PECWATCH_FUZZ_SECONDS", "x"),
        ("PECWATCH", "x"),
        ("DNS_RESOLVER", "garbage"),
        ("pecwatch_dns_resolver", "garbage"),
    ])
    .unwrap();
    assert_eq!(serialized(&config), serialized(&Config::default()));
}

#[test]
fn unknown_key_in_a_known_env_section() {
    let message = error(load_env(&[("PECWATCH_DNS_RESOLVR", "127.0.0.1")]));
    assert!(
        message.starts_with("invalid configuration PECWATCH_DNS_RESOLVR: "),
        "{message}"
    );
    assert!(
        message.contains("[dns] has no key \"resolvr\""),
        "{message}"
    );
    assert!(message.contains("resolver"), "{message}");
    let message = error(load_env(&[("PECWATCH_SMTP", "x")]));
    assert!(message.contains("PECWATCH_SMTP"), "{message}");
}

#[test]
fn wrong_env_types_name_the_variable() {
    for (var, value, expected) in [
        ("PECWATCH_DNS_IPV6", "maybe", "expected true or false"),
        ("PECWATCH_DNS_ATTEMPTS", "three", "expected an integer"),
        ("PECWATCH_DNS_ATTEMPTS", "-1", "u32"),
        (
            "PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE",
            "lots",
            "expected a number",
        ),
        (
            "PECWATCH_LIFECYCLE_EXPIRY_WARNINGS",
            "30,soon",
            "expected an integer",
        ),
        ("PECWATCH_LIFECYCLE_GRACE", "soon", "invalid duration"),
        ("PECWATCH_SWEEP_TIME", "25:00", "invalid time"),
        ("PECWATCH_WEB_LISTEN", "localhost", "socket address"),
    ] {
        let message = error(load_env(&[(var, value)]));
        assert!(
            message.starts_with(&format!("invalid configuration {var}: ")),
            "{message}"
        );
        assert!(message.contains(expected), "{var}={value}: {message}");
    }
}

// ---------------------------------------------------------------------------------------
// Bad files and values
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_key_in_the_file() {
    let message = error(load(
        "[dns]\nresolver = \"\"\nresolvr = \"127.0.0.1\"\n",
        &[],
    ));
    assert!(
        message.starts_with("invalid configuration /etc/pecwatch.toml: line 3 ([dns] resolvr)"),
        "{message}"
    );
    assert!(message.contains("unknown field `resolvr`"), "{message}");

    let message = error(load("[dsn]\nresolver = \"\"\n", &[]));
    assert!(message.contains("unknown field `dsn`"), "{message}");
    let message = error(load("[lifecycle]\ngrace_days = 7\n", &[]));
    assert!(message.contains("grace_days"), "{message}");
}

#[test]
fn wrong_types_in_the_file() {
    for (text, expected) in [
        ("[dns]\nattempts = \"three\"\n", "[dns] attempts"),
        ("[dns]\nipv6 = \"yes\"\n", "[dns] ipv6"),
        (
            "[sweep]\ncanaries = \"pec.example.it\"\n",
            "[sweep] canaries",
        ),
        ("[lifecycle]\ngrace = 7\n", "[lifecycle] grace"),
        ("[web]\nlisten = \"everywhere\"\n", "[web] listen"),
        ("dns = 3\n", "line 1"),
        ("[dns\n", "line 1"),
    ] {
        let message = error(load(text, &[]));
        assert!(message.contains("/etc/pecwatch.toml"), "{message}");
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}

#[test]
fn out_of_range_values() {
    assert_eq!(
        error(load("[sweep]\nmax_new_failure_share = 1.5\n", &[])),
        "invalid configuration /etc/pecwatch.toml: [sweep] max_new_failure_share = 1.5: \
         must be between 0 and 1"
    );
    let message = error(load_env(&[(
        "PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE",
        "-0.1",
    )]));
    assert_eq!(
        message,
        "invalid configuration PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE: \
         [sweep] max_new_failure_share = -0.1: must be between 0 and 1"
    );
    let message = error(load_env(&[("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "NaN")]));
    assert!(message.contains("must be between 0 and 1"), "{message}");
    for (text, expected) in [
        (
            "[dns]\ntimeout_ms = 0\n",
            "[dns] timeout_ms = 0: must be between 1 and 60000",
        ),
        (
            "[dns]\nattempts = 11\n",
            "[dns] attempts = 11: must be between 1 and 10",
        ),
        ("[dns]\nconcurrency = 0\n", "[dns] concurrency = 0"),
        (
            "[sweep]\nbatch_size = 0\n",
            "[sweep] batch_size = 0: must be at least 1",
        ),
        ("[sweep]\nlease = \"0s\"\n", "[sweep] lease"),
        (
            "[sweep]\nrecheck_pending = \"-5m\"\n",
            "[sweep] recheck_pending",
        ),
        (
            "[lifecycle]\ntransient_confirmations = 0\n",
            "[lifecycle] transient_confirmations = 0: must be at least 1",
        ),
        (
            "[lifecycle]\nexpiry_warnings = [30, -7]\n",
            "[lifecycle] expiry_warnings",
        ),
    ] {
        let message = error(load(text, &[]));
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}

#[test]
fn bad_time_zone() {
    let message = error(load("[sweep]\ntimezone = \"Europe/Roma\"\n", &[]));
    assert!(
        message.starts_with(
            "invalid configuration /etc/pecwatch.toml: [sweep] timezone = \"Europe/Roma\": "
        ),
        "{message}"
    );
}

#[test]
fn bad_time_of_day() {
    let message = error(load("[sweep]\ntime = \"25:00\"\n", &[]));
    assert!(message.contains("line 2 ([sweep] time)"), "{message}");
    assert!(message.contains("\"25:00\""), "{message}");
    for bad in ["3", "noon", "12:60", "03:00 PM"] {
        error(load(&format!("[sweep]\ntime = {bad:?}\n"), &[]));
    }
}

#[test]
fn bad_canary() {
    let message = error(load(
        "[sweep]\ncanaries = [\"pec.example.it\", \"http://x.it\"]\n",
        &[],
    ));
    assert!(
        message.contains("[sweep] canaries = \"http://x.it\""),
        "{message}"
    );
    assert!(message.contains("URL"), "{message}");
    error(load_env(&[(
        "PECWATCH_SWEEP_CANARIES",
        "pec.example.it,192.0.2.1",
    )]));
}

#[test]
fn bad_addresses_and_names() {
    for (text, expected) in [
        ("[dns]\nresolver = \"resolver.example\"\n", "[dns] resolver"),
        (
            "[database]\nurl = \"mysql://u:hunter2@h/db\"\n",
            "[database] url",
        ),
        ("[smtp]\nurl = \"http://mail\"\n", "[smtp] url"),
        ("[smtp]\nfrom = \"nobody\"\n", "[smtp] from"),
        ("[sweep]\noperators = [\"noc\"]\n", "[sweep] operators"),
        (
            "[check]\nprofile = \"nessuno\"\n",
            "[check] profile = \"nessuno\"",
        ),
        ("[profiles]\nx = \"/nonexistent/x.toml\"\n", "[profiles] x"),
        (
            "[profiles]\nEsempio = \"/nonexistent/x.toml\"\n",
            "lower-case",
        ),
    ] {
        let message = error(load(text, &[]));
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn resolver_and_root_hints_are_exclusive() {
    let hints = temp_file("a.root. A 192.0.2.53\n");
    let text = format!(
        "[dns]\nresolver = \"127.0.0.1\"\nroot_hints = {:?}\n",
        hints.path().display().to_string()
    );
    let message = error(load(&text, &[]));
    assert!(message.contains("not both"), "{message}");
    // Clearing one from the environment resolves it.
    let config = load(&text, &[("PECWATCH_DNS_RESOLVER", "")]).unwrap();
    assert!(matches!(
        config.probe_config().unwrap().resolution,
        Resolution::Iterative(_)
    ));
    let message = error(load("[dns]\nroot_hints = \"/nonexistent/hints\"\n", &[]));
    assert!(message.contains("[dns] root_hints"), "{message}");
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let path = PathBuf::from(MANIFEST_DIR).join("examples/not-a-real-file.toml");
    let text = "[profiles]\nesempio = \"profile.toml\"\n[check]\nprofile = \"esempio\"\n";
    let config = Config::from_sources(Some(text), Some(&path), []).unwrap();
    assert_eq!(
        config.profiles["esempio"],
        PathBuf::from(MANIFEST_DIR).join("examples/profile.toml")
    );
    assert_eq!(config.default_profile().unwrap().name, "esempio");
}

#[test]
fn system_resolver_from_resolv_conf() {
    let config = load_env(&[]).unwrap();
    let resolv = temp_file("# comment\nsearch example.it\nnameserver 192.0.2.53\n");
    assert_eq!(
        config.probe_config_with(resolv.path()).unwrap().resolution,
        Resolution::Recursive("192.0.2.53:53".parse().unwrap())
    );
    let empty = temp_file("search example.it\n");
    let error = config.probe_config_with(empty.path()).unwrap_err();
    assert_eq!(error.exit_code(), 3, "{error}");
}

#[test]
fn unknown_profile_lookup() {
    let config = load_env(&[]).unwrap();
    let error = config.profile("nessuno").unwrap_err();
    assert!(matches!(error, ConfigError::UnknownProfile { .. }));
    assert!(error.to_string().contains("aruba, infocert"), "{error}");
}

#[test]
fn missing_config_file_is_an_error() {
    let error = Config::load(Some(Path::new("/nonexistent/pecwatch.toml"))).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.starts_with("cannot read configuration /nonexistent/pecwatch.toml: "),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

#[test]
fn password_and_password_file_are_exclusive() {
    let secret = temp_file("s3cret\n");
    let text = format!(
        "[smtp]\nusername = \"u\"\npassword = \"1234\"\npassword_file = {:?}\n",
        secret.path().display().to_string()
    );
    let message = error(load(&text, &[]));
    assert!(message.contains("[smtp] password_file"), "{message}");
    assert!(message.contains("[smtp] password"), "{message}");
    assert!(!message.contains("1234"), "{message}");

    let message = error(load(
        "[smtp]\nusername = \"u\"\npassword = \"1234\"\n",
        &[(
            "PECWATCH_SMTP_PASSWORD_FILE",
            &secret.path().display().to_string(),
        )],
    ));
    assert!(message.contains("PECWATCH_SMTP_PASSWORD_FILE"), "{message}");
}

#[test]
fn password_file_is_read() {
    let secret = temp_file("s3cret 1234\r\n");
    let path = secret.path().display().to_string();
    let config = load_env(&[
        ("PECWATCH_SMTP_USERNAME", "pecwatch"),
        ("PECWATCH_SMTP_PASSWORD_FILE", &path),
    ])
    .unwrap();
    assert_eq!(config.smtp.password.as_deref(), Some("s3cret 1234"));
    assert_eq!(config.smtp.password_file, Some(PathBuf::from(&path)));

    let empty = temp_file("\n");
    let message = error(load_env(&[
        ("PECWATCH_SMTP_USERNAME", "pecwatch"),
        (
            "PECWATCH_SMTP_PASSWORD_FILE",
            &empty.path().display().to_string(),
        ),
    ]));
    assert!(message.contains("empty"), "{message}");
    let message = error(load_env(&[(
        "PECWATCH_SMTP_PASSWORD_FILE",
        "/nonexistent/secret",
    )]));
    assert!(message.contains("/nonexistent/secret"), "{message}");
    let message = error(load_env(&[("PECWATCH_SMTP_PASSWORD", "1234")]));
    assert!(message.contains("username"), "{message}");
    assert!(!message.contains("1234"), "{message}");
}

#[test]
fn debug_output_redacts_secrets() {
    let config = load_env(&[
        (
            "PECWATCH_DATABASE_URL",
            "postgres://pec:dbS3cret@db.example.it/pecwatch",
        ),
        (
            "PECWATCH_SMTP_URL",
            "smtp://relay:urlS3cret@mail.example.it:587",
        ),
        ("PECWATCH_SMTP_USERNAME", "pecwatch"),
        ("PECWATCH_SMTP_PASSWORD", "smtpS3cret"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    for secret in ["dbS3cret", "urlS3cret", "smtpS3cret"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    assert!(
        debug.contains("postgres://pec:***@db.example.it/pecwatch"),
        "{debug}"
    );
    assert!(debug.contains("pecwatch"), "{debug}");
    assert_eq!(
        config.redacted_database_url(),
        "postgres://pec:***@db.example.it/pecwatch"
    );
    let shown = toml::to_string(&config.redacted()).unwrap();
    for secret in ["dbS3cret", "urlS3cret", "smtpS3cret"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    // The real values are still there for use.
    assert_eq!(config.smtp.password.as_deref(), Some("smtpS3cret"));
}

// ---------------------------------------------------------------------------------------
// PECWATCH_NOW
// ---------------------------------------------------------------------------------------

#[test]
fn pecwatch_now_valid() {
    let now = clock::now_from(Some("2026-11-23T03:00:00+01:00")).unwrap();
    assert_eq!(now, "2026-11-23T02:00:00Z".parse().unwrap());
    assert_eq!(clock::now_from(Some("2026-11-23T02:00:00Z")).unwrap(), now);
    assert!(clock::now_from(None).is_ok());
}

#[test]
fn pecwatch_now_invalid() {
    for bad in [
        "2026-11-23 03:00",
        "2026-11-23",
        "ieri",
        "2026-02-30T00:00:00Z",
    ] {
        let message = clock::now_from(Some(bad)).unwrap_err().to_string();
        assert!(message.starts_with("invalid PECWATCH_NOW"), "{message}");
        assert!(message.contains("RFC 3339"), "{message}");
    }
}
