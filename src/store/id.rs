//! Device ids (README.md, "Device ingestion"): 1 to 64 characters of `A-Z a-z 0-9 . _ -`, not
//! starting with `.`; or a MAC address (`AA:BB:CC:DD:EE:FF`, as ESP32 projects name boards),
//! which in any spelling (`:` or `-`, either case) is the id `AA-BB-CC-DD-EE-FF`, a file name
//! that stays portable (no `:`, which FAT and Windows refuse). An id is also the device's file
//! name in the data directory, so these rules are what keep a device from naming a path outside
//! it.
use crate::http::error::RequestError;
use crate::limits::MAX_DEVICE_ID_BYTES;
use std::fmt;
use std::net::IpAddr;

/// A valid device id, stored inline (no allocation). The bytes past `len` are always zero, so
/// the derived equality is the ids' equality.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceId {
    len: u8,
    bytes: [u8; MAX_DEVICE_ID_BYTES],
}

/// Hashes the id's own bytes only, not the zeros after them: an id is hashed on every POST
/// (by the store and by the readings), and most are far shorter than the 64 bytes of room.
impl std::hash::Hash for DeviceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes[..usize::from(self.len)].hash(state);
    }
}

impl DeviceId {
    /// Validates `id`. Anything outside the rules is `BadDeviceId` (400).
    pub fn parse(id: &[u8]) -> Result<DeviceId, RequestError> {
        if let Some(mac) = mac_address(id) {
            return Ok(mac);
        }
        let valid = !id.is_empty()
            && id.len() <= MAX_DEVICE_ID_BYTES
            && id[0] != b'.'
            && id
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(RequestError::BadDeviceId);
        }
        let mut bytes = [0; MAX_DEVICE_ID_BYTES];
        bytes[..id.len()].copy_from_slice(id);
        Ok(DeviceId {
            len: id.len() as u8,
            bytes,
        })
    }

    /// The id for a client known only by its address: an IPv4 address as it is written, an IPv6
    /// one as its eight groups joined by `-` (`fe80-0-0-0-0-0-0-1`, never `--1`), IPv4-mapped
    /// IPv6 addresses in their IPv4 form.
    pub fn from_ip(ip: IpAddr) -> DeviceId {
        use std::io::Write;
        let ip = crate::security::admission::canonical(ip);
        let mut bytes = [0; MAX_DEVICE_ID_BYTES];
        let mut cursor = std::io::Cursor::new(&mut bytes[..]);
        // The longest text (8 groups of 4 and 7 dashes: 39 bytes) fits in 64; a write error
        // cannot happen.
        match ip {
            IpAddr::V4(v4) => {
                let _ = write!(cursor, "{v4}");
            }
            IpAddr::V6(v6) => {
                for (i, group) in v6.segments().iter().enumerate() {
                    let dash = if i == 0 { "" } else { "-" };
                    let _ = write!(cursor, "{dash}{group:x}");
                }
            }
        }
        let len = cursor.position() as usize;
        DeviceId {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// The canonical id of a MAC address in `id` (six pairs of hex digits separated by `:` or `-`,
/// either case): uppercase, `-` separated.
fn mac_address(id: &[u8]) -> Option<DeviceId> {
    if id.len() != 17 {
        return None;
    }
    let separator = id[2];
    if !matches!(separator, b':' | b'-') {
        return None;
    }
    let mut bytes = [0; MAX_DEVICE_ID_BYTES];
    for (i, &b) in id.iter().enumerate() {
        if i % 3 == 2 {
            if b != separator {
                return None;
            }
            bytes[i] = b'-';
        } else if b.is_ascii_hexdigit() {
            bytes[i] = b.to_ascii_uppercase();
        } else {
            return None;
        }
    }
    Some(DeviceId { len: 17, bytes })
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.as_str())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in [
            "a",
            "esp32-kitchen",
            "Sensor_01.v2",
            "-",
            "_x",
            "a.",
            &"z".repeat(64),
        ] {
            assert_eq!(DeviceId::parse(ok.as_bytes()).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = "z".repeat(65);
        for bad in [
            "",
            ".",
            ".hidden",
            "..",
            "a/b",
            "a b",
            "a%2f",
            "é",
            "a:b",
            "a\0",
            "a\n",
            &long,
            "AA:BB:CC:DD:EE",
            "AA:BB:CC:DD:EE:FG",
            "AA:BB-CC:DD:EE:FF",
            "AAA:BB:CC:DD:EE:F",
        ] {
            assert_eq!(
                DeviceId::parse(bad.as_bytes()),
                Err(RequestError::BadDeviceId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_mac_address_in_any_spelling_is_one_portable_id() {
        for spelling in [
            "aa:bb:cc:0d:ee:ff",
            "AA:BB:CC:0D:EE:FF",
            "aA-bB-cc-0D-ee-FF",
        ] {
            let id = DeviceId::parse(spelling.as_bytes()).unwrap();
            assert_eq!(id.as_str(), "AA-BB-CC-0D-EE-FF", "{spelling}");
        }
    }

    #[test]
    fn ip_derived_ids_are_valid_ids() {
        for (ip, id) in [
            ("192.168.1.20", "192.168.1.20"),
            ("fe80::1", "fe80-0-0-0-0-0-0-1"),
            ("::1", "0-0-0-0-0-0-0-1"),
            ("::ffff:10.0.0.7", "10.0.0.7"),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                "ffff-ffff-ffff-ffff-ffff-ffff-ffff-fffe",
            ),
        ] {
            let derived = DeviceId::from_ip(ip.parse().unwrap());
            assert_eq!(derived.as_str(), id);
            assert_eq!(DeviceId::parse(id.as_bytes()), Ok(derived));
        }
    }
}
