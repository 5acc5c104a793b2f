//! Running the real `pecwatch web` (or `serve`) on a free loopback port, and talking to it
//! over real TCP with reqwest.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cli::pecwatch;

/// A free TCP port on 127.0.0.1 (bound and released: another process could take it in
/// between, which the tests accept).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A running server, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server with SIGTERM and returns its exit status and standard error.
    pub fn stop(mut self) -> (Option<i32>, String) {
        terminate(&self.child);
        let status = self.child.wait().expect("wait for pecwatch");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), stderr)
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `pecwatch web` on the registry `url` at `now` (a running clock from there),
/// with extra environment, and waits until `/healthz` answers.
pub async fn start(url: &str, now: &str, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = pecwatch(url, Some(now), &["web", "--listen", &listen], env);
    spawn(&mut command, port).await
}

/// Starts a prepared command that serves the web interface on `port`, and waits until
/// `/healthz` answers (any status: the database may be down on purpose).
pub async fn spawn(command: &mut Command, port: u16) -> Server {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pecwatch");
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = client();
    for _ in 0..600 {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("pecwatch exited with {status} before serving: {stderr}");
        }
        if client.get(server.url("/healthz")).send().await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pecwatch did not serve {} in time", server.base);
}

/// An HTTP client (no proxy from the environment: everything is on loopback). Each
/// request on a connection of its own: a server that closes a connection after an
/// error answer (a body over the limit) must not fail the next request on it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// Makes an API token with `pecwatch tokens add` and returns it.
pub fn token(url: &str, now: &str, name: &str, role: &str) -> String {
    let output = pecwatch(
        url,
        Some(now),
        &["tokens", "add", name, "--role", role],
        &[],
    )
    .output()
    .expect("run pecwatch tokens add");
    assert!(output.status.success(), "tokens add: {output:?}");
    let token = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned();
    assert!(token.starts_with("pw_"), "{token}");
    token
}

/// Checks that `text` is valid Prometheus text exposition (0.0.4), line by line, and
/// returns its samples by series (`name{labels}` as written).
pub fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    fn is_name(name: &str, colons: bool) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
    }
    let mut samples = BTreeMap::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    assert!(
        text.ends_with('\n'),
        "the exposition must end with a new line"
    );
    for (number, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", number + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.first() {
                Some(&"TYPE") => {
                    assert_eq!(words.len(), 3, "{at}");
                    assert!(is_name(words[1], true), "{at}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&words[2]),
                        "{at}"
                    );
                    assert!(
                        typed
                            .insert(words[1].to_owned(), words[2].to_owned())
                            .is_none(),
                        "TYPE twice, {at}"
                    );
                    assert!(
                        !samples
                            .keys()
                            .any(|series: &String| series.split('{').next() == Some(words[1])),
                        "TYPE after samples, {at}"
                    );
                }
                Some(&"HELP") => {
                    assert!(words.len() >= 2 && is_name(words[1], true), "{at}");
                }
                _ => {}
            }
            continue;
        }
        // name{labels} value [timestamp]
        let (series, rest) = match line.find('{') {
            Some(open) if open < line.find(' ').unwrap_or(usize::MAX) => {
                let name = &line[..open];
                assert!(is_name(name, true), "{at}");
                // Walk the labels: name="value" with \\, \" and \n escapes.
                let bytes: Vec<char> = line[open + 1..].chars().collect();
                let mut i = 0;
                loop {
                    if bytes.get(i) == Some(&'}') {
                        i += 1;
                        break;
                    }
                    let start = i;
                    while bytes.get(i).is_some_and(|c| *c != '=') {
                        i += 1;
                    }
                    let label: String = bytes[start..i].iter().collect();
                    assert!(is_name(&label, false), "label {label:?}, {at}");
                    assert_eq!(bytes.get(i + 1), Some(&'"'), "{at}");
                    i += 2;
                    loop {
                        match bytes.get(i) {
                            Some('\\') => {
                                assert!(matches!(bytes.get(i + 1), Some('\\' | '"' | 'n')), "{at}");
                                i += 2;
                            }
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\n') | None => panic!("unterminated label value, {at}"),
                            Some(_) => i += 1,
                        }
                    }
                    match bytes.get(i) {
                        Some(',') => i += 1,
                        Some('}') => {}
                        _ => panic!("expected , or }} after a label, {at}"),
                    }
                }
                let consumed: String = bytes[..i].iter().collect();
                (
                    format!("{name}{{{consumed}"),
                    bytes[i..].iter().collect::<String>(),
                )
            }
            _ => {
                let (name, rest) = line.split_once(' ').unwrap_or_else(|| panic!("{at}"));
                assert!(is_name(name, true), "{at}");
                (name.to_owned(), format!(" {rest}"))
            }
        };
        let fields: Vec<&str> = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value, {at}"))
            .split(' ')
            .collect();
        assert!((1..=2).contains(&fields.len()), "{at}");
        let value = match fields[0] {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            number => number.parse().unwrap_or_else(|_| panic!("bad value, {at}")),
        };
        if let Some(timestamp) = fields.get(1) {
            timestamp
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp, {at}"));
        }
        let family = series.split('{').next().unwrap_or_default().to_owned();
        assert!(typed.contains_key(&family), "sample before its TYPE, {at}");
        assert!(
            samples.insert(series, value).is_none(),
            "series twice, {at}"
        );
    }
    samples
}
