//! PROXY protocol headers (HAProxy's spec, v1 text and v2 binary), as a load balancer sends them
//! ahead of the first request on a connection to say who the client is.
//!
//! uWSGI 2.0 (`http-enable-proxy-protocol`, `enable-proxy-protocol`) reads v1 only and makes the
//! header optional: a connection that does not start with `PROXY ` is an ordinary request.
//! rw keeps it optional (what uWSGI starts must keep working) and reads v2 too. Unlike uWSGI,
//! which skips to the next LF whatever the line holds, a header that starts right but is
//! malformed is an error (the caller answers 400): a half-read header would otherwise become
//! the request line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: twelve bytes no HTTP request starts with.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The longest v1 line, CRLF included (the spec's bound: `PROXY UNKNOWN` + two IPv6 addresses).
pub const V1_MAX: usize = 107;

/// v2 headers carrying more than this many address and TLV bytes are refused: real balancers
/// send tens to a few hundred (TLVs with TLS details); this bounds what one connection may
/// make the server buffer before a request.
pub const V2_MAX_PAYLOAD: usize = 2048;

/// What the start of a connection holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a PROXY header: the bytes are the request itself.
    NotProxy,
    /// A prefix of a header (or of something that may still become one): read more.
    Incomplete,
    /// A whole header of `len` bytes. `source` is the client's address, or `None` when the
    /// header says the connection carries no client (`UNKNOWN`, v2 `LOCAL`, unix or unspecified
    /// families): the socket's own peer address stands.
    Header {
        len: usize,
        source: Option<SocketAddr>,
    },
}

/// A malformed header; the text says what was wrong (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyError(pub &'static str);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PROXY protocol: {}", self.0)
    }
}

/// Reads a PROXY header at the start of `buf` (the first bytes of a connection).
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if let Some(p) = signature(buf, b"PROXY ") {
        return match p {
            Sig::Prefix => Ok(Parsed::Incomplete),
            Sig::Full => parse_v1(buf),
        };
    }
    if let Some(p) = signature(buf, V2_SIGNATURE) {
        return match p {
            Sig::Prefix => Ok(Parsed::Incomplete),
            Sig::Full => parse_v2(buf),
        };
    }
    Ok(Parsed::NotProxy)
}

enum Sig {
    /// `buf` is shorter than the signature and agrees with it so far.
    Prefix,
    Full,
}

fn signature(buf: &[u8], sig: &[u8]) -> Option<Sig> {
    let n = buf.len().min(sig.len());
    if buf[..n] != sig[..n] {
        return None;
    }
    Some(if n < sig.len() {
        Sig::Prefix
    } else {
        Sig::Full
    })
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError("v1 header longer than 107 bytes"));
        }
        return Ok(Parsed::Incomplete);
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProxyError("v1 header must end with CRLF"));
    }
    let line = &window[6..lf - 1];
    let len = lf + 1;
    let mut fields = line.split(|&b| b == b' ');
    let proto = fields.next().unwrap_or_default();
    if proto == b"UNKNOWN" {
        // The spec: the receiver ignores everything after UNKNOWN.
        return Ok(Parsed::Header { len, source: None });
    }
    let v6 = match proto {
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(ProxyError("v1 protocol must be TCP4, TCP6 or UNKNOWN")),
    };
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ProxyError(
            "v1 header needs exactly: protocol, source, destination, source port, destination port",
        ));
    };
    let src = v1_ip(src, v6)?;
    v1_ip(dst, v6)?;
    let sport = v1_port(sport)?;
    v1_port(dport)?;
    Ok(Parsed::Header {
        len,
        source: Some(SocketAddr::new(src, sport)),
    })
}

fn v1_ip(field: &[u8], v6: bool) -> Result<IpAddr, ProxyError> {
    let text = std::str::from_utf8(field).map_err(|_| ProxyError("v1 address is not ASCII"))?;
    if v6 {
        text.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| ProxyError("v1 TCP6 address is not an IPv6 address"))
    } else {
        // std refuses leading zeros ("010.0.0.1"), which some C parsers read as octal.
        text.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| ProxyError("v1 TCP4 address is not a dotted IPv4 address"))
    }
}

fn v1_port(field: &[u8]) -> Result<u16, ProxyError> {
    let ok = !field.is_empty()
        && field.len() <= 5
        && field.iter().all(u8::is_ascii_digit)
        && (field[0] != b'0' || field.len() == 1);
    let port = std::str::from_utf8(field)
        .ok()
        .filter(|_| ok)
        .and_then(|t| t.parse::<u16>().ok());
    port.ok_or(ProxyError("v1 port is not a number from 0 to 65535"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError("v2 version nibble is not 2"));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError("v2 command is neither LOCAL nor PROXY")),
    };
    let family = buf[13];
    let payload = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError("v2 header longer than rw accepts (2048 bytes)"));
    }
    let len = 16 + payload;
    if buf.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let body = &buf[16..len];
    // High nibble: address family; low: transport (1 stream, 2 datagram).
    let need = match family {
        0x00 => 0,
        0x11 | 0x12 => 12,
        0x21 | 0x22 => 36,
        0x31 | 0x32 => 216,
        _ => return Err(ProxyError("v2 address family is not one the spec defines")),
    };
    if body.len() < need {
        return Err(ProxyError(
            "v2 addresses are shorter than their family needs",
        ));
    }
    if local {
        // Health checks from the balancer itself: the connection is what it looks like.
        return Ok(Parsed::Header { len, source: None });
    }
    let source = match family {
        0x11 | 0x12 => {
            let ip: [u8; 4] = body[0..4].try_into().unwrap_or_default();
            let port = u16::from_be_bytes([body[8], body[9]]);
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        0x21 | 0x22 => {
            let ip: [u8; 16] = body[0..16].try_into().unwrap_or_default();
            let port = u16::from_be_bytes([body[32], body[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    };
    Ok(Parsed::Header { len, source })
}

#[cfg(test)]
mod tests;
