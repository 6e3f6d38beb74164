//! Peer admission: which client addresses may connect at all. Judged on the socket's peer address
//! right after accept, before a byte is read; never on anything the client says.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address block such as `192.168.0.0/16` or `fe80::/10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True if `ip` lies inside this block. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are
    /// judged as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Maps an IPv4-mapped IPv6 address to its IPv4 form; other addresses are returned unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// Why a CIDR could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `ADDR/PREFIX`, or a bare address meaning a single host.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| CidrError(format!("'{s}' is not an IP address or CIDR block")))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(CidrError(format!(
                        "'{s}': prefix length must be 0 to {max}"
                    )))
                }
            },
        };
        // Peers in `::ffff:0:0/96` are judged as IPv4, so a block written in that form is
        // stored as the IPv4 block it means (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
        if let IpAddr::V6(v6) = network {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Ok(Cidr {
                    network: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The set of admitted peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    any: bool,
    blocks: Vec<Cidr>,
}

impl AllowList {
    /// Admits every address.
    pub fn any() -> Self {
        AllowList {
            any: true,
            blocks: Vec::new(),
        }
    }

    /// Admits the given blocks only.
    pub fn only(blocks: Vec<Cidr>) -> Self {
        AllowList { any: false, blocks }
    }

    /// The default (README.md, "Usage"): loopback, private IPv4, link-local, unique-local IPv6.
    pub fn local_networks() -> Self {
        let v4 = |a, b, p| Cidr {
            network: IpAddr::V4(Ipv4Addr::new(a, b, 0, 0)),
            prefix: p,
        };
        let v6 = |first: u16, p| Cidr {
            network: IpAddr::V6(Ipv6Addr::new(first, 0, 0, 0, 0, 0, 0, 0)),
            prefix: p,
        };
        AllowList::only(vec![
            v4(127, 0, 8),
            Cidr {
                network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
            v4(10, 0, 8),
            v4(172, 16, 12),
            v4(192, 168, 16),
            v4(169, 254, 16),
            v6(0xfc00, 7),
            v6(0xfe80, 10),
        ])
    }

    /// True if a peer at `ip` may connect.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.any || self.blocks.iter().any(|b| b.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_list_admits_local_networks_only() {
        let list = AllowList::local_networks();
        for ok in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.20",
            "169.254.3.3",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(list.admits(ip(ok)), "{ok}");
        }
        for no in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!list.admits(ip(no)), "{no}");
        }
    }

    #[test]
    fn parses_blocks_and_hosts() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        let host: Cidr = "127.0.0.2".parse().unwrap();
        assert!(host.contains(ip("127.0.0.2")));
        assert!(!host.contains(ip("127.0.0.3")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("::2")));
        let odd: Cidr = "192.168.4.0/23".parse().unwrap();
        assert!(odd.contains(ip("192.168.5.255")));
        assert!(!odd.contains(ip("192.168.6.0")));
    }

    #[test]
    fn mapped_blocks_mean_their_ipv4_block() {
        let c: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(c, "10.0.0.0/8".parse().unwrap());
        assert!(c.contains(ip("10.9.9.9")));
        assert!(c.contains(ip("::ffff:10.9.9.9")));
        assert!(!c.contains(ip("11.0.0.1")));
        let host: Cidr = "::ffff:192.168.1.2".parse().unwrap();
        assert_eq!(host.to_string(), "192.168.1.2/32");
        // A mapped peer is judged as IPv4 against IPv4 blocks, never against IPv6 ones.
        let list = AllowList::only(vec!["127.0.0.2/32".parse().unwrap()]);
        assert!(list.admits(ip("::ffff:127.0.0.2")));
        assert!(!list.admits(ip("::ffff:127.0.0.3")));
        let v6_only = AllowList::only(vec!["::/0".parse().unwrap()]);
        assert!(!v6_only.admits(ip("::ffff:8.8.8.8")));
    }

    /// On a real dual-stack socket (IPV6_V6ONLY off) an IPv4 client shows up as
    /// `::ffff:a.b.c.d`; admission must judge it by its IPv4 address.
    #[test]
    fn ipv4_client_on_a_dual_stack_listener_is_judged_as_ipv4() {
        use socket2::{Domain, Socket, Type};
        use std::net::{SocketAddr, TcpStream};
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        let any: SocketAddr = "[::]:0".parse().unwrap();
        if socket.set_only_v6(false).is_err() || socket.bind(&any.into()).is_err() {
            println!("SKIPPED: no dual-stack IPv6 socket on this machine");
            return;
        }
        socket.listen(4).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_conn, peer) = socket.accept().unwrap();
        let peer = peer.as_socket().unwrap().ip();
        assert_eq!(peer, ip("::ffff:127.0.0.1"), "the kernel maps IPv4 peers");
        assert_eq!(canonical(peer), ip("127.0.0.1"));
        assert!(AllowList::local_networks().admits(peer));
        assert!(AllowList::only(vec!["127.0.0.1/32".parse().unwrap()]).admits(peer));
        assert!(!AllowList::only(vec!["127.0.0.2/32".parse().unwrap()]).admits(peer));
        assert!(!AllowList::only(vec!["::1/128".parse().unwrap()]).admits(peer));
        drop(client);
    }

    #[test]
    fn rejects_bad_blocks() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
