//! uwsgi packet tests: the reference dump, every error, 1-byte delivery, round trips, mutations.

use super::*;
use crate::proto::testutil::Lcg;

/// The packet from uwsgi-compat §3.2, verified against real uWSGI.
const REFERENCE: &[u8] = b"\x00\x40\x00\x00\x0e\x00REQUEST_METHOD\x03\x00GET\x09\x00PATH_INFO\x03\x00/hi\x0f\x00SERVER_PROTOCOL\x08\x00HTTP/1.1";

fn vars<'a>(p: &Packet<'a>) -> Vec<(&'a [u8], &'a [u8])> {
    p.vars.clone()
}

#[test]
fn reference_packet() {
    let (p, n) = parse_packet(REFERENCE, 4096).unwrap().unwrap();
    assert_eq!(n, REFERENCE.len());
    assert_eq!((p.modifier1, p.modifier2), (0, 0));
    assert_eq!(
        vars(&p),
        [
            (&b"REQUEST_METHOD"[..], &b"GET"[..]),
            (b"PATH_INFO", b"/hi"),
            (b"SERVER_PROTOCOL", b"HTTP/1.1")
        ]
    );
    assert_eq!(p.get(b"PATH_INFO"), Some(&b"/hi"[..]));
    let again = encode_packet(0, &vars(&p), 0);
    assert_eq!(again, REFERENCE);
}

#[test]
fn body_bytes_are_not_consumed() {
    let mut buf = encode_packet(0, &[(b"CONTENT_LENGTH", b"5")], 0);
    let head = buf.len();
    buf.extend_from_slice(b"hello\x00\x10\x00\x00");
    let (p, n) = parse_packet(&buf, 4096).unwrap().unwrap();
    assert_eq!(n, head);
    assert_eq!(content_length(&p.vars), Ok(5));
}

#[test]
fn errors() {
    let block = |b: &[u8]| {
        let mut v = vec![0, b.len() as u8, (b.len() >> 8) as u8, 0];
        v.extend_from_slice(b);
        v
    };
    use UwsgiError::*;
    #[rustfmt::skip]
    let rows: &[(&str, Vec<u8>, usize, UwsgiError)] = &[
        ("too big", vec![0, 0x01, 0x10, 0], 4096, BlockTooBig { size: 4097, max: 4096 }),
        ("65535 over default", vec![0, 0xff, 0xff, 0], 4096, BlockTooBig { size: 65535, max: 4096 }),
        ("empty", vec![0, 0, 0, 0], 4096, Empty),
        ("empty key", block(b"\x00\x00\x01\x00x"), 4096, EmptyKey { offset: 0 }),
        ("truncated key len", block(b"\x01"), 4096, TruncatedLength { offset: 0 }),
        ("truncated val len", block(b"\x01\x00K\x01"), 4096, TruncatedLength { offset: 3 }),
        ("missing val len", block(b"\x01\x00K"), 4096, TruncatedLength { offset: 3 }),
        ("key overrun", block(b"\x05\x00KEY"), 4096, KeyOverrun { offset: 2, len: 5, left: 3 }),
        ("value overrun", block(b"\x01\x00K\xff\xffabc"), 4096, ValueOverrun { offset: 5, len: 65535, left: 3 }),
        ("second var empty key", block(b"\x01\x00K\x00\x00\x00\x00"), 4096, EmptyKey { offset: 5 }),
    ];
    for (name, buf, max, want) in rows {
        assert_eq!(parse_packet(buf, *max).unwrap_err(), *want, "{name}");
        // The size checks need only the 4 header bytes; var errors need the whole block.
        assert!(!want.to_string().is_empty());
    }
    assert_eq!(
        UwsgiError::BlockTooBig {
            size: 5000,
            max: 4096
        }
        .to_string(),
        "invalid request block size: 5000 (max 4096)...skip"
    );
    // 65535 is usable when buffer-size allows it (uWSGI #1164).
    let big = vec![b'v'; 65535 - 4 - 1];
    let pkt = encode_packet(0, &[(b"K", &big)], 0);
    assert_eq!(parse_packet(&pkt, 65535).unwrap().unwrap().1, 65539);
}

#[test]
fn too_many_vars() {
    let keys: Vec<Vec<u8>> = (0..=MAX_VARS)
        .map(|i| format!("K{i}").into_bytes())
        .collect();
    let all: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), &b""[..])).collect();
    let ok = encode_packet(0, &all[..MAX_VARS], 0);
    assert_eq!(
        parse_packet(&ok, 65535).unwrap().unwrap().0.vars.len(),
        MAX_VARS
    );
    let over = encode_packet(0, &all, 0);
    assert_eq!(parse_packet(&over, 65535), Err(UwsgiError::TooManyVars));
}

#[test]
fn one_byte_at_a_time() {
    // gunicorn #3552: the packet must not be assumed to arrive in one read.
    let samples = [
        REFERENCE.to_vec(),
        encode_packet(5, &[(b"A", b""), (b"B", b"2"), (b"A", b"dup")], 9),
        encode_packet(0, &[(b"QUERY_STRING", b""), (b"X", &[0xff, 0, b'\n'])], 0),
    ];
    for s in &samples {
        let want = parse_packet(s, 4096).unwrap().unwrap();
        for k in 0..s.len() {
            assert_eq!(parse_packet(&s[..k], 4096), Ok(None), "prefix {k}");
        }
        assert_eq!(parse_packet(s, 4096).unwrap().unwrap(), want);
    }
    // An oversized header is refused as soon as its 4 bytes are in.
    assert_eq!(parse_packet(&[0, 0xff], 4096), Ok(None));
    assert!(parse_packet(&[0, 0xff, 0xff, 0], 4096).is_err());
}

#[test]
fn round_trip() {
    let mut rng = Lcg(77);
    for _ in 0..500 {
        let n = 1 + rng.below(20);
        let data: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|_| {
                let k = (0..1 + rng.below(12)).map(|_| rng.next() as u8).collect();
                let v = (0..rng.below(30)).map(|_| rng.next() as u8).collect();
                (k, v)
            })
            .collect();
        let refs: Vec<(&[u8], &[u8])> = data
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        let (m1, m2) = (rng.next() as u8, rng.next() as u8);
        let pkt = encode_packet(m1, &refs, m2);
        let (p, used) = parse_packet(&pkt, 65535).unwrap().unwrap();
        assert_eq!((p.modifier1, p.modifier2, used), (m1, m2, pkt.len()));
        assert_eq!(p.vars, refs);
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Lcg(0xdead_beef);
    let samples = [
        REFERENCE.to_vec(),
        encode_packet(0, &[(b"CONTENT_LENGTH", b"12"), (b"HTTP_HOST", b"a")], 0),
    ];
    for s in &samples {
        for _ in 0..5000 {
            let mut buf = s.clone();
            for _ in 0..=rng.below(3) {
                rng.mutate(&mut buf);
            }
            for max in [16, 4096] {
                if let Ok(Some((p, n))) = parse_packet(&buf, max) {
                    assert!(n <= buf.len() && n - HEADER_LEN <= max);
                    assert_eq!(encode_packet(p.modifier1, &p.vars, p.modifier2), &buf[..n]);
                    let _ = content_length(&p.vars);
                }
            }
        }
    }
}

#[test]
fn content_length_strict() {
    let cl = |v: &[u8]| content_length(&[(&b"A"[..], &b"1"[..]), (b"CONTENT_LENGTH", v)]);
    assert_eq!(cl(b"0"), Ok(0));
    assert_eq!(cl(b""), Ok(0));
    assert_eq!(cl(b"12345"), Ok(12345));
    assert_eq!(cl(b"9223372036854775807"), Ok(i64::MAX as u64));
    for bad in [
        &b"+5"[..],
        b"-1",
        b" 5",
        b"5 ",
        b"0x5",
        b"9223372036854775808",
        b"99999999999999999999999",
        "\u{665}".as_bytes(),
    ] {
        assert_eq!(cl(bad), Err(UwsgiError::BadContentLength), "{bad:?}");
    }
    let none: [(&[u8], &[u8]); 0] = [];
    assert_eq!(content_length(&none), Ok(0));
    let dup = [
        (&b"CONTENT_LENGTH"[..], &b"1"[..]),
        (b"CONTENT_LENGTH", b"1"),
    ];
    assert_eq!(
        content_length(&dup),
        Err(UwsgiError::DuplicateContentLength)
    );
}

#[test]
fn status_line_version_never_echoes_the_frontend() {
    assert_eq!(status_line_version(b""), b"HTTP/1.0");
    assert_eq!(status_line_version(b"HTTP/1.0"), b"HTTP/1.0");
    assert_eq!(status_line_version(b"HTTP/1.1"), b"HTTP/1.1");
    assert_eq!(status_line_version(b"HTTP/2.0"), b"HTTP/1.1");
    assert_eq!(
        status_line_version(b"HTTP/1.1\r\nSet-Cookie: x=1"),
        b"HTTP/1.1"
    );
    assert!(is_plain_protocol(b"HTTP/2.0"));
    assert!(!is_plain_protocol(b"HTTP/1.1\r\nX: y"));
    assert!(!is_plain_protocol(b"HTTP/1.1 200"));
}
