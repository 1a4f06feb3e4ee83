//! Fuzz the HTTP request-head parser and the response-side validators with arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::proto::http::{
    header_cgi_name, parse_head, percent_decode, validate_header, validate_status,
    write_response_head, BodyFraming, HeadLimits,
};

fuzz_target!(|data: &[u8]| {
    let small = HeadLimits {
        max_head: 256,
        max_uri: 64,
        max_headers: 8,
    };
    for limits in [HeadLimits::default(), small] {
        if let Ok(Some((head, consumed))) = parse_head(data, &limits) {
            // A head never claims bytes it was not given or more than the limit allows.
            assert!(consumed <= data.len() && consumed <= limits.max_head);
            // Same answer when only the head is present: the body never influences the head.
            let again = parse_head(&data[..consumed], &limits).expect("head alone must parse");
            assert_eq!(again.map(|(_, n)| n), Some(consumed));
            assert!(head.minor_version <= 1);
            assert!(!(head.minor_version == 0 && head.framing == BodyFraming::Chunked));
            let _ = percent_decode(head.path());
            for (name, value) in head.headers() {
                let _ = header_cgi_name(name);
                // Everything the parser accepted is also safe to echo back as a response header.
                assert!(validate_header(name, value));
            }
        }
    }
    // Response side: whatever passes validation must produce a head with exactly one blank line.
    let (status, rest) = data.split_at(data.len().min(16));
    let (name, value) = rest.split_at(rest.len() / 2);
    if validate_status(status).is_ok() && validate_header(name, value) {
        let mut out = Vec::new();
        write_response_head(&mut out, 1, status, &[(name, value)], &[]);
        // Exactly the three line ends the writer put there: no CR or LF came from the inputs.
        assert!(out.ends_with(b"\r\n\r\n"));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
        assert_eq!(out.iter().filter(|&&b| b == b'\r').count(), 3);
    }
});
