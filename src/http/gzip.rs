//! gzip (RFC 1952) for generated bodies, with one reusable deflate state: a fresh compressor per
//! response would allocate its tables every time. File bodies are never compressed on the fly
//! (they use precompressed siblings and go out by sendfile).
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// A reusable gzip encoder.
pub struct Gzip {
    deflate: Compress,
}

impl Default for Gzip {
    fn default() -> Self {
        Gzip {
            // Raw deflate: the gzip header and trailer are written here.
            deflate: Compress::new(Compression::fast(), false),
        }
    }
}

impl Gzip {
    /// Appends the gzip encoding of `input` to `out`.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.deflate.reset();
        // Header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut consumed = 0;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before_in = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(&input[consumed..], out, FlushCompress::Finish);
            consumed += (self.deflate.total_in() - before_in) as usize;
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) => continue,
                // Cannot happen with a well-formed stream and room in `out`; stop rather than spin.
                Err(_) => break,
            }
        }
        let mut crc = Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_and_is_reusable() {
        let mut gzip = Gzip::default();
        for input in [
            &b""[..],
            b"hello",
            &b"abc".repeat(100_000),
            &(0..=255u8).cycle().take(300_000).collect::<Vec<u8>>(),
        ] {
            let mut out = b"prefix".to_vec();
            gzip.compress(input, &mut out);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(gunzip(&out[6..]), input);
        }
    }
}
