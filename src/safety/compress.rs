//! Compressed pickles (mlflow's `python_model.pkl.xz/.gz/.bz2`, joblib's compressors, including
//! its legacy `lzma` container): pure-Rust decoders
//! with a bound on the output, so a bomb is refused instead of filling memory.

use std::io::{self, Read, Write};

/// Decompressed pickles larger than this are refused (4 GiB).
pub const MAX_DECOMPRESSED: usize = 4 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Xz,
    /// The legacy `.lzma` ("alone") container: joblib's `compress="lzma"`.
    Lzma,
    Gzip,
    Bzip2,
    Zlib,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Zlib => "zlib",
        }
    }
}

/// The compression a file starts with; None for a plain pickle. A pickle starts with PROTO
/// (0x80) or a protocol-0/1 opcode, none of which these magics can be mistaken for, except `B`
/// (BINBYTES), hence the full bzip2 block magic, and `]` (EMPTY_LIST), which no opcode follows as
/// 0x00: joblib's own test for its lzma container is these two bytes.
pub fn detect(data: &[u8]) -> Option<Compression> {
    if data.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else if data.len() >= 13 && data.starts_with(&[0x5D, 0x00]) {
        // lc=3, lp=0, pb=2 (the properties byte every encoder writes by default), then the
        // dictionary size and the uncompressed size: 13 header bytes.
        Some(Compression::Lzma)
    } else if data.starts_with(&[0x1F, 0x8B]) {
        Some(Compression::Gzip)
    } else if data.len() >= 10
        && data.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&data[3])
        && (data[4..10] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
            || data[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        Some(Compression::Bzip2)
    } else if data.len() >= 2
        && data[0] == 0x78
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
    {
        // 'x' is not a pickle opcode; the zlib header check bits make a false match unlikely.
        Some(Compression::Zlib)
    } else {
        None
    }
}

/// A writer that refuses to grow past `limit` bytes.
struct Bounded {
    out: Vec<u8>,
    limit: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            return Err(io::Error::other(format!(
                "decompressed size exceeds the limit of {} bytes",
                self.limit
            )));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decompresses `data` (whose kind is `c`), refusing output larger than `limit`.
pub fn decompress(c: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Bounded {
        out: Vec::new(),
        limit,
    };
    let copy = |r: &mut dyn Read, out: &mut Bounded| -> Result<(), String> {
        // take(limit + 1): a stream that would produce more fails in `write`, never allocates.
        io::copy(&mut r.take(limit as u64 + 1), out)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    match c {
        Compression::Xz => {
            let mut input = io::BufReader::new(data);
            lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| format!("{e:?}"))?;
        }
        Compression::Lzma => {
            let mut input = io::BufReader::new(data);
            lzma_rs::lzma_decompress(&mut input, &mut out).map_err(|e| format!("{e:?}"))?;
        }
        Compression::Gzip => copy(&mut flate2::read::MultiGzDecoder::new(data), &mut out)?,
        Compression::Zlib => copy(&mut flate2::read::ZlibDecoder::new(data), &mut out)?,
        Compression::Bzip2 => copy(&mut bzip2_rs::DecoderReader::new(data), &mut out)?,
    }
    Ok(out.out)
}
