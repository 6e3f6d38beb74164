//! Socket and file I/O wrappers that turn results into an [`Outcome`]. They retry `EINTR`, log,
//! and never change connection state: only the connection decides what an outcome means.
//!
//! A connection talks to its peer through a [`Transport`]: the reactor's `mio` sockets, or an
//! in-memory transport in tests and fuzzing (`crate::harness`). The connection is generic over it,
//! so the real server is compiled for `TcpStream` alone and the seam costs nothing.
use crate::observe::metrics;
use log::{debug, trace, warn};
use mio::net::TcpStream;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

/// What one I/O call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This many bytes moved (never 0 for reads: end of stream is `Closed`).
    Done(usize),
    /// The kernel has no data or no buffer space now; wait for readiness.
    WouldBlock,
    /// End of stream (read), or the peer is gone (reset, broken pipe, other errors).
    Closed,
}

/// The byte stream under a connection: one system call per method, results as `std::io` gives
/// them (`WouldBlock`, `Interrupted` and `Ok(0)` included); the wrappers below interpret them.
pub trait Transport {
    /// One `read(2)`; `Ok(0)` at the end of the stream.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// One `write(2)`. With `more`, more data follows at once (`MSG_MORE`).
    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize>;
    /// One `sendfile(2)` of up to `count` bytes of `file` from `offset`; `Ok(0)` past its end.
    fn send_file(&mut self, file: &File, offset: u64, count: usize) -> io::Result<usize>;
    /// Shuts down the sending side (our FIN).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Our address on this connection.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Transport for TcpStream {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    fn send(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        if more {
            socket2::SockRef::from(&*self).send_with_flags(buf, libc::MSG_MORE)
        } else {
            self.write(buf)
        }
    }

    fn send_file(&mut self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
        let mut off = i64::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        nix::sys::sendfile::sendfile64(&*self, file, Some(&mut off), count).map_err(io::Error::from)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }
}

fn classify(err: &io::Error, what: &str) -> Outcome {
    match err.kind() {
        io::ErrorKind::WouldBlock => Outcome::WouldBlock,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected => {
            debug!("{what}: peer gone: {err}");
            Outcome::Closed
        }
        _ => {
            warn!("{what}: {err}");
            Outcome::Closed
        }
    }
}

/// Reads into `buf` (which must not be empty).
///
/// The three wrappers stay out of line, as they were before they became generic: inlined, they
/// grow the connection's `read_into` and `flush` past what LLVM inlines into `drive`, which costs
/// about 50 instructions per request (callgrind, pipelined GETs).
#[inline(never)]
pub fn read<T: Transport>(stream: &mut T, buf: &mut [u8]) -> Outcome {
    loop {
        match stream.recv(buf) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => {
                trace!("read {n}");
                metrics::BYTES_RECEIVED.add(n as u64);
                return Outcome::Done(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return classify(&e, "read"),
        }
    }
}

/// Writes from `buf`. With `more`, tells the kernel that more data follows at once (MSG_MORE),
/// so a response head and the start of its file body share a segment.
#[inline(never)]
pub fn write<T: Transport>(stream: &mut T, buf: &[u8], more: bool) -> Outcome {
    loop {
        match stream.send(buf, more) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => {
                trace!("write {n} of {}", buf.len());
                metrics::BYTES_SENT.add(n as u64);
                return Outcome::Done(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return classify(&e, "write"),
        }
    }
}

/// `--no-sendfile`: `count` bytes of `file` from `offset` read into `buf` (at most its length),
/// then written; `offset` advances by what the socket took. `Done(0)` if the file ends first.
pub fn copy_file<T: Transport>(
    stream: &mut T,
    file: &File,
    offset: &mut u64,
    (count, buf): (usize, &mut [u8]),
) -> Outcome {
    use std::os::unix::fs::FileExt;
    let want = count.min(buf.len());
    let read = loop {
        match file.read_at(&mut buf[..want], *offset) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return classify(&e, "pread"),
        }
    };
    if read == 0 {
        return Outcome::Done(0);
    }
    match write(stream, &buf[..read], false) {
        Outcome::Done(n) => {
            *offset += n as u64;
            Outcome::Done(n)
        }
        other => other,
    }
}

/// Sends up to `count` bytes of `file` from `*offset` with `sendfile(2)`, advancing `*offset`.
/// `Done(0)` means the file ended early (it shrank).
#[inline(never)]
pub fn sendfile<T: Transport>(
    stream: &mut T,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> Outcome {
    loop {
        match stream.send_file(file, *offset, count) {
            Ok(n) => {
                trace!("sendfile {n} of {count} at {offset}");
                metrics::BYTES_SENT.add(n as u64);
                *offset += n as u64;
                return Outcome::Done(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return classify(&e, "sendfile"),
        }
    }
}
