//! The zip format as sluice writes it (PKWARE APPNOTE 6.3.10), sans-IO: stored entries (no
//! compression) whose CRC-32 follows their data in a data descriptor, so an archive streams in one
//! pass, and whose sizes are known up front, so its whole length is too (`Content-Length`).
//!
//! An entry or an offset that does not fit in 32 bits gets ZIP64 fields (section 4.5.3), and an
//! archive with 65,535 entries or more, or a central directory past 4 GiB, gets the ZIP64 end
//! records (sections 4.3.14, 4.3.15). Everything else is plain zip 2.0, which every unzip reads.

/// A 16-bit field's value meaning "see the ZIP64 record".
const MAX16: u64 = 0xFFFF;
/// A 32-bit field's value meaning "see the ZIP64 extra field or record".
const MAX32: u64 = 0xFFFF_FFFF;

/// General purpose flags: bit 3, sizes and CRC in the data descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// General purpose flags: bit 11, the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// "Version needed to extract": 2.0 for data descriptors, 4.5 for ZIP64.
const VERSION_DESCRIPTOR: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Version made by": Unix (3) in the high byte, so the external attributes hold a file mode.
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION_ZIP64;

const LOCAL_HEADER_BYTES: u64 = 30;
const CENTRAL_HEADER_BYTES: u64 = 46;
const END_BYTES: u64 = 22;
const ZIP64_END_BYTES: u64 = 56;
const ZIP64_LOCATOR_BYTES: u64 = 20;

/// What the archive needs to know of one file before reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name in the archive: a relative path with `/` separators.
    pub name: Box<[u8]>,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub modified: i64,
    /// The Unix mode (type and permission bits).
    pub mode: u32,
    /// Where the member's local header starts in the archive; set by [`plan`].
    pub offset: u64,
}

impl Member {
    /// Sizes need ZIP64 fields.
    fn big(&self) -> bool {
        self.size >= MAX32
    }

    fn flags(&self) -> u16 {
        let utf8 = std::str::from_utf8(&self.name).is_ok() && !self.name.is_ascii();
        FLAG_DESCRIPTOR | if utf8 { FLAG_UTF8 } else { 0 }
    }

    fn version_needed(&self) -> u16 {
        if self.big() || self.offset >= MAX32 {
            VERSION_ZIP64
        } else {
            VERSION_DESCRIPTOR
        }
    }

    /// The local header's length, up to the data.
    pub fn local_header_len(&self) -> u64 {
        LOCAL_HEADER_BYTES + self.name.len() as u64 + if self.big() { 20 } else { 0 }
    }

    /// The data descriptor's length.
    pub fn descriptor_len(&self) -> u64 {
        if self.big() {
            24
        } else {
            16
        }
    }

    fn central_extra_len(&self) -> u64 {
        let sizes = if self.big() { 16 } else { 0 };
        let offset = if self.offset >= MAX32 { 8 } else { 0 };
        match sizes + offset {
            0 => 0,
            n => 4 + n,
        }
    }

    fn central_header_len(&self) -> u64 {
        CENTRAL_HEADER_BYTES + self.name.len() as u64 + self.central_extra_len()
    }
}

/// The layout of a whole archive, once [`plan`] placed its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Where the central directory starts.
    pub central_offset: u64,
    pub central_len: u64,
    /// The archive's length in bytes.
    pub total: u64,
}

impl Plan {
    fn needs_zip64_end(&self, count: usize) -> bool {
        count as u64 >= MAX16 || self.central_len >= MAX32 || self.central_offset >= MAX32
    }
}

/// Places `members` one after another (setting each `offset`) and measures the archive.
pub fn plan<'a>(members: impl IntoIterator<Item = &'a mut Member>) -> Plan {
    let (mut at, mut central_len, mut count) = (0u64, 0u64, 0usize);
    for m in members {
        m.offset = at;
        at += m.local_header_len() + m.size + m.descriptor_len();
        central_len += m.central_header_len();
        count += 1;
    }
    let mut plan = Plan {
        central_offset: at,
        central_len,
        total: at + central_len + END_BYTES,
    };
    if plan.needs_zip64_end(count) {
        plan.total += ZIP64_END_BYTES + ZIP64_LOCATOR_BYTES;
    }
    plan
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `v`, or the 32-bit marker when it does not fit.
fn clamp32(v: u64) -> u32 {
    v.min(MAX32) as u32
}

/// MS-DOS time and date (section 4.4.6) of `secs` since the epoch, UTC; clamped to 1980-2107.
fn dos_time(secs: i64) -> (u16, u16) {
    const DOS_EPOCH: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const DOS_END: i64 = 4_354_819_199; // 2107-12-31T23:59:59Z
    let secs = secs.clamp(DOS_EPOCH, DOS_END) as u64;
    let (year, month, day) = crate::http::date::civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let time = (h << 11) | (m << 5) | (s / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// Appends the member's local file header: CRC and sizes are zero (bit 3: they follow the data);
/// a ZIP64 member carries the ZIP64 extra field with both sizes, as the format requires.
pub fn local_header(out: &mut Vec<u8>, m: &Member) {
    let (time, date) = dos_time(m.modified);
    u32le(out, 0x0403_4b50);
    u16le(out, m.version_needed());
    u16le(out, m.flags());
    u16le(out, 0); // stored
    u16le(out, time);
    u16le(out, date);
    u32le(out, 0); // CRC-32, in the descriptor
    let sizes = if m.big() { MAX32 as u32 } else { 0 };
    u32le(out, sizes);
    u32le(out, sizes);
    u16le(out, m.name.len() as u16);
    u16le(out, if m.big() { 20 } else { 0 });
    out.extend_from_slice(&m.name);
    if m.big() {
        u16le(out, 0x0001);
        u16le(out, 16);
        u64le(out, 0);
        u64le(out, 0);
    }
}

/// Appends the data descriptor after the member's data: its CRC-32 and sizes (8-byte sizes for a
/// ZIP64 member).
pub fn descriptor(out: &mut Vec<u8>, m: &Member, crc: u32) {
    u32le(out, 0x0807_4b50);
    u32le(out, crc);
    if m.big() {
        u64le(out, m.size);
        u64le(out, m.size);
    } else {
        u32le(out, m.size as u32);
        u32le(out, m.size as u32);
    }
}

/// Appends the member's central directory header.
pub fn central_header(out: &mut Vec<u8>, m: &Member, crc: u32) {
    let (time, date) = dos_time(m.modified);
    u32le(out, 0x0201_4b50);
    u16le(out, MADE_BY_UNIX);
    u16le(out, m.version_needed());
    u16le(out, m.flags());
    u16le(out, 0); // stored
    u16le(out, time);
    u16le(out, date);
    u32le(out, crc);
    u32le(out, clamp32(m.size));
    u32le(out, clamp32(m.size));
    u16le(out, m.name.len() as u16);
    u16le(out, m.central_extra_len() as u16);
    u16le(out, 0); // comment
    u16le(out, 0); // disk
    u16le(out, 0); // internal attributes
    u32le(out, m.mode << 16);
    u32le(out, clamp32(m.offset));
    out.extend_from_slice(&m.name);
    if m.central_extra_len() > 0 {
        u16le(out, 0x0001);
        u16le(out, (m.central_extra_len() - 4) as u16);
        // Only the fields whose header value is the marker, in this order (section 4.5.3).
        if m.big() {
            u64le(out, m.size);
            u64le(out, m.size);
        }
        if m.offset >= MAX32 {
            u64le(out, m.offset);
        }
    }
}

/// Appends the end of the archive after the central directory of `count` members: the ZIP64
/// end record and locator when a count, size or offset needs them, then the end record.
pub fn end(out: &mut Vec<u8>, plan: &Plan, count: usize) {
    let count = count as u64;
    if plan.needs_zip64_end(count as usize) {
        let zip64_end_at = plan.central_offset + plan.central_len;
        u32le(out, 0x0606_4b50);
        u64le(out, ZIP64_END_BYTES - 12);
        u16le(out, MADE_BY_UNIX);
        u16le(out, VERSION_ZIP64);
        u32le(out, 0); // this disk
        u32le(out, 0); // the disk with the central directory
        u64le(out, count);
        u64le(out, count);
        u64le(out, plan.central_len);
        u64le(out, plan.central_offset);
        u32le(out, 0x0706_4b50);
        u32le(out, 0);
        u64le(out, zip64_end_at);
        u32le(out, 1); // disks
    }
    u32le(out, 0x0605_4b50);
    u16le(out, 0);
    u16le(out, 0);
    u16le(out, count.min(MAX16) as u16);
    u16le(out, count.min(MAX16) as u16);
    u32le(out, clamp32(plan.central_len));
    u32le(out, clamp32(plan.central_offset));
    u16le(out, 0); // comment
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    fn member(name: &str, size: u64) -> Member {
        Member {
            name: name.as_bytes().into(),
            size,
            modified: 1_780_000_000,
            mode: 0o100644,
            offset: 0,
        }
    }

    /// A whole archive of `files` written with the functions above, as the connection would.
    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut members: Vec<Member> = files
            .iter()
            .map(|(n, d)| member(n, d.len() as u64))
            .collect();
        let plan = plan(&mut members);
        let mut out = Vec::new();
        let mut crcs = Vec::new();
        for (m, (_, data)) in members.iter().zip(files) {
            assert_eq!(out.len() as u64, m.offset);
            local_header(&mut out, m);
            out.extend_from_slice(data);
            let crc = crc32fast::hash(data);
            descriptor(&mut out, m, crc);
            crcs.push(crc);
        }
        assert_eq!(out.len() as u64, plan.central_offset);
        for (m, crc) in members.iter().zip(crcs) {
            central_header(&mut out, m, crc);
        }
        end(&mut out, &plan, members.len());
        assert_eq!(out.len() as u64, plan.total, "the planned length is exact");
        out
    }

    #[test]
    fn a_zip_library_reads_back_names_contents_times_and_modes() {
        let bytes = archive(&[
            ("a.txt", b"hello\n"),
            ("sub/b.bin", &[0u8, 1, 2, 255]),
            ("empty", b""),
            ("été.txt", b"utf-8 name"),
        ]);
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(zip.len(), 4);
        let expect: [(&str, &[u8]); 4] = [
            ("a.txt", b"hello\n"),
            ("sub/b.bin", &[0, 1, 2, 255]),
            ("empty", b""),
            ("été.txt", b"utf-8 name"),
        ];
        for (i, (name, data)) in expect.iter().enumerate() {
            let mut f = zip.by_index(i).unwrap();
            assert_eq!(f.name(), *name);
            assert_eq!(f.unix_mode(), Some(0o100644));
            let t = f.last_modified().unwrap();
            // 1_780_000_000 is 2026-05-28T20:26:40Z.
            assert_eq!(
                (
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                ),
                (2026, 5, 28, 20, 26, 40)
            );
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap(); // checks the CRC at the end
            assert_eq!(&got, data);
        }
    }

    #[test]
    fn an_empty_archive_is_the_end_record_alone() {
        let bytes = archive(&[]);
        assert_eq!(bytes.len(), 22);
        assert_eq!(zip::ZipArchive::new(Cursor::new(bytes)).unwrap().len(), 0);
    }

    #[test]
    fn zip64_fields_appear_exactly_where_a_value_does_not_fit() {
        let mut members = vec![member("big", MAX32), member("after", 1)];
        let big_plan = plan(&mut members);
        assert_eq!(members[0].local_header_len(), 30 + 3 + 20);
        assert_eq!(members[0].descriptor_len(), 24);
        assert_eq!(members[1].offset, 53 + MAX32 + 24);
        // The second member starts past 4 GiB: its central header carries the offset.
        assert_eq!(members[1].central_extra_len(), 12);
        assert_eq!(members[0].central_extra_len(), 20);
        assert!(big_plan.needs_zip64_end(2));
        let central_end = big_plan.central_offset + big_plan.central_len;
        assert_eq!(big_plan.total, central_end + 22 + 76);
        let mut out = Vec::new();
        central_header(&mut out, &members[1], 7);
        assert_eq!(out.len() as u64, members[1].central_header_len());
        assert_eq!(
            &out[42..46],
            &[0xFF; 4],
            "the offset field points to the extra field"
        );

        let mut small = vec![member("x", MAX32 - 100)];
        let small_plan = plan(&mut small);
        assert_eq!(small[0].local_header_len(), 31);
        assert!(!small_plan.needs_zip64_end(1));
        assert_eq!(small[0].central_extra_len(), 0);
    }

    #[test]
    fn many_members_need_the_zip64_end_records() {
        let files: Vec<(String, Vec<u8>)> =
            (0..65_535).map(|i| (format!("{i}"), Vec::new())).collect();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (&n[..], &d[..])).collect();
        let bytes = archive(&refs);
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(zip.len(), 65_535);
    }

    #[test]
    fn dos_times_round_down_to_two_seconds_and_clamp_to_the_dos_era() {
        assert_eq!(dos_time(0), (0, (1 << 5) | 1), "before 1980: 1980-01-01");
        // 2000-02-29T23:59:59Z
        let (time, date) = dos_time(951_868_799);
        assert_eq!(time, (23 << 11) | (59 << 5) | 29);
        assert_eq!(date, (20 << 9) | (2 << 5) | 29);
    }
}
