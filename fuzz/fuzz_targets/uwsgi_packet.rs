//! Fuzz the uwsgi packet parser: no panics, and every accepted packet re-encodes to its own bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::proto::uwsgi::{content_length, encode_packet, parse_packet, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    for max_block in [64, 4096, 65535] {
        if let Ok(Some((packet, consumed))) = parse_packet(data, max_block) {
            assert!(consumed <= data.len() && consumed - HEADER_LEN <= max_block);
            let encoded = encode_packet(packet.modifier1, &packet.vars, packet.modifier2);
            assert_eq!(encoded.as_slice(), &data[..consumed]);
            let _ = content_length(&packet.vars);
            // Byte-at-a-time delivery: every shorter prefix must ask for more.
            for k in [0, 1, 3, HEADER_LEN, consumed - 1] {
                if k < consumed {
                    assert_eq!(parse_packet(&data[..k], max_block), Ok(None));
                }
            }
        }
    }
});
