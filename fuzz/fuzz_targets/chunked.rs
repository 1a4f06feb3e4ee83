//! Fuzz the chunked decoder: whole, split in two, and byte-at-a-time decoding must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rw::proto::chunked::ChunkedDecoder;

fn decode_in_pieces(data: &[u8], piece: usize) -> Result<(Vec<u8>, usize, bool), u16> {
    let mut decoder = ChunkedDecoder::new(Some(1 << 16));
    let mut out = Vec::new();
    let mut used = 0;
    for chunk in data.chunks(piece.max(1)) {
        let (n, done) = decoder.decode(chunk, &mut out).map_err(|e| e.status)?;
        used += n;
        if done {
            return Ok((out, used, true));
        }
        assert_eq!(n, chunk.len(), "an unfinished body consumes all input");
    }
    Ok((out, used, decoder.is_done()))
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split size so the fuzzer explores read boundaries too.
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let whole = decode_in_pieces(data, data.len());
    assert_eq!(whole, decode_in_pieces(data, 1));
    assert_eq!(whole, decode_in_pieces(data, usize::from(split)));
    if let Ok((body, used, _)) = whole {
        assert!(used <= data.len() && body.len() <= used);
    }
});
