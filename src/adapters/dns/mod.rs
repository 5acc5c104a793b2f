//! DNS on the wire: building queries, owning the UDP/TCP transport, classifying replies.
//!
//! - [`outcome`]: the exact outcome of one exchange ([`Outcome`], [`Reply`]): plain data of
//!   the core ([`crate::check::observation`]), read here off the wire.
//! - `reader`: a quick reader of the common responses (the record types pecwatch reads),
//!   deciding exactly as hickory's parser does, which reads everything else.
//! - [`transport`]: a shared UDP socket pool with many queries in flight, EDNS0, TCP on
//!   truncation, bounded retries and timeouts, hostile-answer hardening.
//! - [`tsig`]: TSIG (RFC 8945) keys, signing and verification, on the exact wire bytes.
//! - [`update`]: RFC 2136 DNS UPDATE to a primary server, signed with TSIG, its outcome.

mod batch;
pub mod outcome;
mod reader;
pub mod transport;
pub mod tsig;
pub mod update;

pub use outcome::{Data, Outcome, Reply, Rr, fqdn};
pub use transport::{Pace, Patience, Transport, TransportConfig};
