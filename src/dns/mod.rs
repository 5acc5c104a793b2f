//! DNS on the wire: building queries, owning the UDP/TCP transport, classifying replies.
//!
//! - [`outcome`]: the exact outcome of one exchange ([`Outcome`], [`Reply`]), plain data.
//! - [`transport`]: a shared UDP socket pool with many queries in flight, EDNS0, TCP on
//!   truncation, bounded retries and timeouts, hostile-answer hardening.

pub mod outcome;
pub mod transport;

pub use outcome::{Data, Outcome, Reply, Rr, fqdn};
pub use transport::{Transport, TransportConfig};
