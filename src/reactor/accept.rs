//! Accepting connections: admission by the peer's address (the allow list, then the cap per
//! address), registration in the slab with its token, and the back-off at the connection limit
//! or when descriptors run out (queued connections raise no new edge, so accepting resumes
//! explicitly). Also the listening sockets themselves.
use super::Server;
use crate::conn::tokens;
use crate::conn::Connection;
use crate::limits::{ACCEPT_RETRY_MS, LISTEN_BACKLOG_CONNECTIONS};
use crate::observe::metrics;
use crate::store::Waiter;
use log::{debug, error, warn};
use mio::net::{TcpListener, TcpStream};
use mio::Interest;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;

impl Server {
    /// Accepts until the listener is drained, the limit is reached with every connection busy,
    /// or descriptors run out. At `--max-connections` an admitted connection takes the place of
    /// an idle one (`make_room`), or waits in `waiting` while all are busy.
    pub(super) fn accept(&mut self, index: usize) {
        if self.accept_paused || self.shutdown_deadline.is_some() {
            return;
        }
        loop {
            let (stream, peer) = match self.waiting.take() {
                Some(waiting) => waiting,
                None => match self.accept_admitted(index) {
                    Some(accepted) => accepted,
                    None => return,
                },
            };
            if self.conns.len() >= self.ctx.config.max_connections && !self.make_room() {
                debug!("connection limit reached with every connection busy; accepting paused");
                self.waiting = Some((stream, peer));
                self.accept_paused = true;
                return;
            }
            self.register(stream, peer);
        }
    }

    /// The next connection of listener `index` that passes admission (the allow list and the
    /// per-peer cap); None once the listener is drained or descriptors run out.
    fn accept_admitted(&mut self, index: usize) -> Option<(TcpStream, SocketAddr)> {
        loop {
            let listener = self.listeners.get(index)?;
            match listener.accept() {
                Ok((stream, peer)) => {
                    // Dropping `stream` closes it before a byte is read. Only the socket's peer
                    // address counts, never anything the client sends (X-Forwarded-For).
                    if !self.ctx.config.allow.admits(peer.ip()) {
                        self.refused += 1;
                        metrics::CONNECTIONS_REFUSED.add(1);
                        if self.refused_peers.allow(&peer.ip(), self.ctx.now) {
                            let ip = crate::security::admission::canonical(peer.ip());
                            let bits = if ip.is_ipv4() { 32 } else { 128 };
                            warn!(
                                "{ip}: connection refused, not in the allow list; start sluice \
                                 with --allow {ip}/{bits} (or --allow-any) to admit it"
                            );
                        }
                        continue;
                    }
                    if !self.peers.admit(peer.ip()) {
                        self.refused_over_cap += 1;
                        metrics::CONNECTIONS_REFUSED.add(1);
                        debug!("{peer}: refused (at its connection cap)");
                        continue;
                    }
                    return Some((stream, peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if out_of_descriptors(&e) => {
                    warn!("accept: {e}; pausing");
                    self.accept_paused = true;
                    self.accept_retry_at = Some(self.ctx.now + ACCEPT_RETRY_MS);
                    return None;
                }
                Err(e) => debug!("accept: {e}"),
            }
        }
    }

    /// Registers an admitted connection with the poll and the slab.
    fn register(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        self.accepted += 1;
        metrics::CONNECTIONS_ACCEPTED.add(1);
        if let Err(e) = stream.set_nodelay(true) {
            debug!("{peer}: set_nodelay: {e}");
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let token = tokens::connection(key);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("{peer}: register: {e}");
            self.peers.release(peer.ip());
            return;
        }
        debug!("{peer}: accepted");
        let waiter = Waiter {
            key,
            conn: self.next_serial,
        };
        self.next_serial += 1;
        entry.insert(Connection::new(stream, peer, waiter, self.ctx.now));
        self.ctx.connections_open = self.conns.len();
    }

    /// At `--max-connections`, closes the connection that loses least, as nginx does: the idle
    /// keep-alive connection that has waited longest, else the one that has sent nothing for the
    /// longest time. False if every connection is busy. One scan of the connections, only at
    /// the limit.
    fn make_room(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .filter_map(|(key, conn)| conn.eviction_rank().map(|rank| (rank, key)))
            .min();
        let Some(((rank, since), key)) = victim else {
            return false;
        };
        debug!(
            "connection limit reached: closing {} ({}, {:.1} s)",
            self.conns[key].peer(),
            if rank == 0 {
                "idle keep-alive"
            } else {
                "sent nothing"
            },
            self.ctx.now.saturating_duration_since(since).as_secs_f64()
        );
        metrics::CONNECTIONS_EVICTED.add(1);
        self.close(key);
        true
    }

    /// Accepts what queued up while paused (the kernel raises no new edge for it).
    pub(super) fn resume_accepting(&mut self) {
        self.accept_paused = false;
        self.accept_retry_at = None;
        for index in 0..self.listeners.len() {
            self.accept(index);
        }
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Binds every address of `--listen` and registers it with `poll` (listener `i` under token
/// `i`); the listeners and the addresses actually bound. Errors are one-line messages.
pub(super) fn bind_all(
    poll: &mio::Poll,
    addrs: &[SocketAddr],
) -> Result<(Vec<TcpListener>, Vec<SocketAddr>), String> {
    let mut listeners = Vec::new();
    let mut local_addrs = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut listener = listen(*addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        poll.registry()
            .register(&mut listener, mio::Token(i), Interest::READABLE)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        listeners.push(listener);
        local_addrs.push(local);
    }
    Ok((listeners, local_addrs))
}

/// A non-blocking listener on `addr` with address reuse; IPv6 sockets are IPv6-only so that
/// `0.0.0.0:P` and `[::]:P` can both be bound.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG_CONNECTIONS)?;
    let listener: std::net::TcpListener = socket.into();
    if listener.local_addr().is_err() {
        error!("listener on {addr} has no local address");
    }
    Ok(TcpListener::from_std(listener))
}

/// The URLs a person can open for a listener: for a wildcard address (`0.0.0.0`, `::`), one per
/// address of this machine in that family (loopback last; IPv6 link-local left out, as it
/// needs a zone), else the listener's own.
pub fn urls_for(listener: SocketAddr) -> Vec<String> {
    let port = listener.port();
    if !listener.ip().is_unspecified() {
        return vec![format!("http://{listener}/")];
    }
    let mut addrs: Vec<std::net::IpAddr> = nix::ifaddrs::getifaddrs()
        .map(|ifs| {
            ifs.filter_map(|i| {
                let a = i.address?;
                if let Some(v4) = a.as_sockaddr_in() {
                    return Some(std::net::IpAddr::V4(v4.ip()));
                }
                a.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip()))
            })
            .collect()
        })
        .unwrap_or_default();
    addrs.retain(|ip| {
        ip.is_ipv4() == listener.is_ipv4()
            && !matches!(ip, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
    });
    addrs.sort_by_key(|ip| (ip.is_loopback(), *ip));
    addrs.dedup();
    addrs
        .into_iter()
        .map(|ip| format!("http://{}/", SocketAddr::new(ip, port)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_has_a_url_per_local_address_with_loopback_last() {
        let urls = urls_for("0.0.0.0:8080".parse().unwrap());
        assert!(
            urls.contains(&"http://127.0.0.1:8080/".to_string()),
            "{urls:?}"
        );
        assert_eq!(
            urls.last().map(String::as_str),
            Some("http://127.0.0.1:8080/")
        );
        assert!(urls.iter().all(|u| !u.contains("0.0.0.0")), "{urls:?}");
        assert_eq!(
            urls_for("192.168.1.20:8080".parse().unwrap()),
            vec!["http://192.168.1.20:8080/".to_string()]
        );
    }
}
