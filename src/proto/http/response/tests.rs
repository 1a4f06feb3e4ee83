//! Response-side tests: status/header validation, head bytes, framing rules, error responses.

use super::*;

#[test]
fn status_and_headers_validation() {
    assert_eq!(validate_status(b"200 OK"), Ok(200));
    assert_eq!(validate_status(b"404"), Ok(404));
    assert_eq!(validate_status(b"299 "), Ok(299));
    assert_eq!(validate_status(b"200 caf\xe9\tok"), Ok(200));
    for bad in [
        &b"200 OK\r\nX: y"[..],
        b"200 O\nK",
        b"200 O\0K",
        b"20",
        b"2000 X",
        b"200\tOK",
        b"abc",
        b"099 x",
        b"600 x",
        b"",
        b" 200 OK",
        b"200 \x7f",
    ] {
        assert!(validate_status(bad).is_err(), "{bad:?}");
    }
    assert!(validate_header(b"X-Foo", b"a\tb c"));
    assert!(validate_header(b"X-Foo", b""));
    for (n, v) in [
        (&b"Foo"[..], &b"a\r\nBar: b"[..]),
        (b"Foo", b"a\nb"),
        (b"Foo", b"a\0"),
        (b"Foo", b"\x1b[0m"),
        (b"Fo o", b"a"),
        (b"Foo:", b"a"),
        (b"", b"a"),
        (b"F\r\no", b"a"),
    ] {
        assert!(!validate_header(n, v), "{n:?} {v:?}");
    }
}

#[test]
fn response_head_bytes() {
    let mut out = Vec::new();
    let headers = [("Content-Type", "text/plain")];
    write_response_head(&mut out, 1, b"404", &headers, &[(b"Connection", b"close")]);
    assert_eq!(
        out,
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    );
    out.clear();
    let none: [(&[u8], &[u8]); 0] = [];
    write_response_head(&mut out, 0, b"299", &none, &[]);
    assert_eq!(out, b"HTTP/1.0 299 Unknown\r\n\r\n");
    out.clear();
    write_response_head(
        &mut out,
        1,
        b"200 Fine",
        &[(b"A".to_vec(), b"1".to_vec())],
        &[],
    );
    assert_eq!(out, b"HTTP/1.1 200 Fine\r\nA: 1\r\n\r\n");
    assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
    assert_eq!(reason_phrase(799), "Unknown");
}

#[test]
fn response_framing_rules() {
    let f = response_framing;
    // (status, is_head, minor, CL, app TE, keep-alive requested) -> (body, chunked, keep-alive, keep CL)
    type Row = (
        (u16, bool, u8, Option<u64>, bool, bool),
        (bool, bool, bool, bool),
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ((200, false, 1, None, false, true), (true, true, true, false)),
        ((200, false, 1, Some(5), false, true), (true, false, true, true)),
        ((200, false, 0, None, false, true), (true, false, false, false)),
        ((200, false, 0, Some(5), false, true), (true, false, true, true)),
        ((200, true, 1, None, false, true), (false, false, true, false)),
        ((200, true, 1, Some(5), false, true), (false, false, true, true)),
        ((204, false, 1, Some(0), false, true), (false, false, true, false)),
        ((304, false, 1, Some(9), false, true), (false, false, true, true)),
        ((103, false, 1, Some(9), false, true), (false, false, true, false)),
        ((200, false, 1, None, true, true), (true, false, false, false)),
        ((200, false, 1, Some(5), true, true), (true, false, false, true)),
        ((200, false, 1, Some(5), false, false), (true, false, false, true)),
    ];
    for &((s, h, m, cl, te, ka), want) in rows {
        let r = f(s, h, m, cl, te, ka);
        assert_eq!(
            (
                r.body_allowed,
                r.chunked,
                r.keep_alive,
                r.keep_content_length
            ),
            want,
            "{s} head={h} 1.{m} cl={cl:?} te={te} ka={ka}"
        );
    }
    let r = f(200, false, 1, None, false, false);
    assert_eq!(r.connection_header(1), Some(&b"close"[..]));
    let r = f(200, false, 0, Some(1), false, true);
    assert_eq!(r.connection_header(0), Some(&b"keep-alive"[..]));
}

#[test]
fn error_response_is_complete() {
    let e = HttpError::new(431, "too many header fields");
    let out = error_response(&e);
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(
        head.contains("\r\nConnection: close") && head.contains("\r\nContent-Type: text/plain")
    );
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert_eq!(
        e.to_string(),
        "431 Request Header Fields Too Large: too many header fields"
    );
}
