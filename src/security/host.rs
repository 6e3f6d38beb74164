//! The Host rule against DNS rebinding. A page on `http://evil.example` can make its name resolve
//! to a LAN address and then talk to sluice as if same-origin, but the browser still sends
//! `Host: evil.example`. So only names a LAN server can legitimately be reached by are answered:
//! IP literals, `localhost`, single-label names, names under the local-use suffixes, and the
//! names given with `--server-name`; anything else gets 421 (RFC 9110 section 15.5.20).
use std::net::{Ipv4Addr, Ipv6Addr};

/// Suffixes reserved for local networks: mDNS (RFC 6762), `.home.arpa` (RFC 8375), the private
/// `.internal` TLD (ICANN, 2024), and the common router default `.lan`.
const LOCAL_SUFFIXES: [&str; 4] = [".local", ".lan", ".home.arpa", ".internal"];

/// True if a request whose Host (or absolute-form authority) is `authority` may be answered.
/// `authority` has passed the parser's `uri-host [ ":" port ]` check. `server_names` come from
/// [`parse_server_name`]. An empty host names nothing and is allowed, like a missing one.
pub fn allowed(authority: &[u8], server_names: &[String]) -> bool {
    let host = host_part(authority);
    if let Some(inner) = host.strip_prefix(b"[") {
        // IP-literal: only IPv6 (IPvFuture names nothing we know).
        return inner
            .strip_suffix(b"]")
            .and_then(|v6| std::str::from_utf8(v6).ok())
            .is_some_and(|v6| v6.parse::<Ipv6Addr>().is_ok());
    }
    let name = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() {
        return true;
    }
    if std::str::from_utf8(name).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok()) {
        return true;
    }
    if !is_dns_name(name) {
        return false;
    }
    !name.contains(&b'.')
        || LOCAL_SUFFIXES
            .iter()
            .any(|s| ends_with_ignore_case(name, s))
        || server_names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// The host of `uri-host [ ":" port ]`: up to the closing bracket of an IP-literal, else up to
/// the first colon (a reg-name has none).
pub fn host_part(authority: &[u8]) -> &[u8] {
    let end = if authority.first() == Some(&b'[') {
        authority
            .iter()
            .position(|&b| b == b']')
            .map_or(authority.len(), |i| i + 1)
    } else {
        authority
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(authority.len())
    };
    &authority[..end]
}

/// Dot-separated labels of letters, digits, `-` and `_`, none empty. Percent-encoded or other
/// reg-name characters never come from a browser's URL parser, so they are refused.
fn is_dns_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn ends_with_ignore_case(name: &[u8], suffix: &str) -> bool {
    name.len() > suffix.len()
        && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// A `--server-name`: a DNS name (one trailing dot allowed), kept lowercase without the dot.
pub fn parse_server_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.len() > 253 || !is_dns_name(name.as_bytes()) {
        return Err(format!(
            "'{s}' is not a host name (labels of A-Z a-z 0-9 - _ separated by dots)"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rules() {
        let names = vec![
            parse_server_name("Sluice.Example.COM.").unwrap(),
            parse_server_name("data.example.org").unwrap(),
        ];
        let accepted = [
            // IP literals, any port
            "127.0.0.1",
            "127.0.0.1:8080",
            "192.168.1.20:80",
            "8.8.8.8",
            "[::1]",
            "[::1]:8080",
            "[fe80::1]",
            "[::ffff:10.0.0.1]:80",
            // localhost and single-label names
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "x",
            "test",
            "printer-2",
            "nas_box:443",
            "printer.",
            "local",
            "evillan",
            // local-use suffixes, any case, trailing dot, port
            "sluice.local",
            "SLUICE.LOCAL.:8080",
            "a.b.lan",
            "pi.home.arpa",
            "Pi.Home.Arpa.",
            "db.internal:5432",
            // --server-name
            "sluice.example.com",
            "SLUICE.example.com.:8080",
            "data.example.org",
            // empty host names nothing
            "",
        ];
        for host in accepted {
            assert!(allowed(host.as_bytes(), &names), "should accept {host:?}");
        }
        let refused = [
            "evil.example",
            "evil.example:80",
            "attacker.com.",
            "x.local.evil.com",
            "lan.evil.com",
            "evil.home-arpa",
            ".local",
            "a..lan",
            "example.com",
            "www.sluice.example.com",
            "sluice.example.com.evil",
            "1.2.3",
            "999.1.1.1",
            "127.0.0.1.evil.com",
            "[v1.x]",
            "a%2Eb.lan.evil",
            "a%2Eb",
            "a!b",
        ];
        for host in refused {
            assert!(!allowed(host.as_bytes(), &names), "should refuse {host:?}");
        }
        // Without --server-name, only the built-in rules.
        assert!(!allowed(b"sluice.example.com", &[]));
    }

    #[test]
    fn server_names_are_checked() {
        assert_eq!(parse_server_name("A.B.C").unwrap(), "a.b.c");
        assert_eq!(parse_server_name("a.b.").unwrap(), "a.b");
        for bad in ["", ".", "a..b", "a b", "a:80", "[::1]", "-x.y!", "a/b"] {
            assert!(parse_server_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_part_splits_the_port() {
        assert_eq!(host_part(b"a:80"), b"a");
        assert_eq!(host_part(b"[::1]:80"), b"[::1]");
        assert_eq!(host_part(b"a"), b"a");
    }
}
