//! Chunked-decoder tests: strictness table, byte-at-a-time equivalence, truncation, mutations.

use super::*;
use crate::proto::testutil::Lcg;

/// Body, consumed, done; or the error status.
type Outcome = Result<(Vec<u8>, usize, bool), u16>;

/// Whole-buffer decode.
fn whole(input: &[u8], max: Option<u64>) -> Outcome {
    let mut d = ChunkedDecoder::new(max);
    let mut out = Vec::new();
    let (n, done) = d.decode(input, &mut out).map_err(|e| e.status)?;
    Ok((out, n, done))
}

/// Feed one byte per call, as a slow client would; must agree with `whole`.
fn bytewise(input: &[u8], max: Option<u64>) -> Outcome {
    let mut d = ChunkedDecoder::new(max);
    let mut out = Vec::new();
    let mut used = 0;
    for b in input {
        let (n, done) = d
            .decode(std::slice::from_ref(b), &mut out)
            .map_err(|e| e.status)?;
        used += n;
        if done {
            return Ok((out, used, true));
        }
    }
    Ok((out, used, d.is_done()))
}

#[test]
fn strictness_table() {
    let ok = |body: &str, n: usize| Ok::<_, u16>((body.as_bytes().to_vec(), n, true));
    #[rustfmt::skip]
    let rows: &[(&str, &[u8], Outcome)] = &[
        ("simple", b"5\r\nhello\r\n0\r\n\r\n", ok("hello", 15)),
        ("two chunks", b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", ok("hello", 20)),
        ("upper hex", b"A\r\n0123456789\r\n0\r\n\r\n", ok("0123456789", 20)),
        ("leading zeros", b"0005\r\nhello\r\n000\r\n\r\n", ok("hello", 20)),
        ("extensions", b"5;a=b;c;d=\"q \\\" x\"\r\nhello\r\n0;e\r\n\r\n", ok("hello", 34)),
        ("trailers", b"5\r\nhello\r\n0\r\nX-T: v\r\nY:\r\n\r\n", ok("hello", 27)),
        ("pipelined rest untouched", b"0\r\n\r\nGET / HTTP/1.1\r\n", ok("", 5)),
        // waitress CVE-2022-24761, hyper CVE-2021-32715: sizes are bare hex.
        ("0x", b"0x5\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("plus", b"+5\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("minus", b"-5\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("leading space", b" 5\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n", Err(400)),
        ("trailing tab", b"5\t\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("space before ext", b"5 ;a\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("empty size", b"\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("non-hex", b"g\r\n", Err(400)),
        // hyper CVE-2021-32714: overflow.
        ("overflow", b"ffffffffffffffffff1\r\n", Err(400)),
        ("u64 max ok then limit", b"ffffffffffffffff\r\n", Err(413)),
        // waitress CVE-2019-16785: bare LF anywhere in the framing.
        ("bare LF size line", b"5\nhello\r\n0\r\n\r\n", Err(400)),
        ("bare LF after data", b"5\r\nhello\n0\r\n\r\n", Err(400)),
        ("bare LF last chunk", b"5\r\nhello\r\n0\n\r\n", Err(400)),
        ("bare LF final", b"5\r\nhello\r\n0\r\n\n", Err(400)),
        ("CR CR", b"5\r\rhello\r\n0\r\n\r\n", Err(400)),
        ("data longer than size", b"3\r\nhello\r\n0\r\n\r\n", Err(400)),
        // gunicorn 25.3+: bare CR and bad bytes in extensions.
        ("bare CR in ext", b"5;a\rb\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("bare CR in quoted ext", b"5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("NUL in ext", b"5;a\0\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("ctl in quoted ext", b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("empty ext name", b"5;=b\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("empty ext value", b"5;a=\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("ext after quote junk", b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", Err(400)),
        ("LF in ext", b"5;a\nhello\r\n0\r\n\r\n", Err(400)),
        // Trailers: obs-fold, bare LF, bad names/values.
        ("trailer obs-fold", b"0\r\nX: a\r\n b\r\n\r\n", Err(400)),
        ("trailer bare LF", b"0\r\nX: a\n\r\n", Err(400)),
        ("trailer space before colon", b"0\r\nX : a\r\n\r\n", Err(400)),
        ("trailer empty name", b"0\r\n: a\r\n\r\n", Err(400)),
        ("trailer NUL", b"0\r\nX: a\0\r\n\r\n", Err(400)),
        ("trailer no colon", b"0\r\nX\r\n\r\n", Err(400)),
        // RFC 9110 §6.5.1: framing and routing fields never come from a trailer.
        ("trailer Content-Length", b"0\r\nContent-Length: 5\r\n\r\n", Err(400)),
        ("trailer Transfer-Encoding", b"0\r\nX: a\r\ntransfer-ENCODING: chunked\r\n\r\n", Err(400)),
        ("trailer Host", b"0\r\nHOST: evil\r\n\r\n", Err(400)),
        ("trailer TE", b"0\r\nTE: trailers\r\n\r\n", Err(400)),
        ("trailer name longer than any forbidden", b"0\r\nContent-Length-And-Much-More-X: 5\r\n\r\n", ok("", 40)),
        ("trailer with a forbidden prefix", b"0\r\nHostname: a\r\n\r\n", ok("", 18)),
    ];
    let mut failures = Vec::new();
    for (name, input, want) in rows {
        for (how, got) in [
            ("whole", whole(input, Some(1 << 20))),
            ("bytewise", bytewise(input, Some(1 << 20))),
        ] {
            if got != *want {
                failures.push(format!("{name} ({how}): want {want:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn max_body_413_before_data() {
    assert_eq!(
        whole(b"5\r\nhello\r\n0\r\n\r\n", Some(5)).map(|r| r.2),
        Ok(true)
    );
    assert_eq!(whole(b"5\r\nhello\r\n1\r\n", Some(5)), Err(413));
    // The size line alone is enough to refuse: the data never has to arrive.
    assert_eq!(whole(b"6\r\n", Some(5)), Err(413));
    assert_eq!(whole(b"6\r\n", None).map(|r| r.2), Ok(false));
}

#[test]
fn long_lines_refused() {
    let mut size_line = vec![b'0'; MAX_SIZE_LINE + 1];
    size_line.extend_from_slice(b"\r\n");
    assert_eq!(whole(&size_line, None), Err(400));
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < MAX_TRAILERS + 10 {
        trailers.extend_from_slice(b"X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(whole(&trailers, None), Err(431));
}

#[test]
fn truncated_is_never_done() {
    // gunicorn #3382: a body cut before the final CRLF must not look complete.
    let full = b"5;x=\"y\"\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    for k in 0..full.len() {
        let (_, n, done) = whole(&full[..k], None).unwrap();
        assert!(!done, "prefix {k} reported done");
        assert_eq!(n, k, "a valid prefix is consumed entirely");
        assert!(!bytewise(&full[..k], None).unwrap().2);
    }
    assert_eq!(
        whole(full, None),
        Ok((b"helloabc".to_vec(), full.len(), true))
    );
}

#[test]
fn error_is_sticky_and_done_consumes_nothing() {
    let mut d = ChunkedDecoder::new(None);
    let mut out = Vec::new();
    assert!(d.decode(b"z", &mut out).is_err());
    assert_eq!(d.decode(b"0\r\n\r\n", &mut out).unwrap_err().status, 400);
    let mut d = ChunkedDecoder::new(None);
    assert_eq!(d.decode(b"0\r\n\r\n", &mut out), Ok((5, true)));
    assert_eq!(d.decode(b"more", &mut out), Ok((0, true)));
    assert_eq!(d.total(), 0);
}

#[test]
fn every_split_point_agrees() {
    let samples: &[&[u8]] = &[
        b"5\r\nhello\r\n0\r\n\r\n",
        b"1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0\r\nA: b\r\nC: d\r\n\r\nNEXT",
        b"3;q=\"a\\\"b\"\r\nabc\r\n0\r\n\r\n",
    ];
    for s in samples {
        let want = whole(s, None).unwrap();
        for split in 0..=s.len() {
            let mut d = ChunkedDecoder::new(None);
            let mut out = Vec::new();
            let (a, _) = d.decode(&s[..split], &mut out).unwrap();
            assert_eq!(a, split.min(want.1));
            let (b, done) = d.decode(&s[a..], &mut out).unwrap();
            assert_eq!((out.clone(), a + b, done), want.clone(), "split at {split}");
        }
    }
}

#[test]
fn mutations_agree_bytewise_and_never_panic() {
    let mut rng = Lcg(0xc4_0c4ed);
    let samples: &[&[u8]] = &[
        b"5\r\nhello\r\n0\r\n\r\n",
        b"1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0\r\nA: b\r\n\r\n",
        b"3;q=\"a\\\"b\"\r\nabc\r\n0\r\n\r\n",
    ];
    for s in samples {
        for _ in 0..3000 {
            let mut buf = s.to_vec();
            for _ in 0..=rng.below(3) {
                rng.mutate(&mut buf);
            }
            let max = Some(16);
            let (a, b) = (whole(&buf, max), bytewise(&buf, max));
            assert_eq!(a, b, "input {buf:?}");
            if let Ok((out, n, _)) = a {
                assert!(n <= buf.len() && out.len() <= 16);
            }
        }
    }
}
