//! Socket input: one read into the shared scratch buffer, kept in the connection's read buffer
//! only as far as it is still needed, and input read only to be dropped.
use super::io::{self, Outcome, Transport};
use super::{Connection, Fill, Step};
use crate::limits::READ_BUFFER_MAX_BYTES;

impl<S: Transport> Connection<S> {
    /// Reads once into the shared `scratch` and appends what arrived to the read buffer, which
    /// so holds only received bytes: an idle connection with a few bytes of a head costs a few
    /// bytes, and a keep-alive connection reuses its buffer's capacity.
    pub(super) fn fill(&mut self, scratch: &mut [u8]) -> Fill {
        if self.rstart == self.rbuf.len() {
            self.rbuf.clear();
            self.rstart = 0;
        }
        let held = self.rbuf.len() - self.rstart;
        if held >= READ_BUFFER_MAX_BYTES {
            return Fill::Full;
        }
        let room = scratch.len().min(READ_BUFFER_MAX_BYTES - held);
        let (fill, n) = self.read_into(&mut scratch[..room]);
        if n > 0 {
            if self.rstart > 0 && self.rbuf.capacity() - self.rbuf.len() < n {
                self.rbuf.drain(..self.rstart);
                self.rstart = 0;
            }
            self.rbuf.extend_from_slice(&scratch[..n]);
        }
        fill
    }

    /// Reads once into `buf` (for input that is discarded, or copied by `fill`).
    pub(super) fn read_into(&mut self, buf: &mut [u8]) -> (Fill, usize) {
        if self.peer_eof {
            return (Fill::Eof, 0);
        }
        if !self.readable {
            return (Fill::WouldBlock, 0);
        }
        match io::read(&mut self.stream, buf) {
            Outcome::Done(n) => {
                // A short read drained the socket: wait for the next edge instead of paying a
                // read that returns EAGAIN (edge-triggered epoll reports every new arrival).
                if n < buf.len() && !self.fin_seen {
                    self.readable = false;
                }
                (Fill::Read, n)
            }
            Outcome::WouldBlock => {
                self.readable = false;
                (Fill::WouldBlock, 0)
            }
            Outcome::Closed => {
                self.peer_eof = true;
                (Fill::Eof, 0)
            }
        }
    }

    /// Reads and drops client input until it would block; `Close` at its end or past `limit`
    /// bytes in all (`discarded` keeps the count across calls).
    pub(super) fn discard_input(
        &mut self,
        scratch: &mut [u8],
        discarded: &mut usize,
        limit: usize,
    ) -> Step {
        loop {
            match self.read_into(scratch) {
                (Fill::Read, n) => {
                    *discarded += n;
                    if *discarded > limit {
                        return Step::Close;
                    }
                }
                (Fill::WouldBlock, _) => return Step::Wait,
                _ => return Step::Close,
            }
        }
    }
}
