//! PROXY header tests: v1 and v2 forms from the spec, every error, every prefix, mutations.

use super::*;
use crate::proto::testutil::Lcg;

fn v2(cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(0x20 | cmd);
    v.push(family);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn v2_tcp4() -> Vec<u8> {
    // 192.0.2.7:51234 -> 10.0.0.1:8000, then a TLV (type 0x04 NOOP, 3 bytes).
    let mut body = vec![192, 0, 2, 7, 10, 0, 0, 1];
    body.extend_from_slice(&51234u16.to_be_bytes());
    body.extend_from_slice(&8000u16.to_be_bytes());
    body.extend_from_slice(&[0x04, 0x00, 0x03, 1, 2, 3]);
    v2(1, 0x11, &body)
}

fn v2_tcp6() -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut body = src.octets().to_vec();
    body.extend_from_slice(&dst.octets());
    body.extend_from_slice(&443u16.to_be_bytes());
    body.extend_from_slice(&8443u16.to_be_bytes());
    v2(1, 0x21, &body)
}

fn sa(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap())
}

/// Valid headers, each followed by a request, and what they must parse to.
fn valid() -> Vec<(Vec<u8>, Option<SocketAddr>)> {
    vec![
        (
            b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 8000\r\n".to_vec(),
            sa("192.0.2.7:51234"),
        ),
        (
            b"PROXY TCP6 2001:db8::7 2001:db8::1 443 8443\r\n".to_vec(),
            sa("[2001:db8::7]:443"),
        ),
        (b"PROXY UNKNOWN\r\n".to_vec(), None),
        (
            b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".to_vec(),
            None,
        ),
        (
            b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n".to_vec(),
            sa("255.255.255.255:65535"),
        ),
        (v2_tcp4(), sa("192.0.2.7:51234")),
        (v2_tcp6(), sa("[2001:db8::7]:443")),
        (v2(0, 0x11, &[0; 12]), None),  // LOCAL: a health check
        (v2(0, 0x00, &[]), None),       // LOCAL, unspecified family
        (v2(1, 0x00, &[]), None),       // PROXY, unspecified family
        (v2(1, 0x31, &[0; 216]), None), // unix sockets
    ]
}

#[test]
fn valid_headers_give_the_client_address_and_their_length() {
    for (header, source) in valid() {
        let mut buf = header.clone();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(
            parse(&buf),
            Ok(Parsed::Header {
                len: header.len(),
                source
            }),
            "{:?}",
            String::from_utf8_lossy(&header)
        );
    }
}

#[test]
fn ordinary_requests_are_not_proxy_headers() {
    for req in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"PROPFIND / HTTP/1.1\r\n\r\n",
        b"PROXYX",
        b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"\r\n\r\nGET",
        b"\x00\x10\x00\x00",
    ] {
        assert_eq!(
            parse(req),
            Ok(Parsed::NotProxy),
            "{}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn errors() {
    let mut too_long = b"PROXY UNKNOWN ".to_vec();
    too_long.resize(V1_MAX, b'x');
    let mut big = V2_SIGNATURE.to_vec();
    big.extend_from_slice(&[0x21, 0x11, 0x08, 0x01]);
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bare LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec(), "CRLF"),
        ("no CRLF in 107 bytes", too_long, "107"),
        ("bad protocol", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "TCP4, TCP6"),
        ("missing port", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec(), "exactly"),
        ("extra field", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n".to_vec(), "exactly"),
        ("double space", b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "exactly"),
        ("v6 in TCP4", b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec(), "IPv4"),
        ("v4 in TCP6", b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(), "IPv6"),
        ("octal-looking", b"PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n".to_vec(), "IPv4"),
        ("port too big", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n".to_vec(), "port"),
        ("port sign", b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n".to_vec(), "port"),
        ("port leading zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n".to_vec(), "port"),
        ("empty line", b"PROXY \r\n".to_vec(), "TCP4"),
        ("v2 version 1", { let mut v = v2_tcp4(); v[12] = 0x11; v }, "version"),
        ("v2 command 2", { let mut v = v2_tcp4(); v[12] = 0x22; v }, "command"),
        ("v2 family 0x41", v2(1, 0x41, &[0; 12]), "family"),
        ("v2 short addresses", v2(1, 0x21, &[0; 12]), "shorter"),
        ("v2 too long", big, "longer"),
    ];
    for (what, input, needle) in rows {
        let e = parse(&input).expect_err(what);
        assert!(e.to_string().contains(needle), "{what}: {e}");
    }
}

#[test]
fn every_prefix_of_a_header_is_incomplete() {
    for (header, _) in valid() {
        for n in 0..header.len() {
            assert_eq!(
                parse(&header[..n]),
                Ok(Parsed::Incomplete),
                "{n} bytes of {:?}",
                String::from_utf8_lossy(&header)
            );
        }
    }
}

#[test]
fn mutations_never_panic_and_never_overrun() {
    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);
    let seeds = valid();
    for i in 0..20_000 {
        let mut buf = seeds[i % seeds.len()].0.clone();
        for _ in 0..=rng.below(4) {
            rng.mutate(&mut buf);
        }
        if let Ok(Parsed::Header { len, .. }) = parse(&buf) {
            assert!(len <= buf.len(), "header longer than its input");
            // What a header says must not depend on the bytes after it.
            let mut longer = buf[..len].to_vec();
            longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(parse(&longer), parse(&buf[..len]));
        }
    }
}
