//! Socket and file I/O wrappers that turn results into an [`Outcome`]. They retry `EINTR`, log,
//! and never change connection state: only the connection decides what an outcome means.
use crate::metrics;
use log::{debug, trace, warn};
use mio::net::TcpStream;
use nix::errno::Errno;
use std::fs::File;
use std::io::{self, Read, Write};

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
pub fn read(stream: &mut TcpStream, buf: &mut [u8]) -> Outcome {
    loop {
        match stream.read(buf) {
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
pub fn write(stream: &mut TcpStream, buf: &[u8], more: bool) -> Outcome {
    loop {
        let result = if more {
            socket2::SockRef::from(&*stream).send_with_flags(buf, libc::MSG_MORE)
        } else {
            stream.write(buf)
        };
        match result {
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

/// Sends up to `count` bytes of `file` from `*offset` with `sendfile(2)`, advancing `*offset`.
/// `Done(0)` means the file ended early (it shrank).
pub fn sendfile(stream: &mut TcpStream, file: &File, offset: &mut u64, count: usize) -> Outcome {
    loop {
        let Ok(mut off) = i64::try_from(*offset) else {
            return Outcome::Closed;
        };
        match nix::sys::sendfile::sendfile64(&*stream, file, Some(&mut off), count) {
            Ok(n) => {
                trace!("sendfile {n} of {count} at {offset}");
                metrics::BYTES_SENT.add(n as u64);
                *offset += n as u64;
                return Outcome::Done(n);
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return classify(&io::Error::from(e), "sendfile"),
        }
    }
}
