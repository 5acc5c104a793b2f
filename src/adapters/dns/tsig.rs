//! TSIG (RFC 8945): shared-secret authentication of DNS messages, for the UPDATEs that
//! provision the provider's zones ([`super::update`]).
//!
//! # Why it is written here
//!
//! It was written when hickory-proto's TSIG signing and verifying needed its
//! `dnssec-ring` feature, a whole DNSSEC stack for two HMACs. TSIG itself is small (RFC
//! 8945 §4–5): an HMAC over the message as sent plus a few "TSIG variables", carried in a
//! last additional record. So it is implemented here with the `hmac` and `sha2` crates,
//! working on the exact bytes on the wire: the MAC of a response is computed over the
//! bytes received, never over a re-encoding (which could compress names differently).
//!
//! That reason is gone: DNSSEC validation ([`crate::dnssec`]) now enables hickory-proto's
//! `dnssec-ring` feature (Cargo.toml), and with it `hickory_proto::rr::TSigner`, which signs
//! messages (`sign_message`) and verifies responses on their received bytes
//! (`verify_message_byte`) with HMAC-SHA256/384/512, the algorithms offered here. Moving
//! to it is left for later (issue 15 keeps this module as it is); it must keep what this
//! module checks below, the fudge window and the refusal of truncated MACs included.
//!
//! # What is checked in a response (RFC 8945 §5.3, §5.4)
//!
//! [`verify_response`] requires a TSIG record, last in the additional section and nowhere
//! else; the request's key name and algorithm; a full-length MAC (truncated MACs, RFC 8945
//! §5.2.2.1, are refused: Knot, BIND and NSD send full ones); the MAC over the request's
//! MAC, the response with the TSIG record removed (ARCOUNT decremented, the original id
//! restored) and the TSIG variables, compared in constant time; and a signing time within
//! the record's fudge of the local clock. A response whose TSIG error is BADSIG or BADKEY
//! carries an empty MAC by design (§5.3.2): it is reported as [`VerifyError::Unsigned`],
//! an answer that cannot be authenticated.
//!
//! Supported algorithms: `hmac-sha256` (the default of Knot's `keymgr -t`), `hmac-sha384`
//! and `hmac-sha512`. MD5 and SHA-1 are not offered.
//!
//! # Keys
//!
//! A [`TsigKey`] is read from a Knot key file (`keymgr -t NAME` output), a BIND key file
//! (`tsig-keygen` output) or a one-line `name:algorithm:base64` (also `algorithm:name:base64`,
//! as `kdig -y` takes it). Its secret never appears in `Debug` output or in an error
//! message, and is overwritten when the key is dropped.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hickory_proto::rr::Name;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384, Sha512};

/// The TSIG record type.
pub const TSIG_TYPE: u16 = 250;
/// Class ANY, the class of a TSIG record.
const CLASS_ANY: u16 = 255;
/// The fudge pecwatch signs with (seconds of clock difference allowed), as RFC 8945 §10
/// recommends.
pub const DEFAULT_FUDGE: u16 = 300;
/// Length of the DNS header.
const HEADER_LEN: usize = 12;
/// The most compression pointers followed while reading one name.
const MAX_POINTERS: usize = 64;

/// A TSIG algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `hmac-sha256` (RFC 4635).
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl Algorithm {
    /// The algorithm's name as key files write it (`hmac-sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm named `text` (case-insensitive, trailing dot allowed).
    pub fn from_name(text: &str) -> Option<Self> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        [Self::HmacSha256, Self::HmacSha384, Self::HmacSha512]
            .into_iter()
            .find(|a| a.name() == text)
    }

    /// The length of a full MAC.
    pub fn mac_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    /// The algorithm name in canonical wire form (lower case, uncompressed).
    fn wire_name(self) -> Vec<u8> {
        let mut wire = Vec::with_capacity(13);
        wire.push(self.name().len() as u8);
        wire.extend_from_slice(self.name().as_bytes());
        wire.push(0);
        wire
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Key bytes that are never shown and are overwritten when dropped.
#[derive(Clone, PartialEq, Eq)]
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // Volatile, so that the compiler does not drop the writes to dead memory.
            // SAFETY: `byte` is a valid, aligned, exclusive reference to a u8.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A TSIG key: its name, algorithm and secret. `Debug` shows the secret as `***`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    name: Name,
    algorithm: Algorithm,
    secret: Secret,
}

/// Why a key could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read TSIG key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is none of the accepted formats, or misses a part.
    #[error(
        "invalid TSIG key{origin}: {problem} (expected a Knot key file, a BIND key file or name:algorithm:base64)"
    )]
    Format {
        /// ` in FILE`, or empty.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The algorithm is not supported.
    #[error("unsupported TSIG algorithm {0:?}: use hmac-sha256, hmac-sha384 or hmac-sha512")]
    Algorithm(String),
}

impl TsigKey {
    /// A key from its parts. The name is a domain name (`pecwatch-key.`); the secret must
    /// not be empty.
    pub fn new(name: &str, algorithm: Algorithm, secret: Vec<u8>) -> Result<Self, KeyError> {
        let format = |problem: String| KeyError::Format {
            origin: String::new(),
            problem,
        };
        let mut parsed = Name::from_ascii(name.trim())
            .map_err(|_| format(format!("{:?} is not a key name", name.trim())))?;
        parsed.set_fqdn(true);
        if parsed.is_root() {
            return Err(format("the key name is empty".into()));
        }
        if secret.is_empty() {
            return Err(format("the secret is empty".into()));
        }
        Ok(Self {
            name: parsed.to_lowercase(),
            algorithm,
            secret: Secret(secret),
        })
    }

    /// The key's name (lower case, fully qualified).
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Reads a key file (Knot, BIND or one-line format; see [`TsigKey::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            KeyError::Format { problem, .. } => KeyError::Format {
                origin: format!(" in {shown}"),
                problem,
            },
            other => other,
        })
    }

    /// Parses a key from text:
    ///
    /// - a Knot key file: `key:` / `- id: NAME` / `algorithm: hmac-sha256` / `secret: B64`;
    /// - a BIND key file: `key "NAME" { algorithm hmac-sha256; secret "B64"; };`;
    /// - one line `NAME:ALGORITHM:B64`, `ALGORITHM:NAME:B64` or `NAME:B64` (hmac-sha256).
    ///
    /// Exactly one key; `#` comments and `//` comment lines are ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let uncommented: String = text
            .lines()
            // base64 has no '#' but may hold "//": only whole-line `//` comments
            .map(|line| line.split('#').next().unwrap_or(""))
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let (name, algorithm, secret) = if uncommented.contains('{') {
            parse_bind(&uncommented)?
        } else if uncommented.contains("secret:") {
            parse_knot(&uncommented)?
        } else {
            parse_line(uncommented.trim())?
        };
        let algorithm = Algorithm::from_name(&algorithm).ok_or(KeyError::Algorithm(algorithm))?;
        let secret = BASE64
            .decode(secret.trim().as_bytes())
            .map_err(|_| KeyError::Format {
                origin: String::new(),
                problem: "the secret is not valid base64".into(),
            })?;
        Self::new(&name, algorithm, secret)
    }

    fn mac(&self) -> Hasher {
        Hasher::new(self.algorithm, &self.secret.0)
    }
}

fn format_error(problem: &str) -> KeyError {
    KeyError::Format {
        origin: String::new(),
        problem: problem.into(),
    }
}

/// `key:` / `- id: NAME` / `algorithm: ALG` / `secret: B64` (Knot's `keymgr -t`).
fn parse_knot(text: &str) -> Result<(String, String, String), KeyError> {
    let (mut ids, mut algorithm, mut secret) = (Vec::new(), None, None);
    for line in text.lines() {
        let line = line.trim().trim_start_matches('-').trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "id" => ids.push(value),
            "algorithm" => algorithm = Some(value),
            "secret" => secret = Some(value),
            _ => {}
        }
    }
    if ids.len() > 1 {
        return Err(format_error("the file holds more than one key"));
    }
    Ok((
        ids.pop().ok_or_else(|| format_error("no key id"))?,
        algorithm.unwrap_or_else(|| Algorithm::HmacSha256.name().into()),
        secret.ok_or_else(|| format_error("no secret"))?,
    ))
}

/// `key "NAME" { algorithm ALG; secret "B64"; };` (BIND's `tsig-keygen`).
fn parse_bind(text: &str) -> Result<(String, String, String), KeyError> {
    let tokens: Vec<String> = text
        .replace(['{', '}', ';'], " ")
        .split_whitespace()
        .map(|t| t.trim_matches('"').to_string())
        .collect();
    let keys = tokens.iter().filter(|t| t.as_str() == "key").count();
    if keys != 1 {
        return Err(format_error(if keys == 0 {
            "no key statement"
        } else {
            "the file holds more than one key"
        }));
    }
    let after = |word: &str| {
        tokens
            .iter()
            .position(|t| t == word)
            .and_then(|i| tokens.get(i + 1))
            .cloned()
    };
    Ok((
        after("key").ok_or_else(|| format_error("no key name"))?,
        after("algorithm").ok_or_else(|| format_error("no algorithm"))?,
        after("secret").ok_or_else(|| format_error("no secret"))?,
    ))
}

/// `NAME:ALG:B64`, `ALG:NAME:B64` or `NAME:B64`.
fn parse_line(text: &str) -> Result<(String, String, String), KeyError> {
    if text.is_empty() {
        return Err(format_error("empty"));
    }
    if text.contains(char::is_whitespace) {
        return Err(format_error("unrecognised format"));
    }
    let parts: Vec<&str> = text.splitn(3, ':').collect();
    match parts.as_slice() {
        [name, secret] => Ok((
            (*name).into(),
            Algorithm::HmacSha256.name().into(),
            (*secret).into(),
        )),
        [first, second, secret] if Algorithm::from_name(first).is_some() => {
            Ok(((*second).into(), (*first).into(), (*secret).into()))
        }
        [name, algorithm, secret] => Ok(((*name).into(), (*algorithm).into(), (*secret).into())),
        _ => Err(format_error("expected name:algorithm:base64")),
    }
}

/// An HMAC of one of the supported algorithms.
enum Hasher {
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl Hasher {
    fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
        match algorithm {
            Algorithm::HmacSha256 => Self::Sha256(
                <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
            Algorithm::HmacSha384 => Self::Sha384(
                <Hmac<Sha384> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
            Algorithm::HmacSha512 => Self::Sha512(
                <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            ),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(mac) => mac.update(data),
            Self::Sha384(mac) => mac.update(data),
            Self::Sha512(mac) => mac.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(mac) => mac.finalize().into_bytes().to_vec(),
            Self::Sha384(mac) => mac.finalize().into_bytes().to_vec(),
            Self::Sha512(mac) => mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Constant-time comparison with an expected MAC.
    fn verify(self, expected: &[u8]) -> bool {
        match self {
            Self::Sha256(mac) => mac.verify_slice(expected).is_ok(),
            Self::Sha384(mac) => mac.verify_slice(expected).is_ok(),
            Self::Sha512(mac) => mac.verify_slice(expected).is_ok(),
        }
    }
}

/// The TSIG error codes (RFC 8945 §3; the TSIG record's Error field and, for the first
/// ones, the extended RCODE space).
pub mod error_code {
    /// Bad signature.
    pub const BADSIG: u16 = 16;
    /// Unknown key.
    pub const BADKEY: u16 = 17;
    /// Signature out of the time window.
    pub const BADTIME: u16 = 18;
    /// Unknown algorithm.
    pub const BADALG: u16 = 21;
    /// Bad truncation.
    pub const BADTRUNC: u16 = 22;
}

/// The name of a TSIG error code (`BADSIG`), or its number.
pub fn error_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        error_code::BADSIG => "BADSIG".into(),
        error_code::BADKEY => "BADKEY".into(),
        error_code::BADTIME => "BADTIME".into(),
        19 => "BADMODE".into(),
        20 => "BADNAME".into(),
        error_code::BADALG => "BADALG".into(),
        error_code::BADTRUNC => "BADTRUNC".into(),
        23 => "BADCOOKIE".into(),
        other => format!("TSIG error {other}"),
    }
}

/// A signed message and its MAC (needed to verify the response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The message with the TSIG record appended.
    pub wire: Vec<u8>,
    /// The request's MAC.
    pub mac: Vec<u8>,
}

/// Why a message could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// Shorter than a DNS header.
    #[error("a DNS message is at least 12 bytes")]
    TooShort,
    /// The additional section is full.
    #[error("the additional section has no room for a TSIG record")]
    TooManyRecords,
}

/// Signs a request (RFC 8945 §4.3.3): appends a TSIG record whose MAC covers `message`
/// (as it is, with its id as the original id) and the TSIG variables.
pub fn sign(
    message: &[u8],
    key: &TsigKey,
    time_signed: u64,
    fudge: u16,
) -> Result<Signed, SignError> {
    sign_with(message, key, None, time_signed, fudge, 0)
}

/// Signs a response to a request whose MAC was `request_mac`, with a TSIG error (0 for
/// none): what a server does (RFC 8945 §5.3). For test servers and tests.
pub fn sign_response(
    message: &[u8],
    key: &TsigKey,
    request_mac: &[u8],
    time_signed: u64,
    fudge: u16,
    error: u16,
) -> Result<Signed, SignError> {
    sign_with(message, key, Some(request_mac), time_signed, fudge, error)
}

fn sign_with(
    message: &[u8],
    key: &TsigKey,
    request_mac: Option<&[u8]>,
    time_signed: u64,
    fudge: u16,
    error: u16,
) -> Result<Signed, SignError> {
    if message.len() < HEADER_LEN {
        return Err(SignError::TooShort);
    }
    let original_id = [message[0], message[1]];
    let arcount = u16::from_be_bytes([message[10], message[11]])
        .checked_add(1)
        .ok_or(SignError::TooManyRecords)?;
    let time = time_bytes(time_signed);
    let mut hasher = key.mac();
    if let Some(request_mac) = request_mac {
        hasher.update(&(request_mac.len() as u16).to_be_bytes());
        hasher.update(request_mac);
    }
    hasher.update(message);
    hasher.update(&variables(key, &time, fudge, error, &[]));
    let mac = hasher.finalize();

    let mut wire = message.to_vec();
    wire[10..12].copy_from_slice(&arcount.to_be_bytes());
    wire.extend_from_slice(&name_wire(&key.name));
    wire.extend_from_slice(&TSIG_TYPE.to_be_bytes());
    wire.extend_from_slice(&CLASS_ANY.to_be_bytes());
    wire.extend_from_slice(&0u32.to_be_bytes());
    let algorithm = key.algorithm.wire_name();
    let rdlength = algorithm.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2;
    wire.extend_from_slice(&(rdlength as u16).to_be_bytes());
    wire.extend_from_slice(&algorithm);
    wire.extend_from_slice(&time);
    wire.extend_from_slice(&fudge.to_be_bytes());
    wire.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    wire.extend_from_slice(&mac);
    wire.extend_from_slice(&original_id);
    wire.extend_from_slice(&error.to_be_bytes());
    wire.extend_from_slice(&0u16.to_be_bytes()); // other len
    Ok(Signed { wire, mac })
}

/// The TSIG variables of RFC 8945 §4.3.3 (key name, class, TTL, algorithm, time, fudge,
/// error, other data), canonical.
fn variables(key: &TsigKey, time: &[u8; 6], fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut data = name_wire(&key.name);
    data.extend_from_slice(&CLASS_ANY.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(&key.algorithm.wire_name());
    data.extend_from_slice(time);
    data.extend_from_slice(&fudge.to_be_bytes());
    data.extend_from_slice(&error.to_be_bytes());
    data.extend_from_slice(&(other.len() as u16).to_be_bytes());
    data.extend_from_slice(other);
    data
}

fn time_bytes(time: u64) -> [u8; 6] {
    let b = time.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// A name in canonical wire form: lower case, uncompressed.
fn name_wire(name: &Name) -> Vec<u8> {
    let mut wire = Vec::with_capacity(64);
    for label in name.iter() {
        wire.push(label.len() as u8);
        wire.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    wire
}

/// The TSIG record of a message, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRecord {
    /// The owner: the key name, lower case, in wire form.
    pub key_name: Vec<u8>,
    /// The algorithm name, lower case, in wire form.
    pub algorithm: Vec<u8>,
    /// When it was signed (seconds since the epoch).
    pub time_signed: u64,
    /// The allowed clock difference.
    pub fudge: u16,
    /// The MAC (empty in an unsigned error response).
    pub mac: Vec<u8>,
    /// The message id when it was signed.
    pub original_id: u16,
    /// The TSIG error (0, BADSIG, BADKEY, BADTIME, …).
    pub error: u16,
    /// Other data (the server's time, in a BADTIME response).
    pub other: Vec<u8>,
}

/// A response whose TSIG record verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The response without its TSIG record (ARCOUNT decremented, original id restored):
    /// what the MAC covers, ready to be parsed.
    pub message: Vec<u8>,
    /// Its TSIG record (its `error` may still be BADTIME, signed by the server).
    pub tsig: TsigRecord,
}

/// Why a response's TSIG does not authenticate it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The message is not a well-formed DNS message, or its TSIG record is misplaced.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// No TSIG record: the response is not signed.
    #[error("the response is not signed (no TSIG record)")]
    NotSigned,
    /// Signed with another key or algorithm.
    #[error("the response is signed with another key or algorithm")]
    OtherKey,
    /// A TSIG record without MAC: the server's error (BADSIG, BADKEY), which by design is
    /// not signed and so cannot be authenticated.
    #[error("the server answered {} without signing its answer", error_name(*.0))]
    Unsigned(u16),
    /// The MAC is shorter than the algorithm's (truncation is not accepted).
    #[error("the response's MAC is {got} bytes, {expected} expected")]
    MacLength {
        /// The algorithm's MAC length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The MAC does not match: forged, altered, or signed with another secret.
    #[error("the response's MAC does not verify (forged, altered or another secret)")]
    BadMac,
    /// Signed too long before or after now.
    #[error(
        "the response was signed at {signed}, {now} here: more than {fudge} s apart (check the clocks)"
    )]
    Time {
        /// Its signing time.
        signed: u64,
        /// The local time.
        now: u64,
        /// Its fudge.
        fudge: u16,
    },
}

/// Verifies the TSIG record of a response to a request signed with `key` whose MAC was
/// `request_mac`, at local time `now` (seconds since the epoch). See the module
/// documentation for what is checked.
pub fn verify_response(
    response: &[u8],
    key: &TsigKey,
    request_mac: &[u8],
    now: u64,
) -> Result<Verified, VerifyError> {
    let (offset, tsig) = find_tsig(response)?.ok_or(VerifyError::NotSigned)?;
    if tsig.key_name != name_wire(&key.name) || tsig.algorithm != key.algorithm.wire_name() {
        return Err(VerifyError::OtherKey);
    }
    if tsig.mac.is_empty() && tsig.error != 0 {
        return Err(VerifyError::Unsigned(tsig.error));
    }
    if tsig.mac.len() != key.algorithm.mac_len() {
        return Err(VerifyError::MacLength {
            expected: key.algorithm.mac_len(),
            got: tsig.mac.len(),
        });
    }
    let message = stripped(response, offset, tsig.original_id)?;
    let mut hasher = key.mac();
    hasher.update(&(request_mac.len() as u16).to_be_bytes());
    hasher.update(request_mac);
    hasher.update(&message);
    hasher.update(&variables(
        key,
        &time_bytes(tsig.time_signed),
        tsig.fudge,
        tsig.error,
        &tsig.other,
    ));
    if !hasher.verify(&tsig.mac) {
        return Err(VerifyError::BadMac);
    }
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge) {
        return Err(VerifyError::Time {
            signed: tsig.time_signed,
            now,
            fudge: tsig.fudge,
        });
    }
    Ok(Verified { message, tsig })
}

/// The message without its last record (the TSIG record at `offset`), ARCOUNT decremented
/// and the id set to `original_id`.
fn stripped(message: &[u8], offset: usize, original_id: u16) -> Result<Vec<u8>, VerifyError> {
    let mut out = message
        .get(..offset)
        .ok_or_else(|| VerifyError::Malformed("TSIG offset".into()))?
        .to_vec();
    let arcount = u16::from_be_bytes([out[10], out[11]]).saturating_sub(1);
    out[0..2].copy_from_slice(&original_id.to_be_bytes());
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(out)
}

/// Finds the TSIG record of a message: `None` if it has none; an error if the message is
/// malformed or has a TSIG record that is not the last record of the additional section.
/// Returns the record's offset and its fields.
pub fn find_tsig(message: &[u8]) -> Result<Option<(usize, TsigRecord)>, VerifyError> {
    let malformed = |what: &str| VerifyError::Malformed(what.to_string());
    if message.len() < HEADER_LEN {
        return Err(malformed("shorter than a DNS header"));
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([message[i], message[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = skip_name(message, at)?;
        at = at
            .checked_add(4)
            .filter(|end| *end <= message.len())
            .ok_or_else(|| malformed("truncated question"))?;
    }
    let records = an + ns + ar;
    let mut found = None;
    for index in 0..records {
        let start = at;
        at = skip_name(message, at)?;
        let fixed = message
            .get(at..at + 10)
            .ok_or_else(|| malformed("truncated record"))?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata_start = at + 10;
        let end = rdata_start + rdlength;
        if end > message.len() {
            return Err(malformed("record data past the end"));
        }
        if rtype == TSIG_TYPE {
            if index + 1 != records || ar == 0 {
                return Err(malformed("TSIG record not last in the additional section"));
            }
            let (key_name, _) = read_name(message, start)?;
            found = Some((
                start,
                parse_tsig_rdata(message, rdata_start, end, key_name)?,
            ));
        }
        at = end;
    }
    if at != message.len() {
        return Err(malformed("bytes after the last record"));
    }
    Ok(found)
}

fn parse_tsig_rdata(
    message: &[u8],
    start: usize,
    end: usize,
    key_name: Vec<u8>,
) -> Result<TsigRecord, VerifyError> {
    let malformed = || VerifyError::Malformed("bad TSIG record data".into());
    let (algorithm, mut at) = read_name(message, start)?;
    let mut take = |n: usize| -> Result<&[u8], VerifyError> {
        let slice = message
            .get(at..at + n)
            .filter(|_| at + n <= end)
            .ok_or_else(malformed)?;
        at += n;
        Ok(slice)
    };
    let time = take(6)?;
    let time_signed = time
        .iter()
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    let fudge = take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    let mac_len = take(2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))?;
    let mac = take(mac_len)?.to_vec();
    let original_id = take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    let error = take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    let other_len = take(2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))?;
    let other = take(other_len)?.to_vec();
    if at != end {
        return Err(malformed());
    }
    Ok(TsigRecord {
        key_name,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// The offset after the name at `at` (its compression pointer, if any, ends it).
fn skip_name(message: &[u8], mut at: usize) -> Result<usize, VerifyError> {
    let malformed = || VerifyError::Malformed("bad name".into());
    loop {
        let len = *message.get(at).ok_or_else(malformed)?;
        match len {
            0 => return Ok(at + 1),
            1..=63 => at += 1 + usize::from(len),
            _ if len & 0xc0 == 0xc0 => {
                message.get(at + 1).ok_or_else(malformed)?;
                return Ok(at + 2);
            }
            _ => return Err(malformed()),
        }
    }
}

/// Reads the name at `at`, following compression pointers: its canonical wire form (lower
/// case, uncompressed) and the offset after it.
fn read_name(message: &[u8], start: usize) -> Result<(Vec<u8>, usize), VerifyError> {
    let malformed = || VerifyError::Malformed("bad name".into());
    let (mut at, mut after, mut jumps) = (start, None, 0);
    let mut wire = Vec::new();
    loop {
        let len = *message.get(at).ok_or_else(malformed)?;
        match len {
            0 => {
                wire.push(0);
                break;
            }
            1..=63 => {
                let label = message
                    .get(at + 1..at + 1 + usize::from(len))
                    .ok_or_else(malformed)?;
                wire.push(len);
                wire.extend(label.iter().map(u8::to_ascii_lowercase));
                if wire.len() > 255 {
                    return Err(malformed());
                }
                at += 1 + usize::from(len);
            }
            _ if len & 0xc0 == 0xc0 => {
                let low = *message.get(at + 1).ok_or_else(malformed)?;
                after.get_or_insert(at + 2);
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(malformed());
                }
                at = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            _ => return Err(malformed()),
        }
    }
    Ok((wire, after.unwrap_or(at + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// (query, response) of a captured knsupdate exchange.
    fn vector(file: &str) -> (Vec<u8>, Vec<u8>) {
        let text = std::fs::read_to_string(format!("{FIXTURES}/tsig/{file}")).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| hex(value.trim()))
                .unwrap()
        };
        (field("query "), field("response "))
    }

    fn lab_key(file: &str) -> TsigKey {
        TsigKey::from_file(Path::new(&format!("{FIXTURES}/lab/tsig/dns1/{file}"))).unwrap()
    }

    /// Signing knsupdate's message (without its TSIG record) at its time gives exactly the
    /// bytes knsupdate sent, and knotd's response verifies.
    fn known_vector(file: &str, key: &TsigKey) {
        let (query, response) = vector(file);
        let (offset, tsig) = find_tsig(&query).unwrap().expect("a signed query");
        assert_eq!(tsig.fudge, 300);
        let unsigned = stripped(&query, offset, tsig.original_id).unwrap();
        let signed = sign(&unsigned, key, tsig.time_signed, tsig.fudge).unwrap();
        assert_eq!(signed.wire, query, "{file}: same bytes as knsupdate");
        assert_eq!(signed.mac, tsig.mac);
        let verified = verify_response(&response, key, &signed.mac, tsig.time_signed + 1).unwrap();
        assert_eq!(verified.tsig.error, 0);
        // Signing knotd's response (without its TSIG record) as a server gives knotd's bytes.
        let again = sign_response(
            &verified.message,
            key,
            &signed.mac,
            verified.tsig.time_signed,
            verified.tsig.fudge,
            0,
        )
        .unwrap();
        assert_eq!(again.wire, response, "{file}: same bytes as knotd");
        assert_eq!(verified.message.len() + 1, {
            let (offset, _) = find_tsig(&response).unwrap().unwrap();
            offset + 1
        });
    }

    #[test]
    fn hmac_sha256_matches_knsupdate_and_knotd() {
        known_vector(
            "knsupdate-hmac-sha256.txt",
            &lab_key("pecwatch-lab-test-only.key"),
        );
    }

    #[test]
    fn hmac_sha512_matches_knsupdate_and_knotd() {
        known_vector(
            "knsupdate-hmac-sha512.txt",
            &lab_key("pecwatch-lab-test-only-sha512.key"),
        );
    }

    #[test]
    fn unsigned_badsig_answer_is_reported_as_unsigned() {
        let (query, response) = vector("knsupdate-wrong-key.txt");
        let wrong =
            TsigKey::from_file(Path::new(&format!("{FIXTURES}/tsig/wrong-secret.key"))).unwrap();
        let (_, tsig) = find_tsig(&query).unwrap().unwrap();
        assert_eq!(
            verify_response(&response, &wrong, &tsig.mac, tsig.time_signed),
            Err(VerifyError::Unsigned(error_code::BADSIG))
        );
        // The right key does not make it verify either.
        let right = lab_key("pecwatch-lab-test-only.key");
        assert_eq!(
            verify_response(&response, &right, &tsig.mac, tsig.time_signed),
            Err(VerifyError::Unsigned(error_code::BADSIG))
        );
    }

    #[test]
    fn hostile_responses_are_refused() {
        let key = lab_key("pecwatch-lab-test-only.key");
        let (query, response) = vector("knsupdate-hmac-sha256.txt");
        let (_, tsig) = find_tsig(&query).unwrap().unwrap();
        let now = tsig.time_signed;
        let verify = |bytes: &[u8]| verify_response(bytes, &key, &tsig.mac, now);
        assert!(verify(&response).is_ok());

        // Any flipped bit before the MAC (header, sections, TSIG variables) breaks it.
        let (offset, _) = find_tsig(&response).unwrap().unwrap();
        // (The owner name is 24 bytes, then type, class, TTL, RDLENGTH, the algorithm name
        // (13 bytes) and the signing time: offset + 49 is inside the time.)
        for i in [2, 3, 12, offset - 1, offset + 49] {
            let mut altered = response.clone();
            altered[i] ^= 0x01;
            assert!(verify(&altered).is_err(), "byte {i} altered");
        }
        // Another request's MAC (a replayed response).
        assert_eq!(
            verify_response(&response, &key, &[0u8; 32], now),
            Err(VerifyError::BadMac)
        );
        // Another secret with the same name and algorithm.
        let wrong =
            TsigKey::from_file(Path::new(&format!("{FIXTURES}/tsig/wrong-secret.key"))).unwrap();
        assert_eq!(
            verify_response(&response, &wrong, &tsig.mac, now),
            Err(VerifyError::BadMac)
        );
        // Another key name.
        let other = TsigKey::new("other-key", Algorithm::HmacSha256, vec![1; 32]).unwrap();
        assert_eq!(
            verify_response(&response, &other, &tsig.mac, now),
            Err(VerifyError::OtherKey)
        );
        // Out of the time window, both ways.
        for skew in [301i64, -301] {
            let at = now.checked_add_signed(skew).unwrap();
            assert!(matches!(
                verify_response(&response, &key, &tsig.mac, at),
                Err(VerifyError::Time { .. })
            ));
        }
        assert!(verify_response(&response, &key, &tsig.mac, now + 300).is_ok());
        // Unsigned: the TSIG record removed.
        let unsigned = stripped(&response, offset, tsig.original_id).unwrap();
        assert_eq!(verify(&unsigned), Err(VerifyError::NotSigned));
        // Truncated anywhere: malformed, never a panic.
        for len in 0..response.len() {
            assert!(verify(&response[..len]).is_err(), "truncated to {len}");
        }
        // Trailing garbage.
        let mut longer = response.clone();
        longer.push(0);
        assert!(matches!(verify(&longer), Err(VerifyError::Malformed(_))));
        // A MAC cut to 16 bytes (truncation) is refused.
        let mut cut = response[..offset].to_vec();
        let record = &response[offset..];
        let name_len = record.iter().position(|b| *b == 0).unwrap() + 1;
        let rdata_at = name_len + 10;
        let alg_len = record[rdata_at..].iter().position(|b| *b == 0).unwrap() + 1;
        let mac_size_at = rdata_at + alg_len + 8;
        let mut short = record.to_vec();
        short.drain(mac_size_at + 2 + 16..mac_size_at + 2 + 32);
        short[mac_size_at..mac_size_at + 2].copy_from_slice(&16u16.to_be_bytes());
        let rdlength = u16::from_be_bytes([short[name_len + 8], short[name_len + 9]]) - 16;
        short[name_len + 8..name_len + 10].copy_from_slice(&rdlength.to_be_bytes());
        cut.extend_from_slice(&short);
        assert_eq!(
            verify(&cut),
            Err(VerifyError::MacLength {
                expected: 32,
                got: 16
            })
        );
    }

    #[test]
    fn tsig_must_be_the_last_record() {
        let key = TsigKey::new("k", Algorithm::HmacSha256, vec![7; 32]).unwrap();
        let mut message = vec![0u8; 12];
        message[2] = 0x28; // UPDATE
        let signed = sign(&message, &key, 1_700_000_000, 300).unwrap();
        // Append a record after the TSIG record.
        let mut wire = signed.wire.clone();
        wire[11] = 2;
        wire.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(find_tsig(&wire), Err(VerifyError::Malformed(_))));
        // A compression loop in the owner name.
        let mut looped = signed.wire.clone();
        looped[12] = 0xc0;
        looped[13] = 12;
        assert!(find_tsig(&looped).is_err());
    }

    #[test]
    fn key_formats() {
        let knot = "key:\n  - id: Lab-Key\n    algorithm: hmac-sha512\n    secret: AAECAw==\n";
        let bind =
            "// comment\nkey \"lab-key\" {\n\talgorithm hmac-sha512;\n\tsecret \"AAECAw==\";\n};\n";
        let lines = [
            "lab-key:hmac-sha512:AAECAw==",
            "hmac-sha512:lab-key.:AAECAw==",
        ];
        let expected = TsigKey::new("lab-key.", Algorithm::HmacSha512, vec![0, 1, 2, 3]).unwrap();
        for text in [knot, bind, lines[0], lines[1]] {
            assert_eq!(TsigKey::parse(text).unwrap(), expected, "{text}");
        }
        let default = TsigKey::parse("lab-key:AAECAw==").unwrap();
        assert_eq!(default.algorithm(), Algorithm::HmacSha256);
        for bad in [
            "",
            "lab-key:hmac-md5:AAECAw==",
            "lab-key:hmac-sha256:not base64!",
            "lab-key:hmac-sha256:",
            "key:\n  - id: a\n    secret: AA==\n  - id: b\n    secret: AA==\n",
            "key \"a\" { algorithm hmac-sha256; };",
        ] {
            assert!(TsigKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_secret_is_never_shown() {
        let text = "lab-key:hmac-sha256:c2VncmV0aXNzaW1v";
        let key = TsigKey::parse(text).unwrap();
        let debug = format!("{key:?}");
        assert!(
            debug.contains("***") && !debug.contains("c2VncmV0"),
            "{debug}"
        );
        assert!(!debug.contains("segretissimo"));
        let error = TsigKey::parse("lab-key:hmac-sha256:c2VncmV0aXNzaW1v!").unwrap_err();
        assert!(!error.to_string().contains("c2VncmV0"), "{error}");
        let error = TsigKey::parse("lab-key:hmac-md5:c2VncmV0aXNzaW1v").unwrap_err();
        assert!(!error.to_string().contains("c2VncmV0"), "{error}");
    }
}
