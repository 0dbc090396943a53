//! The replay buffer of a terminal session: the newest output, so that a
//! viewer who attaches later sees the screen. It keeps at least
//! [`KEEP`] bytes and is trimmed only where the output is between escape
//! sequences and UTF-8 characters, so a replay never starts inside one.

use std::collections::VecDeque;

/// Bytes kept after a trim (at least this many, when that much was written).
pub const KEEP: usize = 256 << 10;
/// Trimmed when it grows past this.
const HIGH: usize = 512 << 10;
/// Never more than this, even inside a huge escape string (then cut at a character boundary).
const HARD: usize = 4 << 20;
/// Safe cut points are remembered at most this often.
const MARK_EVERY: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vt {
    Ground,
    Utf8(u8),
    Esc,
    EscIntermediate,
    Csi,
    Osc,
    OscEsc,
    /// DCS, SOS, PM, APC: a string ended by ST.
    Str,
    StrEsc,
}

impl Vt {
    fn step(self, b: u8) -> Vt {
        use Vt::*;
        // CAN and SUB abort any sequence.
        if matches!(b, 0x18 | 0x1a) {
            return Ground;
        }
        match self {
            Ground | Utf8(0) => match b {
                0x1b => Esc,
                0xc0..=0xdf => Utf8(1),
                0xe0..=0xef => Utf8(2),
                0xf0..=0xf7 => Utf8(3),
                _ => Ground,
            },
            Utf8(n) => {
                if (0x80..=0xbf).contains(&b) {
                    if n == 1 {
                        Ground
                    } else {
                        Utf8(n - 1)
                    }
                } else {
                    Ground.step(b)
                }
            }
            Esc => match b {
                b'[' => Csi,
                b']' => Osc,
                b'P' | b'X' | b'^' | b'_' => Str,
                0x20..=0x2f => EscIntermediate,
                0x1b => Esc,
                _ => Ground,
            },
            EscIntermediate => match b {
                0x20..=0x2f => EscIntermediate,
                _ => Ground,
            },
            Csi => match b {
                0x40..=0x7e => Ground,
                0x1b => Esc,
                _ => Csi,
            },
            Osc => match b {
                0x07 => Ground,
                0x1b => OscEsc,
                _ => Osc,
            },
            OscEsc => match b {
                b'\\' => Ground,
                _ => Osc,
            },
            Str => match b {
                0x1b => StrEsc,
                _ => Str,
            },
            StrEsc => match b {
                b'\\' => Ground,
                _ => Str,
            },
        }
    }
}

pub struct Replay {
    data: VecDeque<u8>,
    /// Absolute offset of `data[0]` in everything ever written.
    start: u64,
    /// Absolute offsets where the parser was in the ground state.
    safe: VecDeque<u64>,
    state: Vt,
    last_mark: u64,
}

impl Default for Replay {
    fn default() -> Self {
        Replay {
            data: VecDeque::new(),
            start: 0,
            safe: VecDeque::new(),
            state: Vt::Ground,
            last_mark: 0,
        }
    }
}

impl Replay {
    pub fn push(&mut self, bytes: &[u8]) {
        let base = self.start + self.data.len() as u64;
        let mut i = 0;
        while i < bytes.len() {
            if self.state == Vt::Ground {
                // Fast path: plain ASCII and controls keep the parser in the ground state.
                let run = bytes[i..]
                    .iter()
                    .position(|&b| b >= 0x80 || b == 0x1b)
                    .unwrap_or(bytes.len() - i);
                if run > 0 {
                    i += run;
                    self.mark(base + i as u64);
                    continue;
                }
            }
            self.state = self.state.step(bytes[i]);
            i += 1;
            if self.state == Vt::Ground {
                self.mark(base + i as u64);
            }
        }
        self.data.extend(bytes);
        if self.data.len() > HIGH {
            self.trim();
        }
    }

    /// Remembers `pos` (in the ground state) as a place to cut, now and then.
    fn mark(&mut self, pos: u64) {
        if pos - self.last_mark >= MARK_EVERY {
            self.safe.push_back(pos);
            self.last_mark = pos;
        }
    }

    fn trim(&mut self) {
        let end = self.start + self.data.len() as u64;
        // Keep at least KEEP bytes, cutting at the first safe point that allows it.
        let limit = end - KEEP as u64;
        while self.safe.front().is_some_and(|&s| s <= self.start) {
            self.safe.pop_front();
        }
        let cut = self.safe.iter().copied().take_while(|&s| s <= limit).last();
        let cut = match cut {
            Some(c) => c,
            None if self.data.len() > HARD => {
                // No safe point at all: a runaway escape string. Cut at a character boundary.
                let mut c = end - KEEP as u64;
                while let Some(&b) = self.data.get((c - self.start) as usize) {
                    if (0x80..=0xbf).contains(&b) {
                        c += 1;
                    } else {
                        break;
                    }
                }
                c
            }
            None => return,
        };
        self.data.drain(..(cut - self.start) as usize);
        self.start = cut;
        while self.safe.front().is_some_and(|&s| s <= cut) {
            self.safe.pop_front();
        }
    }

    /// The bytes to replay, oldest first.
    pub fn snapshot(&self) -> Vec<u8> {
        let (a, b) = self.data.as_slices();
        [a, b].concat()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `bytes` starts in the ground state: not inside an escape
    /// sequence or a UTF-8 character.
    fn starts_clean(bytes: &[u8]) -> bool {
        !bytes.is_empty() && !(0x80..=0xbf).contains(&bytes[0]) && {
            // A cut inside a CSI would leave parameter bytes before the final byte, e.g. "31m".
            let s = String::from_utf8_lossy(&bytes[..bytes.len().min(8)]).into_owned();
            !s.starts_with(|c: char| c.is_ascii_digit() || c == ';' || c == 'm' || c == '[')
        }
    }

    #[test]
    fn keeps_everything_below_the_limit() {
        let mut r = Replay::default();
        r.push(b"hello \x1b[31mred\x1b[0m\r\n");
        assert_eq!(r.snapshot(), b"hello \x1b[31mred\x1b[0m\r\n");
    }

    #[test]
    fn trims_at_escape_boundaries_and_keeps_at_least_256_kib() {
        let mut r = Replay::default();
        // Colourful output with multi-byte characters, written in odd-sized
        // chunks that split characters and escape sequences.
        let line =
            "\x1b[1;32mgrün\x1b[0m \x1b]0;title\x07ünïcødé ✓ \x1b[38;5;208morange\x1b[0m\r\n"
                .repeat(20_000);
        let all = line.as_bytes();
        let mut at = 0;
        let mut i = 0;
        while at < all.len() {
            let n = (1 + i * 37 % 4093).min(all.len() - at);
            r.push(&all[at..at + n]);
            at += n;
            i += 1;
        }
        let snap = r.snapshot();
        assert!(snap.len() >= KEEP && snap.len() <= HIGH, "{}", snap.len());
        assert!(all.ends_with(&snap), "the snapshot is the newest output");
        assert!(
            std::str::from_utf8(&snap).is_ok(),
            "no UTF-8 character is cut"
        );
        assert!(
            starts_clean(&snap),
            "{:?}",
            String::from_utf8_lossy(&snap[..40])
        );
        // Starting at the cut, the parser is in the ground state.
        let mut vt = Vt::Ground;
        let cut = all.len() - snap.len();
        for &b in &all[..cut] {
            vt = vt.step(b);
        }
        assert_eq!(vt, Vt::Ground);
    }

    #[test]
    fn a_runaway_escape_string_is_still_bounded() {
        let mut r = Replay::default();
        r.push(b"\x1bP");
        for _ in 0..(HARD / 1000 + 10) {
            r.push(&[b'x'; 1000]);
        }
        assert!(r.len() <= HARD && r.len() >= KEEP);
    }
}
