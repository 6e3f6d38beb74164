//! Device id validation (`sluice::store::DeviceId`).
//!
//! Input: `[selector] bytes...`. Selector bit 0 clear: the bytes are a claimed device id.
//! Set: the first 16 bytes are an IP address (IPv4 when bit 1 is set, from the first 4) for
//! `DeviceId::from_ip`, the id of a device known only by its address.
//!
//! Oracle: `parse` accepts exactly the rule of README.md, written out here on its own (1 to 64
//! of `A-Z a-z 0-9 . _ -`, not starting with `.`; or a MAC address, six hex pairs separated by
//! `:` or `-`); an accepted id reads back unchanged (a MAC address as its canonical
//! `AA-BB-CC-DD-EE-FF`) and is a safe file name in the data directory (one path component, not
//! `.` or `..`, no NUL, no `:`, not hidden); every address gives an id that `parse` accepts and
//! that equals it.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use sluice::store::DeviceId;
use sluice::http::error::RequestError;

fuzz_target!(|input: &[u8]| {
    let [selector, data @ ..] = input else {
        return;
    };
    if selector & 1 == 0 {
        check_parse(data);
    } else if let Some(octets) = data.first_chunk::<16>() {
        let ip = if selector & 2 != 0 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(*octets))
        };
        let id = DeviceId::from_ip(ip);
        assert_eq!(DeviceId::parse(id.as_str().as_bytes()), Ok(id), "{ip}");
        check_parse(id.as_str().as_bytes());
    }
});

/// `claimed` as a MAC address (six hex pairs, one separator `:` or `-`) in its canonical form.
fn mac(claimed: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(claimed).ok()?;
    let sep = if text.contains(':') { ':' } else { '-' };
    let pairs: Vec<&str> = text.split(sep).collect();
    let ok = pairs.len() == 6
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| pairs.join("-").to_ascii_uppercase())
}

fn check_parse(claimed: &[u8]) {
    let canonical_mac = mac(claimed);
    let by_the_rule = canonical_mac.is_some()
        || (1..=64).contains(&claimed.len())
            && claimed[0] != b'.'
            && claimed
                .iter()
                .all(|&b| matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    match DeviceId::parse(claimed) {
        Ok(id) => {
            assert!(
                by_the_rule,
                "accepted {:?}",
                claimed.escape_ascii().to_string()
            );
            let name = id.as_str();
            match &canonical_mac {
                Some(canonical) => assert_eq!(name, canonical),
                None => assert_eq!(name.as_bytes(), claimed),
            }
            assert!(!name.contains(':'));
            assert_eq!(id.to_string(), name);
            let path = std::path::Path::new(name);
            assert_eq!(path.components().count(), 1);
            assert!(matches!(
                path.components().next(),
                Some(std::path::Component::Normal(_))
            ));
            assert!(!name.contains(['/', '\0']) && !name.starts_with('.'));
        }
        Err(e) => {
            assert_eq!(e, RequestError::BadDeviceId);
            assert!(
                !by_the_rule,
                "refused {:?}",
                claimed.escape_ascii().to_string()
            );
        }
    }
}
