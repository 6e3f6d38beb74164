//! An in-memory [`Transport`]: the client's bytes arrive in chunks that the driver releases one at
//! a time (a read past the released bytes would block, as on a socket whose receive queue is
//! empty), sends are accepted a few bytes at a time up to a budget the driver grants per turn (a
//! slow reader), and every byte sent is kept for the oracle.
use crate::conn::io::Transport;
use std::fs::File;
use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;

/// The client end of a scripted connection.
#[derive(Debug)]
pub struct MemoryTransport {
    input: Vec<u8>,
    /// `input[..released]` has arrived; `input[read..released]` is not read yet.
    released: usize,
    read: usize,
    /// The client's FIN has arrived (after all of `input`).
    fin: bool,
    output: Vec<u8>,
    /// Most bytes one send accepts.
    per_call: usize,
    /// Bytes sends may still accept until the driver grants more.
    budget: usize,
    /// A send was refused for want of budget since the last grant.
    blocked: bool,
    /// Our side is shut down (`shutdown(Write)`).
    shut: bool,
    /// Sends tried after the shutdown; a correct connection makes none.
    sends_after_shutdown: usize,
    /// Every third call fails with `EINTR` first, to exercise the retry loops.
    interrupts: bool,
    calls: u64,
    local: SocketAddr,
    /// Reused by `send_file`.
    file_buf: Vec<u8>,
}

impl MemoryTransport {
    /// A transport whose client will send `input`; sends accept at most `per_call` bytes each.
    pub fn new(input: Vec<u8>, per_call: usize, interrupts: bool, local: SocketAddr) -> Self {
        MemoryTransport {
            input,
            released: 0,
            read: 0,
            fin: false,
            output: Vec::new(),
            per_call: per_call.max(1),
            budget: 0,
            blocked: false,
            shut: false,
            sends_after_shutdown: 0,
            interrupts,
            calls: 0,
            local,
            file_buf: Vec::new(),
        }
    }

    /// The client's bytes up to `end` have arrived.
    pub fn release_to(&mut self, end: usize) {
        self.released = end.clamp(self.released, self.input.len());
    }

    /// The client's FIN arrives after everything it sent.
    pub fn send_fin(&mut self) {
        self.released = self.input.len();
        self.fin = true;
    }

    /// The client reads again: sends may accept `bytes` more (saturating).
    pub fn grant(&mut self, bytes: usize) {
        self.budget = self.budget.saturating_add(bytes);
        self.blocked = false;
    }

    /// True if a send was refused since the last grant (the server waits for writability).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Everything the server sent.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Client bytes the server has read.
    pub fn consumed(&self) -> usize {
        self.read
    }

    pub fn is_shut_down(&self) -> bool {
        self.shut
    }

    pub fn sends_after_shutdown(&self) -> usize {
        self.sends_after_shutdown
    }

    fn interrupted(&mut self) -> bool {
        self.calls += 1;
        self.interrupts && self.calls % 3 == 0
    }
}

impl Transport for MemoryTransport {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.released - self.read);
        if n > 0 {
            buf[..n].copy_from_slice(&self.input[self.read..self.read + n]);
            self.read += n;
            return Ok(n);
        }
        if self.fin && self.read == self.input.len() {
            return Ok(0);
        }
        Err(ErrorKind::WouldBlock.into())
    }

    fn send(&mut self, buf: &[u8], _more: bool) -> Result<usize> {
        if self.shut {
            self.sends_after_shutdown += 1;
            return Err(Error::from(ErrorKind::BrokenPipe));
        }
        if self.interrupted() {
            return Err(ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.per_call).min(self.budget);
        if n == 0 && !buf.is_empty() {
            self.blocked = true;
            return Err(ErrorKind::WouldBlock.into());
        }
        self.output.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }

    /// `sendfile` without a socket: `pread` what one send would take now (at least a byte, so
    /// that a send without budget still blocks), then send it.
    fn send_file(&mut self, file: &File, offset: u64, count: usize) -> Result<usize> {
        let want = count
            .min(self.per_call)
            .min(self.budget)
            .clamp(1, 64 * 1024);
        let mut buf = std::mem::take(&mut self.file_buf);
        buf.resize(want, 0);
        let result = match file.read_at(&mut buf, offset) {
            Ok(0) => Ok(0),
            Ok(n) => self.send(&buf[..n], false),
            Err(e) => Err(e),
        };
        self.file_buf = buf;
        result
    }

    fn shutdown_write(&mut self) -> Result<()> {
        self.shut = true;
        Ok(())
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::io;

    fn local() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn reads_stop_at_the_released_bytes_and_end_after_the_fin() {
        let mut t = MemoryTransport::new(b"abcdef".to_vec(), 64, false, local());
        let mut buf = [0; 4];
        assert_eq!(t.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        t.release_to(5);
        assert_eq!(t.recv(&mut buf).unwrap(), 4);
        assert_eq!(t.recv(&mut buf).unwrap(), 1);
        assert_eq!(&buf[..1], b"e");
        assert_eq!(t.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        t.send_fin();
        assert_eq!(t.recv(&mut buf).unwrap(), 1);
        assert_eq!(t.recv(&mut buf).unwrap(), 0);
        assert_eq!(t.consumed(), 6);
    }

    #[test]
    fn sends_take_at_most_the_per_call_size_and_the_budget() {
        let mut t = MemoryTransport::new(Vec::new(), 3, false, local());
        assert_eq!(
            t.send(b"hello", false).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(t.is_blocked());
        t.grant(4);
        assert!(!t.is_blocked());
        assert_eq!(t.send(b"hello", false).unwrap(), 3);
        assert_eq!(t.send(b"lo", false).unwrap(), 1);
        assert!(t.send(b"o", false).is_err());
        assert_eq!(t.output(), b"hell");
        t.shutdown_write().unwrap();
        t.grant(10);
        assert_eq!(
            t.send(b"o", false).unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        assert_eq!(t.sends_after_shutdown(), 1);
    }

    #[test]
    fn interrupted_calls_are_retried_by_the_io_wrappers() {
        let mut t = MemoryTransport::new(b"xyz".to_vec(), 1, true, local());
        t.release_to(3);
        t.grant(100);
        let mut buf = [0; 8];
        let mut got = Vec::new();
        while let io::Outcome::Done(n) = io::read(&mut t, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"xyz");
        assert_eq!(io::write(&mut t, b"ab", false), io::Outcome::Done(1));
        assert_eq!(io::write(&mut t, b"b", false), io::Outcome::Done(1));
        assert_eq!(t.output(), b"ab");
    }

    #[test]
    fn send_file_reads_the_range_and_sends_what_fits() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let mut t = MemoryTransport::new(Vec::new(), 4, false, local());
        t.grant(100);
        let mut offset = 3;
        assert_eq!(
            io::sendfile(&mut t, &file, &mut offset, 5),
            io::Outcome::Done(4)
        );
        assert_eq!(offset, 7);
        assert_eq!(
            io::sendfile(&mut t, &file, &mut offset, 5),
            io::Outcome::Done(3)
        );
        assert_eq!(
            io::sendfile(&mut t, &file, &mut offset, 5),
            io::Outcome::Done(0)
        );
        assert_eq!(t.output(), b"3456789");
    }
}
