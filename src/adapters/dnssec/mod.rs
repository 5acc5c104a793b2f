//! DNSSEC: does the certified name's MX, and each MX target's address, validate from the
//! trust anchor the way a validating resolver (the sending providers') checks it?
//!
//! A certified domain can pass every other check and still receive no PEC mail when its
//! zone, or the MX target's zone, is signed wrongly: every validating resolver answers
//! SERVFAIL, and the senders cannot deliver. The classic cases: a DS left at the registry
//! after the zone moved to a DNS host that does not sign it, and signatures that expired
//! because a signer stopped.
//!
//! - [`anchor`]: the trust anchor (the IANA root anchors built in, or a file).
//! - [`validate`]: the pure steps (keys from DS, signatures, NSEC/NSEC3 denial of DS),
//!   with hickory-proto's cryptography.
//! - [`chain`]: the walk from the root down to the answer, with the data asked directly
//!   of each zone's own servers (DO=1), cached per zone; its result per RRset is a
//!   [`Validation`]: secure, insecure (a proven unsigned delegation), bogus (with the
//!   reason and the evidence) or indeterminate (timeouts).

pub mod anchor;
pub mod chain;
pub mod validate;

pub use anchor::{AnchorError, TrustAnchor};
pub use chain::{Chain, ChainLink, DnssecConfig, DnssecObservation, Security, Validation};
