#!/usr/bin/env python3
"""Writes the fuzz seeds: a few DNS responses to `pec.example.it` (MX or A), as the
transport sees them on the wire, and a few names as people type them.

Dependency-free: the responses are encoded by hand below. Run from anywhere:
    python3 fuzz/seeds/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
QNAME = "pec.example.it"
MX, A, NS, SOA, CNAME, OPT = 15, 1, 2, 6, 5, 41


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def opt(payload=1232):
    return b"\x00" + struct.pack(">HHIH", OPT, payload, 0, 0)


def soa(zone="example.it"):
    rdata = name("ns1." + zone) + name("hostmaster." + zone)
    rdata += struct.pack(">IIIII", 2026010101, 3600, 600, 86400, 300)
    return rr(name(zone), SOA, rdata)


def message(id_, flags, rcode, question, answers=(), authority=(), additional=(), edns=True):
    extra = list(additional) + ([opt()] if edns else [])
    header = struct.pack(
        ">HHHHHH", id_, 0x8000 | flags | rcode, 1 if question else 0,
        len(answers), len(authority), len(extra),
    )
    body = b""
    if question:
        body += name(QNAME) + struct.pack(">HH", question, 1)
    return header + body + b"".join(answers) + b"".join(authority) + b"".join(extra)


AA, TC, RD, RA = 0x0400, 0x0200, 0x0100, 0x0080
# A pointer to the question's name (offset 12): compression, as real servers use it.
PTR = b"\xc0\x0c"

responses = {
    "mx_answer": message(0x1234, AA, 0, MX, [rr(PTR, MX, struct.pack(">H", 10) + name("mx.pec.aruba.it"))]),
    "mx_two_hybrid": message(0x0001, AA, 0, MX, [
        rr(PTR, MX, struct.pack(">H", 10) + name("mx.pec.aruba.it")),
        rr(PTR, MX, struct.pack(">H", 20) + name("mail.example.it")),
    ]),
    "null_mx": message(0x0002, AA, 0, MX, [rr(PTR, MX, struct.pack(">H", 0) + b"\x00")]),
    "nodata": message(0x0003, AA, 0, MX, authority=[soa()]),
    "nxdomain": message(0x0004, AA, 3, MX, authority=[soa()]),
    "referral": message(0x0005, 0, 0, MX,
                        authority=[rr(name("pec.example.it"), NS, name("ns1.pec.example.it"))],
                        additional=[rr(name("ns1.pec.example.it"), A, bytes([192, 0, 2, 53]))]),
    "cname_to_mx": message(0x0006, AA, 0, MX, [
        rr(PTR, CNAME, name("alias.example.it")),
        rr(name("alias.example.it"), MX, struct.pack(">H", 10) + name("mx.cert.legalmail.it")),
    ]),
    "truncated": message(0x0007, AA | TC, 0, MX),
    "servfail_no_question": message(0x0008, 0, 2, 0, edns=False),
    "a_recursive": message(0x0009, RD | RA, 0, A, [rr(PTR, A, bytes([192, 0, 2, 1]))]),
}

for key, wire in responses.items():
    with open(os.path.join(HERE, "dns_response", key), "wb") as f:
        f.write(wire)

names = {
    "plain": "pec.example.it",
    "upper_dot_space": "  PEC.Example.IT.  ",
    "email": "mario.rossi@pec.example.it",
    "unicode": "pec.caffè.it",
    "punycode": "xn--caff-8oa.example.it",
    "ip": "192.0.2.1",
    "url": "https://pec.example.it/path",
    "hyphen": "-bad-.example.it",
}
for key, text in names.items():
    with open(os.path.join(HERE, "name_parse", key), "w", encoding="utf-8") as f:
        f.write(text)
