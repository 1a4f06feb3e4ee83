//! Pure protocol parsers and encoders over bytes (HTTP/1.1, uwsgi). Fuzzable: no I/O here.

pub mod chunked;
pub mod http;
pub mod proxy;
pub mod spool;
pub mod uwsgi;

#[cfg(test)]
mod testutil;

/// One CGI var of a request (key, value), borrowed from the bytes it was parsed from where it
/// can be: a request's vars then cost no allocation each.
pub type Var<'a> = (std::borrow::Cow<'a, [u8]>, std::borrow::Cow<'a, [u8]>);

/// `n` in decimal, written at the end of `buf` (no allocation, no `core::fmt`).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Appends `n` in decimal to `out`.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0u8; 20]));
}

#[cfg(test)]
mod decimal_tests {
    #[test]
    fn decimal_matches_display() {
        for n in [0u64, 7, 13, 100, 65535, 65536, u64::MAX] {
            let mut out = b"x".to_vec();
            super::push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
