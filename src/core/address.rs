//! Which IP addresses are public: the rule that keeps a customer's DNS from making
//! pecwatch send packets into a private network.
//!
//! A name server address is **public** when it is in the global unicast space and in none
//! of the ranges of IANA's special-purpose address registries (IPv4 and IPv6, as of
//! 2026): private, loopback, link-local, shared, benchmarking, documentation, protocol
//! assignments, reserved, … Those ranges are listed once, in [`SPECIAL_V4`] and
//! [`SPECIAL_V6`], with the registry's name for each, so that a finding can say why an
//! address was not queried. pecwatch treats every special-purpose range as non-public,
//! also the few the registry marks globally reachable (AS112, AMT, anycast protocol
//! addresses): none of them is where a PEC domain's name servers belong.
//!
//! IPv6 forms that embed an IPv4 address and reach it (IPv4-mapped and IPv4-compatible,
//! the NAT64 well-known prefix, 6to4, Teredo's client) are judged by that IPv4 address:
//! `64:ff9b::a00:35` is as private as `10.0.0.53`. Site-local `fec0::/10` (deprecated but
//! still routed inside networks) and multicast are non-public too.
//!
//! Hand-written: the standard library's `is_global` is unstable, and no maintained crate
//! holds the current registries with the embedded forms.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is not public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonPublic {
    /// In a special-purpose range (the registry's name), or outside global unicast.
    Range(&'static str),
    /// An IPv6 form (its name) embedding a non-public IPv4 address.
    Embeds(&'static str, Ipv4Addr, &'static str),
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Range(name) => f.write_str(name),
            Self::Embeds(form, v4, name) => write!(f, "{form} of {v4} ({name})"),
        }
    }
}

/// IANA IPv4 Special-Purpose Address Registry, plus multicast (224.0.0.0/4) from the
/// address space registry. Longest prefixes need no particular order: any match is
/// non-public.
pub const SPECIAL_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
];

/// IANA IPv6 Special-Purpose Address Registry, plus site-local `fec0::/10` (RFC 3879)
/// and multicast. The forms that embed an IPv4 address (`::ffff:0:0/96`, `::/96`,
/// `64:ff9b::/96`, `2002::/16`, `2001::/32`) are not listed: [`classify`] judges them by
/// that address.
pub const SPECIAL_V6: &[(&str, &str)] = &[
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("64:ff9b:1::/48", "IPv4-IPv6 translation, local use"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing SIDs"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

/// Whether an address is reachable from the public Internet: see the module's doc.
pub fn is_public(address: IpAddr) -> bool {
    classify(address).is_ok()
}

/// `Ok` for a public address, or why it is not.
pub fn classify(address: IpAddr) -> Result<(), NonPublic> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4).map_err(NonPublic::Range),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The tables, parsed once.
static V4: LazyLock<Vec<(Ipv4Net, &'static str)>> = LazyLock::new(|| parsed(SPECIAL_V4));
static V6: LazyLock<Vec<(Ipv6Net, &'static str)>> = LazyLock::new(|| parsed(SPECIAL_V6));

fn parsed<N: std::str::FromStr>(table: &[(&str, &'static str)]) -> Vec<(N, &'static str)> {
    table
        .iter()
        .filter_map(|(net, name)| Some((net.parse().ok()?, *name)))
        .collect()
}

fn classify_v4(v4: Ipv4Addr) -> Result<(), &'static str> {
    match V4.iter().find(|(net, _)| net.contains(&v4)) {
        Some((_, name)) => Err(name),
        None => Ok(()),
    }
}

fn classify_v6(v6: Ipv6Addr) -> Result<(), NonPublic> {
    if let Some((form, v4)) = embedded_v4(v6) {
        return classify_v4(v4).map_err(|name| NonPublic::Embeds(form, v4, name));
    }
    if let Some((_, name)) = V6.iter().find(|(net, _)| net.contains(&v6)) {
        return Err(NonPublic::Range(name));
    }
    // Only 2000::/3 is allocated as global unicast.
    if v6.segments()[0] & 0xe000 != 0x2000 {
        return Err(NonPublic::Range("outside global unicast (2000::/3)"));
    }
    Ok(())
}

/// The IPv4 address an IPv6 address reaches, for the forms that embed one.
fn embedded_v4(v6: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(("IPv4-mapped address", v4));
    }
    // IPv4-compatible (deprecated): ::a.b.c.d, but not :: and ::1 themselves.
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(("IPv4-compatible address", low));
    }
    // SIIT IPv4-translated: ::ffff:0:a.b.c.d.
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(("IPv4-translated address", low));
    }
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(("NAT64 address", low));
    }
    // 6to4: 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return Some(("6to4 address", v4));
    }
    // Teredo 2001:0::/32: the client's mapped address, inverted, in the last 32 bits.
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(("Teredo address", Ipv4Addr::from(!u32::from(low))));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn the_tables_parse() {
        assert_eq!(V4.len(), SPECIAL_V4.len());
        assert_eq!(V6.len(), SPECIAL_V6.len());
    }

    /// Every range of both registries: its first and last addresses are non-public.
    #[test]
    fn every_special_purpose_range_is_non_public() {
        for (net, name) in SPECIAL_V4 {
            let net: Ipv4Net = net.parse().unwrap();
            for inside in [net.network(), net.broadcast()] {
                assert!(!is_public(IpAddr::V4(inside)), "{inside} in {net} ({name})");
            }
        }
        for (net, name) in SPECIAL_V6 {
            let net: Ipv6Net = net.parse().unwrap();
            for inside in [net.network(), net.broadcast()] {
                assert!(!is_public(IpAddr::V6(inside)), "{inside} in {net} ({name})");
            }
        }
    }

    #[test]
    fn neighbours_of_ranges_are_public() {
        for public in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2a00:1450:4001::1",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2620:4f:8001::1",
            "3fff:1000::1",
            "2001:dc8::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn embedded_ipv4_is_judged_by_itself() {
        let cases = [
            ("64:ff9b::a00:35", Some("10.0.0.53")),
            ("64:ff9b::808:808", None),
            ("::10.0.0.53", Some("10.0.0.53")),
            ("::8.8.8.8", None),
            ("::ffff:127.0.0.1", Some("127.0.0.1")),
            ("::ffff:8.8.8.8", None),
            ("::ffff:0:192.168.1.1", Some("192.168.1.1")),
            ("2002:a00:35::1", Some("10.0.0.53")),
            ("2002:808:808::1", None),
            // Teredo: client 10.0.0.53 is stored inverted (f5ff:ffca).
            ("2001:0:4136:e378:8000:63bf:f5ff:ffca", Some("10.0.0.53")),
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),
        ];
        for (address, private) in cases {
            let result = classify(address.parse().unwrap());
            match private {
                Some(embedded) => match result {
                    Err(NonPublic::Embeds(_, v4_found, _)) => {
                        assert_eq!(v4_found, v4(embedded), "{address}")
                    }
                    other => panic!("{address}: {other:?}"),
                },
                None => assert_eq!(result, Ok(()), "{address}"),
            }
        }
    }

    #[test]
    fn the_cases_found_by_the_tester() {
        for private in [
            "64:ff9b::a00:35",
            "::10.0.0.53",
            "2002:a00:35::1",
            "fec0::53",
            "198.18.0.54",
            "192.0.0.9",
            "64:ff9b:1::808:808",
            "100::1",
            "::",
            "::1",
            "fe80::1",
            "fd00::53",
            "ff02::1",
            "4000::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn reasons_are_readable() {
        assert_eq!(
            classify("64:ff9b::a00:35".parse().unwrap())
                .unwrap_err()
                .to_string(),
            "NAT64 address of 10.0.0.53 (private-use)"
        );
        assert_eq!(
            classify("198.18.0.54".parse().unwrap())
                .unwrap_err()
                .to_string(),
            "benchmarking"
        );
    }
}
