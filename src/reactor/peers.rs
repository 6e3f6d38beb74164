//! Per-peer fairness: how many connections each client address holds, and the cap on it
//! (`--max-connections-per-peer`), so one device or one misbehaving script cannot take every
//! slot of `--max-connections`. Updated on accept and close only; no per-request cost.
use crate::security::admission::canonical;
use std::collections::HashMap;
use std::net::IpAddr;

/// Open connections per client address.
#[derive(Debug)]
pub struct PeerTable {
    cap: u32,
    open: HashMap<IpAddr, u32>,
}

impl PeerTable {
    /// A table allowing each address `cap` simultaneous connections.
    pub fn new(cap: u32) -> Self {
        PeerTable {
            cap,
            open: HashMap::new(),
        }
    }

    /// Counts a new connection from `ip`, or returns false (and counts nothing) if `ip` is at
    /// its cap. An IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn admit(&mut self, ip: IpAddr) -> bool {
        let count = self.open.entry(canonical(ip)).or_insert(0);
        if *count >= self.cap {
            return false;
        }
        *count += 1;
        true
    }

    /// Forgets one connection from `ip` (admitted earlier).
    pub fn release(&mut self, ip: IpAddr) {
        let ip = canonical(ip);
        if let Some(count) = self.open.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.open.remove(&ip);
            }
        }
    }

    /// Open connections from `ip`.
    #[cfg(test)]
    pub fn open(&self, ip: IpAddr) -> u32 {
        self.open.get(&canonical(ip)).copied().unwrap_or(0)
    }

    /// Addresses holding at least one connection.
    #[cfg(test)]
    pub fn peers(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn exactly_the_cap_per_address() {
        let mut t = PeerTable::new(2);
        assert!(t.admit(ip("10.0.0.1")));
        assert!(t.admit(ip("10.0.0.1")));
        assert!(!t.admit(ip("10.0.0.1")), "one over the cap");
        assert_eq!(t.open(ip("10.0.0.1")), 2);
        // Another address has its own allowance.
        assert!(t.admit(ip("10.0.0.2")));
        t.release(ip("10.0.0.1"));
        assert!(t.admit(ip("10.0.0.1")), "a freed slot is reusable");
        assert!(!t.admit(ip("10.0.0.1")));
    }

    #[test]
    fn mapped_addresses_share_the_ipv4_count_and_empty_entries_go() {
        let mut t = PeerTable::new(1);
        assert!(t.admit(ip("::ffff:192.168.1.9")));
        assert!(!t.admit(ip("192.168.1.9")));
        t.release(ip("192.168.1.9"));
        assert_eq!(t.peers(), 0);
        // Releasing what was never admitted changes nothing.
        t.release(ip("192.168.1.9"));
        assert_eq!(t.peers(), 0);
        assert!(t.admit(ip("192.168.1.9")));
    }
}
