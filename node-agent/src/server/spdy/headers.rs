//! SPDY/3 name/value header blocks: a 32-bit count, then per header a 32-bit length
//! and the (lower-case) name, a 32-bit length and the value, several values of one
//! name joined with NUL. On the wire every block is zlib-compressed, with one zlib
//! stream per direction for the whole connection, primed with
//! [`HEADER_DICTIONARY`]; each block ends with a SYNC_FLUSH so the peer can inflate
//! it on its own (Go's framer: `zlib.NewWriterLevelDict(.., BestCompression,
//! headerDictionary)` and a `Flush` per block). The first block therefore carries the
//! zlib header `78 f9` (FDICT set) and the dictionary's Adler-32.
//!
//! [`HeaderEncoder`] and [`HeaderDecoder`] hold that per-direction state: every block
//! of the connection must go through them in wire order.

use bytes::{BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::{HEADER_DICTIONARY, HEADER_DICTIONARY_ADLER32};

/// A decompressed block larger than this is refused (a connection error), so a peer
/// cannot make us inflate without bound.
pub const MAX_DECOMPRESSED_BLOCK: usize = 1 << 20;

/// Why a header block could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The zlib stream is broken (bad data, a wrong dictionary, a block too large):
    /// the connection's header context is lost, so this ends the connection.
    #[error("header block compression: {0}")]
    Compression(String),
    /// The decompressed block does not parse (truncated counts or lengths, bytes
    /// left over); the zlib context is intact, so only the stream is affected.
    #[error("malformed header block: {0}")]
    Malformed(&'static str),
    /// A name with an upper-case letter (SPDY/3 names are lower case).
    #[error("header name {0:?} is not lower case")]
    UppercaseName(String),
    /// A name that appears twice in one block (values must be NUL-joined instead).
    #[error("header {0:?} appears twice")]
    DuplicateName(String),
}

impl HeaderError {
    /// Whether this error loses the connection's shared zlib context (and so must end
    /// the connection) rather than just the stream.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, HeaderError::Compression(_))
    }
}

/// A header block: names (lower case) with one or more values, in insertion order.
///
/// Several values of one name are kept NUL-joined, as on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`append`](Self::append).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.append(name, value);
        self
    }

    /// Adds `value` to `name` (lower-cased, as the wire requires); a value for a name
    /// already present is NUL-joined to its earlier values.
    pub fn append(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push('\0');
                v.push_str(value);
            }
            None => self.entries.push((name, value.to_owned())),
        }
    }

    /// The first value of `name` (compared ignoring ASCII case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every value of `name` (compared ignoring ASCII case).
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .into_iter()
            .flat_map(|(_, v)| v.split('\0'))
    }

    /// Every (name, value) pair, a name with several values once per value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .flat_map(|(n, v)| v.split('\0').map(move |v| (n.as_str(), v)))
    }

    /// How many distinct names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The uncompressed wire form.
    pub fn serialize(&self, out: &mut Vec<u8>) {
        out.put_u32(self.entries.len() as u32);
        for (name, value) in &self.entries {
            out.put_u32(name.len() as u32);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value.as_bytes());
        }
    }

    /// Parses the uncompressed wire form. Names must be lower case and distinct; a
    /// value that is not UTF-8 is kept lossily converted.
    pub fn parse(mut block: &[u8]) -> Result<Headers, HeaderError> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], HeaderError> {
            if b.len() < n {
                return Err(HeaderError::Malformed("truncated"));
            }
            let (head, rest) = b.split_at(n);
            *b = rest;
            Ok(head)
        }
        fn take_u32(b: &mut &[u8]) -> Result<usize, HeaderError> {
            let v = take(b, 4)?;
            Ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize)
        }
        let count = take_u32(&mut block)?;
        // Every header takes at least its two lengths: no allocation beyond the block.
        if count > block.len() / 8 {
            return Err(HeaderError::Malformed("more headers than the block holds"));
        }
        let mut entries: Vec<(String, String)> = Vec::with_capacity(count);
        for _ in 0..count {
            let len = take_u32(&mut block)?;
            let name = take(&mut block, len)?;
            let len = take_u32(&mut block)?;
            let value = take(&mut block, len)?;
            let name = String::from_utf8_lossy(name).into_owned();
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(HeaderError::UppercaseName(name));
            }
            if entries.iter().any(|(n, _)| *n == name) {
                return Err(HeaderError::DuplicateName(name));
            }
            entries.push((name, String::from_utf8_lossy(value).into_owned()));
        }
        if !block.is_empty() {
            return Err(HeaderError::Malformed("bytes after the last header"));
        }
        Ok(Headers { entries })
    }
}

/// One direction's compressor: every header block we send, in wire order.
pub struct HeaderEncoder {
    zlib: Compress,
    plain: Vec<u8>,
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderEncoder {
    /// A fresh zlib stream primed with the SPDY/3 dictionary, at Go's level (best), so
    /// the stream starts `78 f9` plus the dictionary id, byte for byte as Go's.
    pub fn new() -> Self {
        let mut zlib = Compress::new(Compression::best(), true);
        let adler = zlib
            .set_dictionary(HEADER_DICTIONARY)
            .expect("a fresh deflate stream accepts a dictionary");
        debug_assert_eq!(adler, HEADER_DICTIONARY_ADLER32);
        HeaderEncoder {
            zlib,
            plain: Vec::with_capacity(256),
        }
    }

    /// Appends `headers`' compressed block, ended with a SYNC_FLUSH, to `out`.
    pub fn encode(&mut self, headers: &Headers, out: &mut BytesMut) -> Result<(), HeaderError> {
        self.plain.clear();
        headers.serialize(&mut self.plain);
        let mut scratch = Vec::with_capacity(self.plain.len() + 64);
        let mut consumed = 0;
        loop {
            if scratch.capacity() - scratch.len() < 64 {
                scratch.reserve(scratch.capacity().max(256));
            }
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&self.plain[consumed..], &mut scratch, FlushCompress::Sync)
                .map_err(|e| HeaderError::Compression(e.to_string()))?;
            consumed += (self.zlib.total_in() - before) as usize;
            // The flush is complete once all input is in and deflate left room spare.
            if consumed == self.plain.len() && scratch.len() < scratch.capacity() {
                break;
            }
        }
        out.extend_from_slice(&scratch);
        Ok(())
    }
}

/// One direction's decompressor: every header block the peer sends, in wire order.
pub struct HeaderDecoder {
    zlib: Decompress,
    plain: Vec<u8>,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    /// A fresh zlib stream. The SPDY/3 dictionary is supplied when the stream asks for
    /// it (FDICT with its Adler-32, as Go and every SPDY/3 peer send); a stream that
    /// asks for another dictionary is a compression error.
    pub fn new() -> Self {
        HeaderDecoder {
            zlib: Decompress::new(true),
            plain: Vec::with_capacity(1024),
        }
    }

    /// Inflates one compressed block (all of it: the sender flushed at its end) and
    /// parses it. A [`HeaderError::Compression`] leaves the decoder unusable.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, HeaderError> {
        self.inflate(block)?;
        Headers::parse(&self.plain)
    }

    fn inflate(&mut self, block: &[u8]) -> Result<(), HeaderError> {
        self.plain.clear();
        let mut consumed = 0;
        loop {
            if self.plain.capacity() - self.plain.len() < 256 {
                if self.plain.len() >= MAX_DECOMPRESSED_BLOCK {
                    return Err(HeaderError::Compression(format!(
                        "a header block inflates past {MAX_DECOMPRESSED_BLOCK} bytes"
                    )));
                }
                self.plain.reserve(self.plain.capacity().max(1024));
            }
            let (in_before, out_before) = (self.zlib.total_in(), self.zlib.total_out());
            let res = self.zlib.decompress_vec(
                &block[consumed..],
                &mut self.plain,
                FlushDecompress::Sync,
            );
            consumed += (self.zlib.total_in() - in_before) as usize;
            let progressed =
                self.zlib.total_in() != in_before || self.zlib.total_out() != out_before;
            match res {
                Ok(Status::StreamEnd) => {
                    // The peer ended its zlib stream: this block is whole, later ones
                    // cannot be inflated (and will fail then).
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => match e.needs_dictionary() {
                    Some(HEADER_DICTIONARY_ADLER32) => {
                        self.zlib
                            .set_dictionary(HEADER_DICTIONARY)
                            .map_err(|e| HeaderError::Compression(e.to_string()))?;
                        continue;
                    }
                    Some(other) => {
                        return Err(HeaderError::Compression(format!(
                            "the zlib stream wants dictionary {other:#010x}, not SPDY/3's"
                        )));
                    }
                    None => return Err(HeaderError::Compression(e.to_string())),
                },
            }
            let room_left = self.plain.len() < self.plain.capacity();
            if consumed == block.len() && room_left {
                return Ok(());
            }
            if !progressed && room_left {
                // Input left that inflate will not take: the stream is inconsistent.
                return Err(HeaderError::Compression("inflate made no progress".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn dictionary_is_spdy3s() {
        assert_eq!(HEADER_DICTIONARY.len(), 1423);
        assert_eq!(adler32(HEADER_DICTIONARY), 0xe3c6_a7c2);
        assert_eq!(HEADER_DICTIONARY_ADLER32, adler32(HEADER_DICTIONARY));
        assert!(HEADER_DICTIONARY.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(HEADER_DICTIONARY.ends_with(b"utf-,*,enq=0."));
    }

    #[test]
    fn headers_accessors() {
        let mut h = Headers::new().with("StreamType", "data").with("port", "80");
        h.append("port", "443");
        assert_eq!(h.get("streamtype"), Some("data"));
        assert_eq!(h.get("STREAMTYPE"), Some("data"));
        assert_eq!(h.get("port"), Some("80"));
        assert_eq!(h.get_all("port").collect::<Vec<_>>(), ["80", "443"]);
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.len(), 2);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("streamtype", "data"), ("port", "80"), ("port", "443")]
        );
    }

    #[test]
    fn plain_block_layout() {
        let h = Headers::new().with("a", "x").with("a", "y");
        let mut b = Vec::new();
        h.serialize(&mut b);
        assert_eq!(b, b"\0\0\0\x01\0\0\0\x01a\0\0\0\x03x\0y");
        assert_eq!(Headers::parse(&b).unwrap(), h);
    }

    #[test]
    fn parse_rejects_upper_case_duplicates_and_garbage() {
        let upper = b"\0\0\0\x01\0\0\0\x01A\0\0\0\x01x";
        assert!(matches!(
            Headers::parse(upper),
            Err(HeaderError::UppercaseName(n)) if n == "A"
        ));
        let dup = b"\0\0\0\x02\0\0\0\x01a\0\0\0\x01x\0\0\0\x01a\0\0\0\x01y";
        assert!(matches!(
            Headers::parse(dup),
            Err(HeaderError::DuplicateName(n)) if n == "a"
        ));
        let truncated = b"\0\0\0\x01\0\0\0\x05ab";
        assert!(matches!(
            Headers::parse(truncated),
            Err(HeaderError::Malformed(_))
        ));
        let huge_count = b"\xff\xff\xff\xff";
        assert!(matches!(
            Headers::parse(huge_count),
            Err(HeaderError::Malformed(_))
        ));
        let trailing = b"\0\0\0\0x";
        assert!(matches!(
            Headers::parse(trailing),
            Err(HeaderError::Malformed(_))
        ));
        assert!(!HeaderError::Malformed("x").is_connection_error());
        assert!(HeaderError::Compression("x".into()).is_connection_error());
    }

    /// Several blocks through one encoder and one decoder: the zlib context is shared,
    /// so later blocks refer back to earlier ones (and are smaller).
    #[test]
    fn blocks_round_trip_on_a_shared_context() {
        let mut enc = HeaderEncoder::new();
        let mut dec = HeaderDecoder::new();
        let blocks = [
            Headers::new()
                .with("streamtype", "error")
                .with("requestid", "0"),
            Headers::new().with("big", &"v".repeat(100_000)),
            Headers::new(),
            Headers::new()
                .with("streamtype", "stdout")
                .with("requestid", "0"),
            Headers::new()
                .with("streamtype", "data")
                .with("port", "8080")
                .with("requestid", "1")
                .with("x-multi", "a")
                .with("x-multi", "b"),
            Headers::new()
                .with("streamtype", "stdout")
                .with("requestid", "0"),
        ];
        let mut sizes = Vec::new();
        for (i, h) in blocks.iter().enumerate() {
            let mut wire = BytesMut::new();
            enc.encode(h, &mut wire).unwrap();
            if i == 0 {
                // CMF 0x78 (deflate, 32 KiB window), FLG 0xf9 (best, FDICT), DICTID.
                assert_eq!(&wire[..6], &[0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
            }
            // Each block ends with the SYNC_FLUSH marker (an empty stored block).
            assert_eq!(&wire[wire.len() - 4..], &[0, 0, 0xff, 0xff]);
            sizes.push(wire.len());
            assert_eq!(&dec.decode(&wire).unwrap(), h, "block {i}");
        }
        // The last block repeats the fourth: it refers back to it.
        assert!(
            sizes[5] < sizes[3],
            "a repeated block compresses against history"
        );
    }

    /// What Go's framer emits: `zlib.NewWriterLevelDict(w, BestCompression, dict)` and
    /// a `Flush` (SYNC_FLUSH) per block. Reproduced with flate2 directly.
    #[test]
    fn decodes_go_style_fdict_stream() {
        let mut z = Compress::new(Compression::best(), true);
        assert_eq!(
            z.set_dictionary(HEADER_DICTIONARY).unwrap(),
            0xe3c6_a7c2,
            "deflateSetDictionary returns the dictionary's Adler-32"
        );
        let mut dec = HeaderDecoder::new();
        for (i, h) in [
            Headers::new()
                .with("streamtype", "error")
                .with("requestid", "7"),
            Headers::new()
                .with("streamtype", "stdin")
                .with("requestid", "7"),
        ]
        .iter()
        .enumerate()
        {
            let mut plain = Vec::new();
            h.serialize(&mut plain);
            let mut wire = Vec::with_capacity(plain.len() + 64);
            z.compress_vec(&plain, &mut wire, FlushCompress::Sync)
                .unwrap();
            assert!(wire.len() < wire.capacity());
            if i == 0 {
                let (cmf, flg) = (wire[0], wire[1]);
                assert_eq!(cmf, 0x78);
                assert_eq!(flg, 0xf9);
                assert_ne!(flg & 0x20, 0, "FDICT set");
                assert_eq!((cmf as u16 * 256 + flg as u16) % 31, 0, "FCHECK");
                assert_eq!(&wire[2..6], &0xe3c6_a7c2u32.to_be_bytes());
            }
            assert_eq!(&dec.decode(&wire).unwrap(), h);
        }
    }

    /// Chrome's SPDY/3 used an 11-bit window (`38 ea` then the dictionary id); a
    /// smaller window inflates with our 15-bit decoder all the same.
    #[test]
    fn decodes_small_window_fdict_stream() {
        let mut z = Compress::new_with_window_bits(Compression::best(), true, 11);
        z.set_dictionary(HEADER_DICTIONARY).unwrap();
        let h = Headers::new().with("streamtype", "data").with("port", "80");
        let mut plain = Vec::new();
        h.serialize(&mut plain);
        let mut wire = Vec::with_capacity(256);
        z.compress_vec(&plain, &mut wire, FlushCompress::Sync)
            .unwrap();
        assert_eq!(&wire[..6], &[0x38, 0xea, 0xe3, 0xc6, 0xa7, 0xc2]);
        assert_eq!(HeaderDecoder::new().decode(&wire).unwrap(), h);
    }

    #[test]
    fn wrong_dictionary_and_garbage_are_connection_errors() {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(b"not the spdy dictionary").unwrap();
        let mut wire = Vec::with_capacity(256);
        z.compress_vec(b"\0\0\0\0", &mut wire, FlushCompress::Sync)
            .unwrap();
        let err = HeaderDecoder::new().decode(&wire).unwrap_err();
        assert!(err.is_connection_error(), "{err}");

        let err = HeaderDecoder::new()
            .decode(&[0x78, 0xf9, 1, 2, 3, 4, 5, 6, 7])
            .unwrap_err();
        assert!(err.is_connection_error(), "{err}");
    }

    /// A stream without FDICT (plain zlib) decodes too: the dictionary is only supplied
    /// when asked for.
    #[test]
    fn decodes_stream_without_dictionary() {
        let mut z = Compress::new(Compression::default(), true);
        let h = Headers::new().with("streamtype", "stdout");
        let mut plain = Vec::new();
        h.serialize(&mut plain);
        let mut wire = Vec::with_capacity(256);
        z.compress_vec(&plain, &mut wire, FlushCompress::Sync)
            .unwrap();
        assert_eq!(wire[1] & 0x20, 0);
        assert_eq!(HeaderDecoder::new().decode(&wire).unwrap(), h);
    }

    #[test]
    fn inflation_is_bounded() {
        let mut enc = HeaderEncoder::new();
        let h = Headers::new().with("big", &"x".repeat(MAX_DECOMPRESSED_BLOCK + 10));
        let mut wire = BytesMut::new();
        enc.encode(&h, &mut wire).unwrap();
        assert!(wire.len() < 64 * 1024, "compresses well");
        let err = HeaderDecoder::new().decode(&wire).unwrap_err();
        assert!(err.is_connection_error(), "{err}");
    }
}
