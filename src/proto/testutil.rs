//! Test helpers shared by the protocol parsers' unit tests.

/// Minimal deterministic LCG so the mutation test needs no dependency and always runs the same cases.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Flip, insert or delete a random byte (favouring the bytes parsers care about).
    pub fn mutate(&mut self, buf: &mut Vec<u8>) {
        const INTERESTING: &[u8] = b"\r\n \t:;,\0\x0b\x7f\x85\xa0\"=0a-_/?*%";
        let byte = if self.next() & 1 == 0 {
            INTERESTING[self.below(INTERESTING.len())]
        } else {
            self.next() as u8
        };
        let at = self.below(buf.len() + 1);
        match self.next() % 3 {
            0 if at < buf.len() => buf[at] = byte,
            1 if at < buf.len() => {
                buf.remove(at);
            }
            _ => buf.insert(at, byte),
        }
    }
}
