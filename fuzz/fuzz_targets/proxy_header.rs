//! Fuzz the PROXY protocol header parser: no panics, a header never claims more bytes than it
//! was given, and every shorter prefix of a header asks for more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::proto::proxy::{parse, Parsed};

fuzz_target!(|data: &[u8]| {
    if let Ok(Parsed::Header { len, .. }) = parse(data) {
        assert!(len <= data.len());
        for k in [0, 1, 5, 6, 12, 15, len - 1] {
            if k < len {
                assert_eq!(parse(&data[..k]), Ok(Parsed::Incomplete));
            }
        }
        assert_eq!(parse(&data[..len]), parse(data));
    }
});
