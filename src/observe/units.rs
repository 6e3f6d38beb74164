//! Numbers as people read them, shared by the listing, the home page and the terminal's lines.
use std::io::{self, Write};

/// `512 B`, `1.2 KiB`, `3.0 MiB`: binary units, one decimal, rounded to nearest.
pub fn write_size(size: u64, out: &mut impl Write) -> io::Result<()> {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 1024 {
        return write!(out, "{size} B");
    }
    let size = u128::from(size);
    let mut unit = 1;
    while unit + 1 < UNITS.len() && size >= 1024u128.pow(unit as u32 + 1) {
        unit += 1;
    }
    let mut scale = 1024u128.pow(unit as u32);
    let mut tenths = (size * 10 + scale / 2) / scale;
    // Rounding can reach the next unit (1023.96 KiB): show it as 1.0 MiB.
    if tenths >= 10240 && unit + 1 < UNITS.len() {
        unit += 1;
        scale *= 1024;
        tenths = (size * 10 + scale / 2) / scale;
    }
    write!(out, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `1 record`, `2 records`.
pub fn counted(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(n: u64) -> String {
        let mut out = Vec::new();
        write_size(n, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn human_sizes() {
        for (n, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1229, "1.2 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
            (3 << 30, "3.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ] {
            assert_eq!(size(n), want, "{n}");
        }
    }

    #[test]
    fn counts_in_the_singular_at_one() {
        assert_eq!(counted(1, "record"), "1 record");
        assert_eq!(counted(0, "record"), "0 records");
    }
}
