//! Request-head tests: one row per security-cases §3.1 item, prefixes, mutations, response side.

use super::*;
use crate::proto::testutil::Lcg;

#[derive(Debug, PartialEq)]
enum Want {
    Ok(BodyFraming),
    Err(u16),
}

fn run(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    parse_head(buf, &HeadLimits::default())
}

fn outcome(buf: &[u8]) -> Want {
    match run(buf) {
        Ok(Some((h, _))) => Want::Ok(h.framing),
        Ok(None) => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
        Err(e) => Want::Err(e.status),
    }
}

/// `req("POST", "Content-Length: 5")`: a 1.1 request with Host plus the given header lines
/// (separated by `|`).
fn req(method: &str, headers: &[u8]) -> Vec<u8> {
    let mut v = format!("{method} / HTTP/1.1\r\nHost: example.com\r\n").into_bytes();
    for line in headers.split(|&b| b == b'|').filter(|l| !l.is_empty()) {
        v.extend_from_slice(line);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn security_cases_table() {
    use BodyFraming::{Chunked, Length, None as NoBody};
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<u8>, Want)> = vec![
        ("plain GET", req("GET", b""), Want::Ok(NoBody)),
        ("CL", req("POST", b"Content-Length: 5"), Want::Ok(Length(5))),
        ("CL with OWS", req("POST", b"Content-Length:  5 \t"), Want::Ok(Length(5))),
        ("CL i64::MAX", req("POST", b"Content-Length: 9223372036854775807"), Want::Ok(Length(i64::MAX as u64))),
        ("TE chunked", req("POST", b"Transfer-Encoding: chunked"), Want::Ok(Chunked)),
        ("TE Chunked case", req("POST", b"Transfer-Encoding: ChUnKeD"), Want::Ok(Chunked)),
        ("leading CRLF", [b"\r\n".as_slice(), &req("GET", b"")].concat(), Want::Ok(NoBody)),
        ("HTTP/1.0 no Host", b"GET / HTTP/1.0\r\n\r\n".to_vec(), Want::Ok(NoBody)),
        ("Sec-WebSocket-Key1 no framing", req("GET", b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5"), Want::Ok(NoBody)),
        ("Sec-WebSocket-Key1 with CL", req("POST", b"Sec-WebSocket-Key1: x|Content-Length: 3"), Want::Ok(Length(3))),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Ok(NoBody)),
        ("CONNECT authority", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n".to_vec(), Want::Ok(NoBody)),
        ("absolute-form", b"GET http://a/b?c HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Ok(NoBody)),
        // waitress CVE-2019-16785: bare LF anywhere.
        ("bare LF request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("bare LF header line", b"GET / HTTP/1.1\r\nHost: a\n\r\n".to_vec(), Want::Err(400)),
        ("bare LF final line", b"GET / HTTP/1.1\r\nHost: a\r\n\n".to_vec(), Want::Err(400)),
        ("bare LF leading", [b"\n".as_slice(), &req("GET", b"")].concat(), Want::Err(400)),
        ("bare CR request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        // uWSGI #2775: obs-fold.
        ("obs-fold SP", req("GET", b"X-A: a| b"), Want::Err(400)),
        ("obs-fold HTAB", req("GET", b"X-A: a|\tb"), Want::Err(400)),
        // waitress 1.4.0, llhttp CVE-2021-22959: whitespace before colon.
        ("SP before colon", req("POST", b"Content-Length : 5"), Want::Err(400)),
        ("HTAB before colon", req("POST", b"Content-Length\t: 5"), Want::Err(400)),
        // gunicorn 22/23: control characters in values, empty names.
        ("NUL in value", req("GET", b"X-A: a\0b"), Want::Err(400)),
        ("CR in value", req("GET", b"X-A: a\rb"), Want::Err(400)),
        ("\\x01 in value", req("GET", b"X-A: a\x01b"), Want::Err(400)),
        ("DEL in value", req("GET", b"X-A: a\x7fb"), Want::Err(400)),
        ("empty name", req("GET", b": x"), Want::Err(400)),
        // gunicorn #3091/#3364, waitress CVE-2019-16789: odd whitespace around names and TE values.
        ("\\xa0 after TE name", req("POST", b"Transfer-Encoding\xa0: chunked"), Want::Err(400)),
        ("\\x85 in name", req("POST", b"Transfer-Encoding\x85: chunked"), Want::Err(400)),
        ("\\x0b before chunked", req("POST", b"Transfer-Encoding: \x0bchunked"), Want::Err(400)),
        ("\\x0c before chunked", req("POST", b"Transfer-Encoding: \x0cchunked"), Want::Err(400)),
        ("\\x85 before chunked", req("POST", b"Transfer-Encoding: \x85chunked"), Want::Err(400)),
        ("\\xa0 after chunked", req("POST", b"Transfer-Encoding: chunked\xa0"), Want::Err(400)),
        ("NUL after chunked", req("POST", b"Transfer-Encoding: chunked\0"), Want::Err(400)),
        ("\\x1f before chunked", req("POST", b"Transfer-Encoding: \x1fchunked"), Want::Err(400)),
        // CL rules.
        ("CL + TE", req("POST", b"Content-Length: 5|Transfer-Encoding: chunked"), Want::Err(400)),
        ("TE + CL", req("POST", b"Transfer-Encoding: chunked|Content-Length: 5"), Want::Err(400)),
        ("duplicate CL equal", req("POST", b"Content-Length: 5|Content-Length: 5"), Want::Err(400)),
        ("duplicate CL differ", req("POST", b"Content-Length: 5|Content-Length: 6"), Want::Err(400)),
        ("CL list", req("POST", b"Content-Length: 5, 5"), Want::Err(400)),
        ("CL +5", req("POST", b"Content-Length: +5"), Want::Err(400)),
        ("CL -1", req("POST", b"Content-Length: -1"), Want::Err(400)),
        ("CL 0x5", req("POST", b"Content-Length: 0x5"), Want::Err(400)),
        ("CL inner space", req("POST", b"Content-Length: 5 5"), Want::Err(400)),
        ("CL arabic digit", req("POST", "Content-Length: \u{665}".as_bytes()), Want::Err(400)),
        ("CL empty", req("POST", b"Content-Length:"), Want::Err(400)),
        ("CL overflow", req("POST", b"Content-Length: 99999999999999999999999"), Want::Err(400)),
        ("CL i64::MAX+1", req("POST", b"Content-Length: 9223372036854775808"), Want::Err(400)),
        // gunicorn CVE-2024-1135 / CVE-2024-6827, waitress: TE rules.
        ("TE chunked + identity", req("POST", b"Transfer-Encoding: chunked|Transfer-Encoding: identity"), Want::Err(400)),
        ("TE twice chunked", req("POST", b"Transfer-Encoding: chunked|Transfer-Encoding: chunked"), Want::Err(400)),
        ("TE chunked, chunked", req("POST", b"Transfer-Encoding: chunked, chunked"), Want::Err(400)),
        ("TE chunked, gzip", req("POST", b"Transfer-Encoding: chunked, gzip"), Want::Err(400)),
        ("TE gzip, chunked", req("POST", b"Transfer-Encoding: gzip, chunked"), Want::Err(501)),
        ("TE identity", req("POST", b"Transfer-Encoding: identity"), Want::Err(400)),
        ("TE gzip", req("POST", b"Transfer-Encoding: gzip"), Want::Err(400)),
        ("TE xchunked", req("POST", b"Transfer-Encoding: xchunked"), Want::Err(400)),
        ("TE xchunked + CL", req("POST", b"Transfer-Encoding: xchunked|Content-Length: 5"), Want::Err(400)),
        ("TE chunked;q=1 + CL", req("POST", b"Transfer-Encoding: chunked;q=1|Content-Length: 5"), Want::Err(400)),
        ("TE chunked;q=1", req("POST", b"Transfer-Encoding: chunked;q=1"), Want::Err(400)),
        ("TE quoted + CL", req("POST", b"Transfer-Encoding: \"chunked\"|Content-Length: 5"), Want::Err(400)),
        ("TE quoted", req("POST", b"Transfer-Encoding: \"chunked\""), Want::Err(400)),
        ("TE empty", req("POST", b"Transfer-Encoding:"), Want::Err(400)),
        ("TE empty element", req("POST", b"Transfer-Encoding: , chunked"), Want::Err(400)),
        ("chunked on 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), Want::Err(400)),
        // Versions: 1.2-1.9 are served as 1.1 (RFC 9110 §2.5, so they need Host); 505 for another
        // well-formed HTTP/x.y; 400 for non-versions.
        ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(), Want::Ok(NoBody)),
        ("HTTP/1.9 chunked", b"POST / HTTP/1.9\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), Want::Ok(Chunked)),
        ("HTTP/1.2 no Host", b"GET / HTTP/1.2\r\n\r\n".to_vec(), Want::Err(400)),
        ("HTTP/1.10", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), Want::Err(505)),
        ("HTTP/0.9", b"GET / HTTP/0.9\r\n\r\n".to_vec(), Want::Err(505)),
        ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Want::Err(505)),
        ("lowercase http", b"GET / http/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("garbage version", b"GET / FOO\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("HTTP/1.10", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("no version", b"GET /\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        // gunicorn #3366, 25.3+: duplicates and missing Host.
        ("duplicate Host", req("GET", b"Host: b"), Want::Err(400)),
        ("duplicate Content-Type", req("POST", b"Content-Type: a/b|Content-Type: c/d"), Want::Err(400)),
        ("1.1 without Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), Want::Err(400)),
        ("Host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), Want::Err(400)),
        ("Host with slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec(), Want::Err(400)),
        // Targets and methods.
        ("empty target", b"GET  HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("authority-form GET", b"GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("asterisk-form GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("relative target", b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("method with (", b"G(ET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("method with NUL", b"GE\0T / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("HTAB after method", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("two SP after method", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        ("NUL in target", b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), Want::Err(400)),
        // Expect: only 100-continue, and only HTTP/1.1 looks at it.
        ("Expect other", req("POST", b"Expect: 200-ok|Content-Length: 1"), Want::Err(417)),
        ("Expect other on 1.0 ignored", b"POST / HTTP/1.0\r\nExpect: x\r\n\r\n".to_vec(), Want::Ok(NoBody)),
    ];
    let mut failures = Vec::new();
    for (name, buf, want) in &rows {
        let got = outcome(buf);
        if got != *want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn head_fields() {
    let buf =
        b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: h\r\nX-Foo:  bar \r\nx_under: 1\r\n\r\nBODY";
    let (h, n) = run(buf).unwrap().unwrap();
    assert_eq!(n, buf.len() - 4);
    assert_eq!(h.method(), b"GET");
    assert_eq!(h.target(), b"/a%20b/c?x=1&y=%2F");
    assert_eq!(h.path(), b"/a%20b/c");
    assert_eq!(h.query(), b"x=1&y=%2F");
    assert_eq!(h.server_protocol(), "HTTP/1.1");
    assert_eq!(h.form, TargetForm::Origin);
    let hs: Vec<_> = h.headers().collect();
    assert_eq!(
        hs,
        [
            (&b"Host"[..], &b"h"[..]),
            (b"X-Foo", b"bar"),
            (b"x_under", b"1")
        ]
    );
    assert_eq!(h.header(b"x-foo"), Some(&b"bar"[..]));
    assert!(h.keep_alive && !h.expect_continue);
    assert_eq!(percent_decode(h.path()), b"/a b/c");

    let (h, _) = run(b"GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.form, h.path(), h.query()),
        (TargetForm::Absolute, &b"/"[..], &b""[..])
    );
    let (h, _) = run(b"GET https://a.example/p/q?z HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.path(), h.query()), (&b"/p/q"[..], &b"z"[..]));
    let (h, _) = run(b"GET /?? HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.path(), h.query()), (&b"/"[..], &b"?"[..]));
    let (h, _) = run(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.form, h.path()), (TargetForm::Authority, &b""[..]));
}

#[test]
fn keep_alive_and_expect() {
    let ka = |b: &[u8]| run(b).unwrap().unwrap().0.keep_alive;
    assert!(ka(&req("GET", b"")));
    assert!(!ka(&req("GET", b"Connection: close")));
    assert!(!ka(&req("GET", b"Connection: keep-alive, Close")));
    assert!(!ka(&req("GET", b"Connection: upgrade|Connection: close")));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    let (h, _) = run(&req("POST", b"Expect: 100-Continue|Content-Length: 3"))
        .unwrap()
        .unwrap();
    assert!(h.expect_continue);
    let (h, _) = run(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.expect_continue, "HTTP/1.0 ignores Expect");
}

#[test]
fn limits_414_431() {
    let limits = HeadLimits {
        max_head: 64,
        max_uri: 32,
        max_headers: 2,
    };
    let p = |b: &[u8]| parse_head(b, &limits).map(|o| o.map(|(_, n)| n));
    // Request line of exactly 32 bytes is fine, 33 is 414, complete or not.
    let line32 = b"GET /aaaaaaaaaaaaaaaaaa HTTP/1.1";
    assert_eq!(line32.len(), 32);
    assert_eq!(
        p(&[line32.as_slice(), b"\r\nHost: a\r\n\r\n"].concat()),
        Ok(Some(45))
    );
    assert_eq!(p(line32), Ok(None));
    assert_eq!(p(&[line32.as_slice(), b"\r"].concat()), Ok(None));
    let line33 = b"GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1";
    assert_eq!(
        p(&[line33.as_slice(), b"\r\nHost: a\r\n\r\n"].concat())
            .unwrap_err()
            .status,
        414
    );
    assert_eq!(p(&line33[..33]).unwrap_err().status, 414);
    assert_eq!(
        p(b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .unwrap_err()
            .status,
        414
    );
    // Head over max_head, incomplete or complete: 431.
    let long = [b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(), &[b'v'; 40]].concat();
    assert_eq!(p(&long[..60]), Ok(None));
    assert_eq!(p(&long).unwrap_err().status, 431);
    assert_eq!(
        p(&[long.as_slice(), b"\r\n\r\n"].concat())
            .unwrap_err()
            .status,
        431
    );
    // Too many headers: 431, even before the head is complete.
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n")
            .unwrap_err()
            .status,
        431
    );
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n"),
        Ok(Some(33))
    );
    // Many headers beyond the stack slots still work.
    let big = HeadLimits {
        max_head: 1 << 16,
        max_uri: 100,
        max_headers: 300,
    };
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..250 {
        many.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(
        parse_head(&many, &big).unwrap().unwrap().0.headers().len(),
        251
    );
}

#[test]
fn pipelined_bad_then_good() {
    // The error is for the first request; the caller answers it and closes without parsing the
    // second, which may be smuggled (waitress CVE-2024-49768).
    let buf = [
        req("POST", b"Content-Length: 5|Content-Length: 5").as_slice(),
        b"hello",
        &req("GET", b""),
    ]
    .concat();
    assert_eq!(run(&buf).unwrap_err().status, 400);
    // A good first request reports exactly its own length, leaving the next one untouched.
    let buf = [req("GET", b"").as_slice(), &req("GET", b"X-Second: 1")].concat();
    let (_, n) = run(&buf).unwrap().unwrap();
    assert_eq!(n, req("GET", b"").len());
}

#[test]
fn whitespace_bomb_is_fast() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    buf.extend((0..64 * 1024).map(|i| if i % 2 == 0 { b' ' } else { b'\t' }));
    buf.extend_from_slice(b"\x01\r\n\r\n");
    let limits = HeadLimits {
        max_head: 1 << 20,
        max_uri: 1 << 20,
        max_headers: 100,
    };
    let t = std::time::Instant::now();
    assert_eq!(parse_head(&buf, &limits).unwrap_err().status, 400);
    // 10 ms is the target for release builds; the bound is loose so debug builds pass too.
    assert!(
        t.elapsed() < std::time::Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}

fn samples() -> Vec<Vec<u8>> {
    vec![
        req("GET", b""),
        req("POST", b"Content-Length: 5|Content-Type: text/plain|X-A: b"),
        req("POST", b"Transfer-Encoding: chunked|Expect: 100-continue"),
        b"\r\nGET /x?y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        b"GET http://h/p HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n".to_vec(),
        b"GET /\xff\xc3\x28?\xe9 HTTP/1.1\r\nHost: h\r\nUser-Agent: \xff\r\n\r\n".to_vec(),
    ]
}

#[test]
fn obs_text_in_the_target_is_kept_not_refused() {
    // Not UTF-8 (httparse alone refuses it); uWSGI passes such bytes through to the app.
    let buf = b"GET /a\xff\xfe/\xc3\x28?q=\xe9 HTTP/1.1\r\nHost: h\r\nX-A: \x80\r\n\r\n";
    let (h, n) = run(buf).unwrap().unwrap();
    assert_eq!(n, buf.len());
    assert_eq!(h.target(), b"/a\xff\xfe/\xc3\x28?q=\xe9");
    assert_eq!(
        (h.path(), h.query()),
        (&b"/a\xff\xfe/\xc3\x28"[..], &b"q=\xe9"[..])
    );
    assert_eq!(h.header(b"x-a"), Some(&b"\x80"[..]));
    let (h, _) = run(b"\r\nGET /\xff HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert_eq!((h.target(), h.minor_version), (&b"/\xff"[..], 0));
    // Masking never makes a bad method, version or control byte acceptable.
    for bad in [
        &b"G\xc9T / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.\xb1\r\nHost: h\r\n\r\n",
        b"GET /\xff\x1b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /\xff\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert!(run(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn every_prefix_is_incomplete() {
    for s in samples() {
        let (whole, n) = run(&s).unwrap().unwrap();
        assert_eq!(n, s.len());
        for k in 0..s.len() {
            assert_eq!(
                run(&s[..k]).map(|o| o.is_some()),
                Ok(false),
                "prefix {k} of {s:?}"
            );
        }
        let with_body = [s.as_slice(), b"hello"].concat();
        let (again, m) = run(&with_body).unwrap().unwrap();
        assert_eq!(
            (m, again.target(), again.framing),
            (n, whole.target(), whole.framing)
        );
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Lcg(0x5eed);
    let small = HeadLimits {
        max_head: 48,
        max_uri: 20,
        max_headers: 2,
    };
    let mut reused = RequestHead::default();
    for s in samples() {
        for _ in 0..2000 {
            let mut buf = s.clone();
            for _ in 0..=rng.below(3) {
                rng.mutate(&mut buf);
            }
            for limits in [HeadLimits::default(), small] {
                if let Ok(Some((h, n))) = parse_head(&buf, &limits) {
                    assert!(n <= buf.len() && n <= limits.max_head);
                    assert!(h.minor_version <= 1 && !h.method().is_empty());
                    assert!(!(h.minor_version == 0 && h.framing == BodyFraming::Chunked));
                    // Parsing only the head gives the same answer, and so does a reused head.
                    assert_eq!(
                        parse_head(&buf[..n], &limits).map(|o| o.map(|x| x.1)),
                        Ok(Some(n))
                    );
                    assert_eq!(parse_head_into(&buf, &limits, &mut reused), Ok(Some(n)));
                    assert_eq!(reused.target(), h.target());
                }
            }
        }
    }
}

#[test]
fn cgi_names() {
    let cgi = |n: &[u8]| header_cgi_name(n).map(|v| String::from_utf8(v).unwrap());
    assert_eq!(
        cgi(b"X-Forwarded-For").as_deref(),
        Some("HTTP_X_FORWARDED_FOR")
    );
    assert_eq!(cgi(b"host").as_deref(), Some("HTTP_HOST"));
    assert_eq!(cgi(b"Content-Type").as_deref(), Some("CONTENT_TYPE"));
    assert_eq!(cgi(b"content-length").as_deref(), Some("CONTENT_LENGTH"));
    assert_eq!(cgi(b"X_Forwarded_For"), None);
    assert_eq!(cgi(b"Content_Length"), None);
    assert_eq!(cgi(b""), None);
    assert_eq!(cgi(b"X Y"), None);
    let mut buf = b"junk".to_vec();
    assert!(header_cgi_name_into(b"a-b", &mut buf));
    assert_eq!(buf, b"HTTP_A_B");
}

#[test]
fn percent_decoding() {
    let d = |s: &[u8]| percent_decode(s);
    assert_eq!(d(b"/a%20b"), b"/a b");
    assert_eq!(d(b"/%2e%2E/%2f"), b"/../\x2f");
    assert_eq!(d(b"/%00x"), b"/\0x");
    assert_eq!(d(b"/%zz%4"), b"/%zz%4");
    assert_eq!(d(b"%"), b"%");
    assert_eq!(d(b"%%41"), b"%A");
    assert_eq!(d(b"a+b"), b"a+b");
    assert_eq!(d(b"%c3%A9"), "\u{e9}".as_bytes());
}

#[test]
fn common_header_names_match_the_general_rule() {
    for name in [
        &b"host"[..],
        b"Host",
        b"USER-AGENT",
        b"Accept",
        b"accept-encoding",
        b"Accept-Language",
        b"connection",
        b"Content-Type",
        b"content-length",
        b"Cookie",
        b"Referer",
        b"Cache-Control",
        b"X-Forwarded-For",
        b"x-forwarded-proto",
        b"X-Real-IP",
        b"Authorization",
        b"Origin",
    ] {
        let common = common_header_cgi_name(name).expect("a common header");
        assert_eq!(Some(common.to_vec()), header_cgi_name(name), "{name:?}");
    }
    for other in [&b"x-custom"[..], b"hos", b"hostx", b"x_forwarded_for", b""] {
        assert_eq!(common_header_cgi_name(other), None, "{other:?}");
    }
}

#[test]
fn later_http_1_minor_is_served_as_1_1_and_keeps_the_original_bytes() {
    let buf = b"GET /x HTTP/1.2\r\nHost: a\r\n\r\n";
    let (h, n) = run(buf).unwrap().unwrap();
    assert_eq!(n, buf.len());
    assert_eq!(h.minor_version, 1);
    assert_eq!(h.server_protocol(), "HTTP/1.1");
    // Every prefix is incomplete, never an error: the mapping does not wait for the CRLF.
    for cut in 0..buf.len() {
        assert!(matches!(run(&buf[..cut]), Ok(None)), "prefix {cut}");
    }
}

#[test]
fn the_tchar_table_is_rfc_9110s_token_set() {
    // RFC 9110 §5.6.2, spelled out independently of the table.
    let spec = |b: u8| b.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".bytes().any(|p| p == b);
    let mut tokens = 0;
    for b in 0..=255u8 {
        assert_eq!(is_tchar(b), spec(b), "byte {b:#04x}");
        tokens += usize::from(is_tchar(b));
    }
    assert_eq!(tokens, 26 * 2 + 10 + 15);
}
