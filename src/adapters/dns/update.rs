//! RFC 2136 DNS UPDATE to a primary server, signed with TSIG ([`super::tsig`]).
//!
//! An [`Update`] names the zone, its prerequisites ([`Prerequisite`]: a name in use or not,
//! an RRset present, absent or equal to given records) and its changes ([`Change`]: add
//! records, delete an RRset, a record or every RRset of a name). [`UpdateClient::send`]
//! signs it, sends it over UDP (over TCP when it is larger than 512 bytes or the response
//! is truncated), verifies the signed response and returns one [`UpdateOutcome`] or one
//! [`UpdateError`]:
//!
//! | response | result |
//! |---|---|
//! | NOERROR, signed | [`UpdateOutcome::Applied`] |
//! | YXDOMAIN, NXDOMAIN, YXRRSET, NXRRSET, signed | [`UpdateOutcome::PrerequisiteFailed`] |
//! | REFUSED | [`UpdateError::Refused`] (the server's policy: no update rights) |
//! | NOTAUTH | [`UpdateError::NotAuth`] (not the zone's primary) |
//! | TSIG error BADSIG, BADKEY (unsigned by design), BADTIME (signed) | [`UpdateError::TsigRejected`] |
//! | NOTZONE, FORMERR, SERVFAIL, NOTIMP, others | [`UpdateError::NotZone`], [`UpdateError::Rcode`] |
//! | no valid signature | [`UpdateError::Unauthenticated`] |
//! | nothing in time | [`UpdateError::Timeout`] |
//!
//! Only a response whose TSIG verifies can say "applied" or "prerequisite failed". Over UDP
//! an unsigned or wrongly signed datagram is set aside and the client keeps waiting for the
//! real answer until the attempt's timeout (a forged datagram cannot end the exchange with
//! a success). Two kinds of unsigned answers do end it, as failures, because no signed
//! answer will follow them and nothing was changed either way: a BADSIG/BADKEY answer,
//! which RFC 8945 §5.3.2 makes unsigned on purpose ([`UpdateError::TsigRejected`] marked
//! unauthenticated), and a REFUSED, NOTAUTH or NOTZONE without TSIG, which is how servers
//! answer for a zone they do not serve (Knot also for a catalog zone, which it never
//! serves to queries). A forged one can only make an update look failed. A lost UDP datagram is retried with the same signed bytes (same id, same signing
//! time), which an UPDATE allows: adding a record twice is a no-op, and prerequisites make
//! the caller's plan idempotent.
//!
//! [`UpdateClient::query`] asks the primary a signed question and returns its verified
//! answer: provisioning reads back what the primary holds, authenticated.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::tsig::{self, DEFAULT_FUDGE, TsigKey, VerifyError};
use crate::Lang;

/// Response codes accepted without a signature, as final failures: REFUSED, NOTAUTH,
/// NOTZONE (answers of a server that does not serve the zone).
const UNSIGNED_FINAL: [u16; 3] = [rcode::REFUSED, rcode::NOTAUTH, rcode::NOTZONE];
/// The largest request sent over UDP (RFC 1035 without EDNS); larger ones go over TCP.
const UDP_MAX: usize = 512;
/// Response codes (RFC 1035, RFC 2136).
mod rcode {
    pub(super) const NOERROR: u16 = 0;
    pub(super) const FORMERR: u16 = 1;
    pub(super) const SERVFAIL: u16 = 2;
    pub(super) const NXDOMAIN: u16 = 3;
    pub(super) const NOTIMP: u16 = 4;
    pub(super) const REFUSED: u16 = 5;
    pub(super) const YXDOMAIN: u16 = 6;
    pub(super) const YXRRSET: u16 = 7;
    pub(super) const NXRRSET: u16 = 8;
    pub(super) const NOTAUTH: u16 = 9;
    pub(super) const NOTZONE: u16 = 10;
}

/// The name of a response code.
pub fn rcode_name(code: u16) -> String {
    match code {
        rcode::NOERROR => "NOERROR".into(),
        rcode::FORMERR => "FORMERR".into(),
        rcode::SERVFAIL => "SERVFAIL".into(),
        rcode::NXDOMAIN => "NXDOMAIN".into(),
        rcode::NOTIMP => "NOTIMP".into(),
        rcode::REFUSED => "REFUSED".into(),
        rcode::YXDOMAIN => "YXDOMAIN".into(),
        rcode::YXRRSET => "YXRRSET".into(),
        rcode::NXRRSET => "NXRRSET".into(),
        rcode::NOTAUTH => "NOTAUTH".into(),
        rcode::NOTZONE => "NOTZONE".into(),
        other => format!("RCODE {other}"),
    }
}

/// A prerequisite of an update (RFC 2136 §2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prerequisite {
    /// The name has at least one record.
    NameInUse(Name),
    /// The name has no record at all.
    NameNotInUse(Name),
    /// The name has records of this type.
    RrsetExists(Name, RecordType),
    /// The name has no record of this type.
    RrsetDoesNotExist(Name, RecordType),
    /// The RRset of these records' name and type is exactly these records (their TTL is
    /// ignored).
    RrsetEquals(Vec<Record>),
}

/// A change of an update (RFC 2136 §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add a record (a duplicate is ignored by the server).
    Add(Record),
    /// Delete the RRset of this name and type.
    DeleteRrset(Name, RecordType),
    /// Delete one record (name, type and data; the TTL is ignored).
    DeleteRecord(Record),
    /// Delete every RRset of a name.
    DeleteName(Name),
}

/// An UPDATE message: a zone, prerequisites and changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The zone to update (its apex).
    pub zone: Name,
    /// What must hold for the changes to be applied (all or nothing).
    pub prerequisites: Vec<Prerequisite>,
    /// The changes.
    pub changes: Vec<Change>,
}

impl Update {
    /// An empty update of `zone`.
    pub fn new(zone: Name) -> Self {
        Self {
            zone,
            prerequisites: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Adds a prerequisite.
    pub fn require(mut self, prerequisite: Prerequisite) -> Self {
        self.prerequisites.push(prerequisite);
        self
    }

    /// Adds a change.
    pub fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }

    /// The message on the wire (unsigned), with id `id`. Every name must be inside the zone.
    pub fn to_wire(&self, id: u16) -> Result<Vec<u8>, UpdateError> {
        let mut zone = self.zone.clone();
        zone.set_fqdn(true);
        let inside = |name: &Name| {
            if zone.zone_of(name) {
                Ok(())
            } else {
                Err(UpdateError::Invalid(format!(
                    "{name} is not inside zone {zone}"
                )))
            }
        };
        let mut message = Message::new(id, MessageType::Query, OpCode::Update);
        let mut question = Query::query(zone.clone(), RecordType::SOA);
        question.set_query_class(DNSClass::IN);
        message.add_query(question);
        let empty = |name: &Name, rtype: RecordType, class: DNSClass| {
            let mut record = Record::update0(name.clone(), 0, rtype);
            record.dns_class = class;
            record
        };
        for prerequisite in &self.prerequisites {
            let records = match prerequisite {
                Prerequisite::NameInUse(name) => vec![empty(name, RecordType::ANY, DNSClass::ANY)],
                Prerequisite::NameNotInUse(name) => {
                    vec![empty(name, RecordType::ANY, DNSClass::NONE)]
                }
                Prerequisite::RrsetExists(name, rtype) => vec![empty(name, *rtype, DNSClass::ANY)],
                Prerequisite::RrsetDoesNotExist(name, rtype) => {
                    vec![empty(name, *rtype, DNSClass::NONE)]
                }
                Prerequisite::RrsetEquals(records) => records
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        r.ttl = 0;
                        r.dns_class = DNSClass::IN;
                        r
                    })
                    .collect(),
            };
            for record in records {
                inside(&record.name)?;
                message.add_answer(record);
            }
        }
        for change in &self.changes {
            let record = match change {
                Change::Add(record) => {
                    let mut record = record.clone();
                    record.dns_class = DNSClass::IN;
                    record
                }
                Change::DeleteRrset(name, rtype) => empty(name, *rtype, DNSClass::ANY),
                Change::DeleteRecord(record) => {
                    let mut record = record.clone();
                    record.ttl = 0;
                    record.dns_class = DNSClass::NONE;
                    record
                }
                Change::DeleteName(name) => empty(name, RecordType::ANY, DNSClass::ANY),
            };
            inside(&record.name)?;
            message.add_authority(record);
        }
        message
            .to_vec()
            .map_err(|e| UpdateError::Invalid(e.to_string()))
    }
}

/// Which prerequisite did not hold (from the response code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrerequisiteFailure {
    /// YXDOMAIN: a name that had to be unused is in use.
    NameInUse,
    /// NXDOMAIN: a name that had to be in use is not.
    NameNotInUse,
    /// YXRRSET: an RRset that had to be absent exists.
    RrsetExists,
    /// NXRRSET: an RRset that had to exist (or to hold given records) does not.
    RrsetMissing,
}

/// What an authenticated response says about an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "failed")]
pub enum UpdateOutcome {
    /// The server applied every change.
    Applied,
    /// A prerequisite did not hold: nothing was changed.
    PrerequisiteFailed(PrerequisiteFailure),
}

/// Why an update did not get an authenticated answer, or was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The update cannot be built (a name outside the zone, too large).
    #[error("invalid update: {0}")]
    Invalid(String),
    /// REFUSED: the server does not allow this key to update this zone.
    #[error("the primary refused the update (REFUSED): the key may not update this zone")]
    Refused,
    /// NOTAUTH: the server is not the zone's primary.
    #[error("the server is not authoritative for the zone (NOTAUTH)")]
    NotAuth,
    /// The server rejected the request's TSIG: BADSIG (wrong secret), BADKEY (unknown key
    /// or algorithm), BADTIME (clocks apart). BADSIG and BADKEY answers are unsigned by
    /// design, so `authenticated` is false for them.
    #[error(
        "the primary rejected the TSIG signature: {} ({}){}",
        tsig::error_name(*.error),
        rcode_name(*.rcode),
        if *.authenticated { "" } else { ", unauthenticated answer" }
    )]
    TsigRejected {
        /// The TSIG error.
        error: u16,
        /// The response code (NOTAUTH).
        rcode: u16,
        /// Whether the answer itself was signed and verified.
        authenticated: bool,
    },
    /// NOTZONE: a name of the update is outside the zone.
    #[error("a name of the update is outside the zone (NOTZONE)")]
    NotZone,
    /// Another response code (FORMERR, SERVFAIL, NOTIMP, …).
    #[error("the primary answered {}", rcode_name(*.0))]
    Rcode(u16),
    /// Responses came, none authenticated (unsigned, forged, other key, clock skew).
    #[error("no authenticated response: {0}")]
    Unauthenticated(VerifyError),
    /// No response in time.
    #[error("no response from {server} after {attempts} attempts")]
    Timeout {
        /// The server.
        server: SocketAddr,
        /// UDP attempts made (1 for TCP).
        attempts: u32,
    },
    /// The network failed (connection refused, unreachable).
    #[error("network error talking to {server}: {detail}")]
    Network {
        /// The server.
        server: SocketAddr,
        /// What failed.
        detail: String,
    },
}

impl UpdateError {
    /// The message in `lang` (English is the `Display` text).
    pub fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Self::Invalid(detail) => format!("aggiornamento non valido: {detail}"),
            Self::Refused => {
                "il DNS primario ha rifiutato l'aggiornamento (REFUSED): la chiave non può aggiornare questa zona".into()
            }
            Self::NotAuth => "il server non è autoritativo per la zona (NOTAUTH)".into(),
            Self::TsigRejected {
                error,
                rcode,
                authenticated,
            } => format!(
                "il DNS primario ha rifiutato la firma TSIG: {} ({}){}",
                tsig::error_name(*error),
                rcode_name(*rcode),
                if *authenticated {
                    ""
                } else {
                    ", risposta non autenticata"
                }
            ),
            Self::NotZone => "un nome dell'aggiornamento è fuori dalla zona (NOTZONE)".into(),
            Self::Rcode(code) => format!("il DNS primario ha risposto {}", rcode_name(*code)),
            Self::Unauthenticated(error) => format!("nessuna risposta autenticata: {error}"),
            Self::Timeout { server, attempts } => {
                format!("nessuna risposta da {server} dopo {attempts} tentativi")
            }
            Self::Network { server, detail } => {
                format!("errore di rete verso {server}: {detail}")
            }
        }
    }

    /// Whether trying again later may succeed (timeouts, network errors, SERVFAIL).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Network { .. } | Self::Rcode(rcode::SERVFAIL)
        )
    }
}

/// The outcome of an authenticated response: its response code and TSIG error.
fn classify(rcode: u16, tsig_error: u16) -> Result<UpdateOutcome, UpdateError> {
    if tsig_error != 0 {
        return Err(UpdateError::TsigRejected {
            error: tsig_error,
            rcode,
            authenticated: true,
        });
    }
    Ok(match rcode {
        rcode::NOERROR => UpdateOutcome::Applied,
        rcode::YXDOMAIN => UpdateOutcome::PrerequisiteFailed(PrerequisiteFailure::NameInUse),
        rcode::NXDOMAIN => UpdateOutcome::PrerequisiteFailed(PrerequisiteFailure::NameNotInUse),
        rcode::YXRRSET => UpdateOutcome::PrerequisiteFailed(PrerequisiteFailure::RrsetExists),
        rcode::NXRRSET => UpdateOutcome::PrerequisiteFailed(PrerequisiteFailure::RrsetMissing),
        rcode::REFUSED => return Err(UpdateError::Refused),
        rcode::NOTAUTH => return Err(UpdateError::NotAuth),
        rcode::NOTZONE => return Err(UpdateError::NotZone),
        other => return Err(UpdateError::Rcode(other)),
    })
}

/// A client for one primary server and one key.
#[derive(Clone, Debug)]
pub struct UpdateClient {
    server: SocketAddr,
    key: TsigKey,
    timeout: Duration,
    attempts: u32,
    fudge: u16,
}

/// A verified response.
struct Answer {
    /// The response without its TSIG record.
    message: Vec<u8>,
    /// The TSIG error of the response.
    tsig_error: u16,
}

impl UpdateClient {
    /// A client of `server` signing with `key`: 2 s per attempt, 3 UDP attempts.
    pub fn new(server: SocketAddr, key: TsigKey) -> Self {
        Self {
            server,
            key,
            timeout: Duration::from_secs(2),
            attempts: 3,
            fudge: DEFAULT_FUDGE,
        }
    }

    /// How long one attempt (UDP, or the whole TCP exchange) waits.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// UDP attempts (at least one).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The primary's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The key's name and algorithm (never the secret), for logs.
    pub fn key_label(&self) -> String {
        format!("{} ({})", self.key.name(), self.key.algorithm())
    }

    /// Sends an update and returns what the primary's authenticated answer says.
    pub async fn send(&self, update: &Update) -> Result<UpdateOutcome, UpdateError> {
        let id = rand::random::<u16>();
        let wire = update.to_wire(id)?;
        let answer = self.exchange(&wire, id, OpCode::Update).await?;
        let header_rcode = answer
            .message
            .get(3)
            .map_or(rcode::FORMERR, |b| u16::from(b & 0x0f));
        classify(header_rcode, answer.tsig_error)
    }

    /// Asks the primary `(name, rtype)` with a signed query, recursion off, and returns its
    /// verified answer.
    pub async fn query(&self, name: &Name, rtype: RecordType) -> Result<Message, UpdateError> {
        let id = rand::random::<u16>();
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = false;
        message.add_query(Query::query(name.clone(), rtype));
        let wire = message
            .to_vec()
            .map_err(|e| UpdateError::Invalid(e.to_string()))?;
        let answer = self.exchange(&wire, id, OpCode::Query).await?;
        let parsed = Message::from_vec(&answer.message).map_err(|e| {
            UpdateError::Unauthenticated(VerifyError::Malformed(format!("unparsable: {e}")))
        })?;
        if answer.tsig_error != 0 {
            return Err(UpdateError::TsigRejected {
                error: answer.tsig_error,
                rcode: u16::from(parsed.metadata.response_code),
                authenticated: true,
            });
        }
        Ok(parsed)
    }

    /// The records of `(name, rtype)` on the primary (empty when there are none); an error
    /// for REFUSED, SERVFAIL and the like.
    pub async fn records(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Vec<Record>, UpdateError> {
        let message = self.query(name, rtype).await?;
        let code = u16::from(message.metadata.response_code);
        if code != rcode::NOERROR && code != rcode::NXDOMAIN {
            return Err(match code {
                rcode::REFUSED => UpdateError::Refused,
                rcode::NOTAUTH => UpdateError::NotAuth,
                other => UpdateError::Rcode(other),
            });
        }
        let mut wanted = name.to_lowercase();
        wanted.set_fqdn(true);
        Ok(message
            .answers
            .into_iter()
            .filter(|r| r.record_type() == rtype && r.name.to_lowercase() == wanted)
            .collect())
    }

    /// Signs and sends a request, returns its verified answer.
    async fn exchange(&self, wire: &[u8], id: u16, opcode: OpCode) -> Result<Answer, UpdateError> {
        let signed = tsig::sign(wire, &self.key, now(), self.fudge)
            .map_err(|e| UpdateError::Invalid(e.to_string()))?;
        if signed.wire.len() > UDP_MAX {
            return self.tcp(&signed, id, opcode).await;
        }
        match self.udp(&signed, id, opcode).await? {
            Some(answer) => Ok(answer),
            // Truncated: the whole exchange again over TCP.
            None => self.tcp(&signed, id, opcode).await,
        }
    }

    /// UDP attempts; `None` when the (verified) answer is truncated.
    async fn udp(
        &self,
        signed: &tsig::Signed,
        id: u16,
        opcode: OpCode,
    ) -> Result<Option<Answer>, UpdateError> {
        let network = |e: std::io::Error| UpdateError::Network {
            server: self.server,
            detail: e.to_string(),
        };
        let local: SocketAddr = if self.server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(network)?;
        // Connected: the kernel drops datagrams from any other address and port.
        socket.connect(self.server).await.map_err(network)?;
        let mut rejected: Option<VerifyError> = None;
        let mut buf = vec![0u8; 65_535];
        for _ in 0..self.attempts {
            socket.send(&signed.wire).await.map_err(network)?;
            let deadline = Instant::now() + self.timeout;
            loop {
                let received = match timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(network(e)),
                    Ok(Ok(len)) => buf.get(..len).unwrap_or_default(),
                };
                match self.check(received, id, opcode, &signed.mac) {
                    Checked::Answer(answer, truncated) => {
                        return Ok((!truncated).then_some(answer));
                    }
                    Checked::Final(error) => return Err(error),
                    Checked::Ignore => {}
                    Checked::Rejected(error) => rejected = Some(error),
                }
            }
        }
        Err(match rejected {
            Some(error) => UpdateError::Unauthenticated(error),
            None => UpdateError::Timeout {
                server: self.server,
                attempts: self.attempts,
            },
        })
    }

    /// The exchange over TCP, within one timeout.
    async fn tcp(
        &self,
        signed: &tsig::Signed,
        id: u16,
        opcode: OpCode,
    ) -> Result<Answer, UpdateError> {
        let deadline = Instant::now() + self.timeout;
        let timed_out = || UpdateError::Timeout {
            server: self.server,
            attempts: 1,
        };
        let network = |e: std::io::Error| UpdateError::Network {
            server: self.server,
            detail: format!("TCP: {e}"),
        };
        let exchange = async {
            let mut stream = TcpStream::connect(self.server).await.map_err(network)?;
            let len = u16::try_from(signed.wire.len())
                .map_err(|_| UpdateError::Invalid("message longer than 65535 bytes".into()))?;
            let framed = [&len.to_be_bytes()[..], &signed.wire].concat();
            stream.write_all(&framed).await.map_err(network)?;
            let mut rejected = None;
            loop {
                let len = match stream.read_u16().await {
                    Ok(len) => usize::from(len),
                    // The server closed the connection after unusable messages.
                    Err(e) => {
                        return Err(match rejected {
                            Some(error) => UpdateError::Unauthenticated(error),
                            None => network(e),
                        });
                    }
                };
                let mut message = vec![0u8; len];
                stream.read_exact(&mut message).await.map_err(network)?;
                match self.check(&message, id, opcode, &signed.mac) {
                    // Truncated even over TCP: take what verified.
                    Checked::Answer(answer, _) => return Ok(answer),
                    Checked::Final(error) => return Err(error),
                    Checked::Ignore => {}
                    Checked::Rejected(error) => rejected = Some(error),
                }
            }
        };
        timeout_at(deadline, exchange)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }

    /// What a received message is to the pending request.
    fn check(&self, bytes: &[u8], id: u16, opcode: OpCode, request_mac: &[u8]) -> Checked {
        let [hi, lo, flags, flags2, ..] = bytes else {
            return Checked::Ignore;
        };
        let is_response = flags & 0x80 != 0;
        let same_opcode = (flags >> 3) & 0x0f == u8::from(opcode);
        if u16::from_be_bytes([*hi, *lo]) != id || !is_response || !same_opcode {
            return Checked::Ignore;
        }
        match tsig::verify_response(bytes, &self.key, request_mac, now()) {
            Ok(verified) => Checked::Answer(
                Answer {
                    message: verified.message,
                    tsig_error: verified.tsig.error,
                },
                flags & 0x02 != 0,
            ),
            // BADSIG and BADKEY answers are unsigned by design: the server refused our
            // signature; nothing was changed, and there is no better answer to wait for.
            Err(VerifyError::Unsigned(error)) => Checked::Final(UpdateError::TsigRejected {
                error,
                rcode: u16::from(flags2 & 0x0f),
                authenticated: false,
            }),
            // An unsigned refusal: servers answer so, without TSIG, for a zone they do not
            // serve (Knot also for catalog zones). It changes nothing; accepting it unsigned
            // only risks a forged failure, never a forged success.
            Err(VerifyError::NotSigned) if UNSIGNED_FINAL.contains(&u16::from(flags2 & 0x0f)) => {
                Checked::Final(match classify(u16::from(flags2 & 0x0f), 0) {
                    Err(error) => error,
                    Ok(_) => UpdateError::Unauthenticated(VerifyError::NotSigned),
                })
            }
            Err(error) => Checked::Rejected(error),
        }
    }
}

/// A received message, judged.
enum Checked {
    /// Verified (and whether truncated).
    Answer(Answer, bool),
    /// Ends the exchange with this error.
    Final(UpdateError),
    /// Not a response to this request.
    Ignore,
    /// A response to this request that does not authenticate: keep waiting.
    Rejected(VerifyError),
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An MX record.
pub fn mx_record(name: &Name, ttl: u32, preference: u16, exchange: &Name) -> Record {
    Record::from_rdata(
        name.clone(),
        ttl,
        RData::MX(hickory_proto::rr::rdata::MX::new(
            preference,
            exchange.clone(),
        )),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::dns::tsig::{Algorithm, error_code, find_tsig};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn key() -> TsigKey {
        TsigKey::new("test-key", Algorithm::HmacSha256, vec![42; 32]).unwrap()
    }

    #[test]
    fn prerequisites_and_changes_on_the_wire() {
        let zone = name("example.it.");
        let pec = name("pec.example.it.");
        let mx = mx_record(&pec, 300, 10, &name("mx.pec.aruba.it."));
        let update = Update::new(zone.clone())
            .require(Prerequisite::NameNotInUse(pec.clone()))
            .require(Prerequisite::NameInUse(zone.clone()))
            .require(Prerequisite::RrsetExists(zone.clone(), RecordType::NS))
            .require(Prerequisite::RrsetDoesNotExist(pec.clone(), RecordType::MX))
            .require(Prerequisite::RrsetEquals(vec![mx.clone()]))
            .change(Change::Add(mx.clone()))
            .change(Change::DeleteRrset(pec.clone(), RecordType::TXT))
            .change(Change::DeleteRecord(mx.clone()))
            .change(Change::DeleteName(pec.clone()));
        let message = Message::from_vec(&update.to_wire(77).unwrap()).unwrap();
        assert_eq!(message.metadata.op_code, OpCode::Update);
        assert_eq!(message.metadata.id, 77);
        assert_eq!(message.queries[0].name(), &zone);
        assert_eq!(message.queries[0].query_type(), RecordType::SOA);
        let shape = |r: &Record| (r.record_type(), r.dns_class, r.ttl);
        let prereqs: Vec<_> = message.answers.iter().map(shape).collect();
        assert_eq!(
            prereqs,
            vec![
                (RecordType::ANY, DNSClass::NONE, 0),
                (RecordType::ANY, DNSClass::ANY, 0),
                (RecordType::NS, DNSClass::ANY, 0),
                (RecordType::MX, DNSClass::NONE, 0),
                (RecordType::MX, DNSClass::IN, 0),
            ]
        );
        let changes: Vec<_> = message.authorities.iter().map(shape).collect();
        assert_eq!(
            changes,
            vec![
                (RecordType::MX, DNSClass::IN, 300),
                (RecordType::TXT, DNSClass::ANY, 0),
                (RecordType::MX, DNSClass::NONE, 0),
                (RecordType::ANY, DNSClass::ANY, 0),
            ]
        );
        let outside = Update::new(zone).change(Change::DeleteName(name("pec.other.it.")));
        assert!(matches!(outside.to_wire(1), Err(UpdateError::Invalid(_))));
    }

    #[test]
    fn response_codes() {
        use PrerequisiteFailure::*;
        assert_eq!(classify(0, 0), Ok(UpdateOutcome::Applied));
        for (code, failure) in [
            (6, NameInUse),
            (3, NameNotInUse),
            (7, RrsetExists),
            (8, RrsetMissing),
        ] {
            assert_eq!(
                classify(code, 0),
                Ok(UpdateOutcome::PrerequisiteFailed(failure))
            );
        }
        assert_eq!(classify(5, 0), Err(UpdateError::Refused));
        assert_eq!(classify(9, 0), Err(UpdateError::NotAuth));
        assert_eq!(classify(10, 0), Err(UpdateError::NotZone));
        assert_eq!(classify(2, 0), Err(UpdateError::Rcode(2)));
        let badtime = classify(9, error_code::BADTIME).unwrap_err();
        assert!(badtime.to_string().contains("BADTIME"), "{badtime}");
        assert!(badtime.message(Lang::It).contains("firma TSIG"));
        assert!(UpdateError::Rcode(2).is_transient() && !UpdateError::Refused.is_transient());
    }

    /// What the test server sends for the n-th datagram it receives.
    type Script = dyn Fn(usize, &[u8], &tsig::TsigRecord) -> Vec<Vec<u8>> + Send + Sync;

    /// A UDP (and TCP) server on 127.0.0.1 that answers by script; the TCP side answers
    /// every request with a signed NOERROR.
    async fn server(script: Arc<Script>) -> (SocketAddr, Arc<AtomicUsize>) {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(address).await.unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            while let Ok((len, from)) = udp.recv_from(&mut buf).await {
                let request = buf[..len].to_vec();
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let Ok(Some((_, record))) = find_tsig(&request) else {
                    continue;
                };
                for reply in script(n, &request, &record) {
                    let _ = udp.send_to(&reply, from).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let Ok(len) = stream.read_u16().await else {
                    continue;
                };
                let mut request = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut request).await.is_err() {
                    continue;
                }
                let Ok(Some((_, record))) = find_tsig(&request) else {
                    continue;
                };
                let reply = respond(&request, &record, 0, 0, false);
                let framed = [&(reply.len() as u16).to_be_bytes()[..], &reply].concat();
                let _ = stream.write_all(&framed).await;
            }
        });
        (address, count)
    }

    /// A response to `request` with `rcode`, signed with the test key (TSIG error `error`),
    /// truncated if asked.
    fn respond(
        request: &[u8],
        record: &tsig::TsigRecord,
        rcode: u8,
        error: u16,
        tc: bool,
    ) -> Vec<u8> {
        let (offset, _) = find_tsig(request).unwrap().unwrap();
        let mut message = request[..offset].to_vec();
        message[2] |= 0x80 | if tc { 0x02 } else { 0 };
        message[3] = (message[3] & 0xf0) | rcode;
        // Only the zone section: no prerequisites, updates or additional records.
        message[6..12].fill(0);
        let zone_end = 12 + message[12..].iter().position(|b| *b == 0).unwrap() + 1 + 4;
        message.truncate(zone_end);
        tsig::sign_response(&message, &key(), &record.mac, now(), 300, error)
            .unwrap()
            .wire
    }

    fn client(address: SocketAddr) -> UpdateClient {
        UpdateClient::new(address, key())
            .with_timeout(Duration::from_millis(300))
            .with_attempts(2)
    }

    fn update() -> Update {
        Update::new(name("example.it."))
            .change(Change::DeleteRrset(name("pec.example.it."), RecordType::MX))
    }

    #[tokio::test]
    async fn a_forged_datagram_does_not_end_the_exchange() {
        let (address, _) = server(Arc::new(|_, request, record| {
            let good = respond(request, record, 0, 0, false);
            let mut forged = respond(request, record, 6, 0, false);
            let last = forged.len() - 10;
            forged[last] ^= 0xff; // inside the MAC
            let mut unsigned = good.clone();
            let (offset, _) = find_tsig(&unsigned).unwrap().unwrap();
            unsigned.truncate(offset);
            unsigned[11] -= 1;
            vec![forged, unsigned, good]
        }))
        .await;
        assert_eq!(
            client(address).send(&update()).await,
            Ok(UpdateOutcome::Applied)
        );
    }

    #[tokio::test]
    async fn only_unauthenticated_answers_are_an_error() {
        let (address, count) = server(Arc::new(|_, request, record| {
            let mut forged = respond(request, record, 0, 0, false);
            let last = forged.len() - 10;
            forged[last] ^= 0xff;
            vec![forged]
        }))
        .await;
        let result = client(address).send(&update()).await;
        assert_eq!(
            result,
            Err(UpdateError::Unauthenticated(VerifyError::BadMac))
        );
        assert_eq!(count.load(Ordering::SeqCst), 2, "retried once");
    }

    #[tokio::test]
    async fn server_tsig_errors_and_prerequisites() {
        let (address, _) = server(Arc::new(|n, request, record| match n {
            0 => vec![respond(request, record, 6, 0, false)],
            1 => vec![respond(request, record, 9, error_code::BADTIME, false)],
            _ => vec![respond(request, record, 5, 0, false)],
        }))
        .await;
        let client = client(address);
        assert_eq!(
            client.send(&update()).await,
            Ok(UpdateOutcome::PrerequisiteFailed(
                PrerequisiteFailure::NameInUse
            ))
        );
        assert_eq!(
            client.send(&update()).await,
            Err(UpdateError::TsigRejected {
                error: error_code::BADTIME,
                rcode: 9,
                authenticated: true
            })
        );
        assert_eq!(client.send(&update()).await, Err(UpdateError::Refused));
    }

    #[tokio::test]
    async fn truncated_answer_goes_to_tcp_and_large_updates_too() {
        let (address, count) = server(Arc::new(|_, request, record| {
            vec![respond(request, record, 5, 0, true)]
        }))
        .await;
        // UDP says REFUSED but truncated: the TCP answer (NOERROR) counts.
        assert_eq!(
            client(address).send(&update()).await,
            Ok(UpdateOutcome::Applied)
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let mut big = Update::new(name("example.it."));
        for i in 0..40 {
            big = big.change(Change::DeleteRrset(
                name(&format!("host-{i:02}-with-a-long-label.example.it.")),
                RecordType::A,
            ));
        }
        assert_eq!(client(address).send(&big).await, Ok(UpdateOutcome::Applied));
        assert_eq!(count.load(Ordering::SeqCst), 1, "over TCP only");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_timeout_or_network_error() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let result = client(address).send(&update()).await;
        assert!(
            matches!(result, Err(UpdateError::Timeout { attempts: 2, .. })),
            "{result:?}"
        );
    }
}
