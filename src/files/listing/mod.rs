//! Directory listings: reading a directory's entries, ordering them by name, size or modification
//! time, and rendering them as an HTML page ([`html`]) or as JSON ([`json`]).
//!
//! Directories always come before files; within each group the entries follow the requested key
//! and direction, ties broken by name. Names compare ignoring ASCII case, then by exact bytes.

mod html;
mod json;

use std::cmp::Ordering;
use std::io;

use rustix::fs::{statat, AtFlags, Dir, FileType};

use crate::http::query::{Order, SortKey};

pub use html::render_listing;
pub use json::render_listing_json;

/// How a listing is ordered, and whether it shows dotfiles (`--hidden`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListingOrder {
    pub key: SortKey,
    pub order: Order,
    /// Entries whose names start with `.` are listed.
    pub hidden: bool,
    /// The device and inode of a directory never listed (the data directory inside ROOT).
    pub private: Option<(u64, u64)>,
    /// The page offers uploads into the folder (`POST /files/{path}` reaches ROOT's folders).
    pub uploads: bool,
}

struct Entry {
    name: Vec<u8>,
    is_dir: bool,
    /// `None` when the entry could not be stat'ed (for example a dangling symlink).
    size: Option<u64>,
    /// Seconds since the Unix epoch; `None` when the entry could not be stat'ed.
    modified: Option<i64>,
}

/// The entries of `dir` (without `.` and `..`), in `how` order. Entries are stat'ed through
/// symlinks; those that cannot be are kept as files without size or date.
fn sorted_entries(dir: &std::fs::File, how: ListingOrder) -> io::Result<Vec<Entry>> {
    let mut entries = read_entries(dir, how)?;
    entries.sort_by(|a, b| compare(a, b, how));
    Ok(entries)
}

fn read_entries(dir: &std::fs::File, how: ListingOrder) -> io::Result<Vec<Entry>> {
    // `read_from` opens the directory afresh, so the caller's file offset is left alone.
    let mut reader = Dir::read_from(dir)?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." || (!how.hidden && bytes.starts_with(b".")) {
            continue;
        }
        let stat = statat(dir, name, AtFlags::empty()).ok();
        if stat
            .as_ref()
            .is_some_and(|s| Some(identity(s)) == how.private)
        {
            continue;
        }
        let is_dir = match &stat {
            Some(stat) => FileType::from_raw_mode(stat.st_mode) == FileType::Directory,
            None => entry.file_type() == FileType::Directory,
        };
        let (size, modified) = match stat {
            Some(stat) => stat_size_and_mtime(&stat),
            None => (None, None),
        };
        entries.push(Entry {
            name: bytes.to_vec(),
            is_dir,
            size,
            modified,
        });
    }
    Ok(entries)
}

/// Device and inode.
// The field types of `struct stat` differ between architectures; on some these casts are no-ops.
#[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
pub fn identity(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

// The field types of `struct stat` differ between architectures; on some these casts are no-ops.
#[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
fn stat_size_and_mtime(stat: &rustix::fs::Stat) -> (Option<u64>, Option<i64>) {
    (
        u64::try_from(stat.st_size as i64).ok(),
        Some(stat.st_mtime as i64),
    )
}

/// Directories first; then the key in the requested direction; then the name.
fn compare(a: &Entry, b: &Entry, how: ListingOrder) -> Ordering {
    let by_key = match how.key {
        SortKey::Name => by_name(a, b),
        // Directories have no meaningful size: they keep name order among themselves.
        SortKey::Size if a.is_dir && b.is_dir => by_name(a, b),
        SortKey::Size => a.size.cmp(&b.size).then_with(|| by_name(a, b)),
        SortKey::Modified => a.modified.cmp(&b.modified).then_with(|| by_name(a, b)),
    };
    let by_key = match how.order {
        Order::Asc => by_key,
        Order::Desc => by_key.reverse(),
    };
    b.is_dir.cmp(&a.is_dir).then(by_key)
}

/// By name in natural order (ignoring ASCII case, runs of digits by their value: `img2` before
/// `img10`), then by exact bytes.
fn by_name(a: &Entry, b: &Entry) -> Ordering {
    natural(&a.name, &b.name).then_with(|| a.name.cmp(&b.name))
}

/// Natural order of two names: digit runs compare by value (then by length, so `01` after `1`),
/// everything else byte by byte ignoring ASCII case.
pub(super) fn natural(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let end_a = i + a[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end_b = j + b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            let (da, db) = (&a[i..end_a], &b[j..end_b]);
            // Without leading zeros, a longer run is a larger number.
            let trim = |d: &[u8]| -> usize { d.iter().take_while(|&&c| c == b'0').count() };
            let (va, vb) = (&da[trim(da)..], &db[trim(db)..]);
            let by_value = va.len().cmp(&vb.len()).then_with(|| va.cmp(vb));
            match by_value.then_with(|| da.len().cmp(&db.len())) {
                Ordering::Equal => {}
                other => return other,
            }
            (i, j) = (end_a, end_b);
            continue;
        }
        match a[i].to_ascii_lowercase().cmp(&b[j].to_ascii_lowercase()) {
            Ordering::Equal => {}
            other => return other,
        }
        i += 1;
        j += 1;
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Calendar date and time of day (UTC) of `secs` since the Unix epoch:
/// `(year, month, day, hour, minute, second)`.
fn utc_fields(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_date(days);
    (
        year,
        month,
        day,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
    )
}

/// The calendar date `days` after 1970-01-01. Counts in 400-year eras that start on March 1st,
/// so the leap day is the last day of each era-year and month lengths follow a fixed pattern.
fn civil_date(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097; // 400 years
    let since_epoch_era = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = since_epoch_era.div_euclid(DAYS_PER_ERA);
    let day_of_era = since_epoch_era.rem_euclid(DAYS_PER_ERA);
    // Leap days before this day within the era: one per 4 years, minus centuries, plus 400th.
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524
        - day_of_era / (DAYS_PER_ERA - 1))
        / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 31,30,31,30,31,31,30,31,30,31,31,(29|28) fit (153 * m + 2) / 5.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, is_dir: bool, size: Option<u64>, modified: Option<i64>) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir,
            size,
            modified,
        }
    }

    fn names(mut entries: Vec<Entry>, key: SortKey, order: Order) -> Vec<String> {
        entries.sort_by(|a, b| {
            compare(
                a,
                b,
                ListingOrder {
                    key,
                    order,
                    hidden: false,
                    private: None,
                    uploads: false,
                },
            )
        });
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect()
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry("b.txt", false, Some(300), Some(20)),
            entry("A.txt", false, Some(100), Some(30)),
            entry("zdir", true, Some(4096), Some(5)),
            entry("c.txt", false, Some(200), Some(10)),
            entry("Adir", true, Some(4096), Some(50)),
            entry("dangling", false, None, None),
            entry("a.txt", false, Some(100), Some(30)),
        ]
    }

    #[test]
    fn sort_keys_and_orders() {
        use Order::*;
        use SortKey::*;
        let cases: [(SortKey, Order, [&str; 7]); 6] = [
            (
                Name,
                Asc,
                [
                    "Adir", "zdir", "A.txt", "a.txt", "b.txt", "c.txt", "dangling",
                ],
            ),
            (
                Name,
                Desc,
                [
                    "zdir", "Adir", "dangling", "c.txt", "b.txt", "a.txt", "A.txt",
                ],
            ),
            (
                Size,
                Asc,
                [
                    "Adir", "zdir", "dangling", "A.txt", "a.txt", "c.txt", "b.txt",
                ],
            ),
            (
                Size,
                Desc,
                [
                    "zdir", "Adir", "b.txt", "c.txt", "a.txt", "A.txt", "dangling",
                ],
            ),
            (
                Modified,
                Asc,
                [
                    "zdir", "Adir", "dangling", "c.txt", "b.txt", "A.txt", "a.txt",
                ],
            ),
            (
                Modified,
                Desc,
                [
                    "Adir", "zdir", "a.txt", "A.txt", "b.txt", "c.txt", "dangling",
                ],
            ),
        ];
        for (key, order, want) in cases {
            assert_eq!(names(sample(), key, order), want, "{key:?} {order:?}");
        }
    }

    #[test]
    fn utc_fields_of_known_instants() {
        assert_eq!(utc_fields(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_fields(951_825_600 + 61), (2000, 2, 29, 12, 1, 1));
        assert_eq!(utc_fields(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(utc_fields(253_402_300_799), (9999, 12, 31, 23, 59, 59));
    }

    #[test]
    fn names_sort_naturally() {
        let mut names: Vec<&[u8]> = vec![
            b"img10.png",
            b"img2.png",
            b"IMG1.png",
            b"img02.png",
            b"a",
            b"B",
            b"x9y",
            b"x10",
            b"v1.10",
            b"v1.9",
            b"",
            b"99999999999999999999999",
            b"100000000000000000000000",
        ];
        names.sort_by(|a, b| natural(a, b).then_with(|| a.cmp(b)));
        let shown: Vec<&str> = names
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap())
            .collect();
        assert_eq!(
            shown,
            [
                "",
                "99999999999999999999999",
                "100000000000000000000000",
                "a",
                "B",
                "IMG1.png",
                "img2.png",
                "img02.png",
                "img10.png",
                "v1.9",
                "v1.10",
                "x9y",
                "x10",
            ]
        );
    }
}
