//! SPDY/3 frames on the wire: the eight control frames and DATA, parsed incrementally
//! from a byte buffer and serialized into one.
//!
//! Every frame starts with eight bytes. A control frame: the control bit, a 15-bit
//! version (3), a 16-bit type, 8 bits of flags and a 24-bit length. A DATA frame: a
//! clear control bit, a 31-bit stream id, 8 bits of flags and a 24-bit length. The
//! header blocks of SYN_STREAM, SYN_REPLY and HEADERS stay compressed here
//! ([`super::headers`] inflates them, in wire order, with the connection's zlib
//! context).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The protocol version spoken (SPDY/3, as 3.1 frames it).
pub const VERSION: u16 = 3;
/// Bytes of every frame header.
pub const FRAME_HEADER_LEN: usize = 8;
/// The largest payload a frame can carry (its 24-bit length): anything larger does
/// not fit the format, and is refused when serializing.
pub const MAX_FRAME_PAYLOAD: usize = 0xff_ffff;

/// FLAG_FIN on SYN_STREAM, SYN_REPLY, HEADERS and DATA: the sender's last frame on the
/// stream.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM: the recipient may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// Control frame types.
pub mod kind {
    /// SYN_STREAM.
    pub const SYN_STREAM: u16 = 1;
    /// SYN_REPLY.
    pub const SYN_REPLY: u16 = 2;
    /// RST_STREAM.
    pub const RST_STREAM: u16 = 3;
    /// SETTINGS.
    pub const SETTINGS: u16 = 4;
    /// PING.
    pub const PING: u16 = 6;
    /// GOAWAY.
    pub const GOAWAY: u16 = 7;
    /// HEADERS.
    pub const HEADERS: u16 = 8;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u16 = 9;
}

/// RST_STREAM status codes.
pub mod rst {
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// INVALID_STREAM.
    pub const INVALID_STREAM: u32 = 2;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 3;
    /// UNSUPPORTED_VERSION.
    pub const UNSUPPORTED_VERSION: u32 = 4;
    /// CANCEL.
    pub const CANCEL: u32 = 5;
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: u32 = 6;
    /// FLOW_CONTROL_ERROR.
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    /// STREAM_IN_USE.
    pub const STREAM_IN_USE: u32 = 8;
    /// STREAM_ALREADY_CLOSED.
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
    /// FRAME_TOO_LARGE.
    pub const FRAME_TOO_LARGE: u32 = 11;
}

/// GOAWAY status codes.
pub mod goaway {
    /// OK: a normal shutdown.
    pub const OK: u32 = 0;
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: u32 = 2;
}

/// One SETTINGS entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// FLAG_SETTINGS_PERSIST_VALUE (1) or FLAG_SETTINGS_PERSISTED (2).
    pub flags: u8,
    /// The setting's 24-bit id.
    pub id: u32,
    /// Its value.
    pub value: u32,
}

/// A frame. Stream ids are 31-bit; header blocks are still compressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// SYN_STREAM: opens a stream.
    SynStream {
        /// The new stream.
        stream_id: u32,
        /// The stream it is associated with (0: none).
        associated_to: u32,
        /// 0 (highest) to 7.
        priority: u8,
        /// The client-certificate slot (unused here).
        slot: u8,
        /// FLAG_FIN, FLAG_UNIDIRECTIONAL.
        flags: u8,
        /// The compressed header block.
        header_block: Bytes,
    },
    /// SYN_REPLY: accepts a stream.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// The compressed header block.
        header_block: Bytes,
    },
    /// RST_STREAM: ends a stream abnormally.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why (see [`rst`]).
        status: u32,
    },
    /// SETTINGS.
    Settings {
        /// FLAG_SETTINGS_CLEAR_SETTINGS (1).
        flags: u8,
        /// The entries.
        entries: Vec<Setting>,
    },
    /// PING: to be echoed by the side that did not send it.
    Ping {
        /// Odd from the client, even from the server.
        id: u32,
    },
    /// GOAWAY: the sender opens no more streams and accepts none after
    /// `last_good_stream_id`.
    GoAway {
        /// The last stream the sender accepted.
        last_good_stream_id: u32,
        /// Why (see [`goaway`]).
        status: u32,
    },
    /// HEADERS: more headers for a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// The compressed header block.
        header_block: Bytes,
    },
    /// WINDOW_UPDATE (flow control; spdystream neither sends nor honours it).
    WindowUpdate {
        /// The stream (0: the session, in SPDY/3.1).
        stream_id: u32,
        /// Bytes added to the window.
        delta: u32,
    },
    /// DATA.
    Data {
        /// The stream.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// The payload.
        payload: Bytes,
    },
    /// A control frame of a type this version does not define: skipped, as the spec
    /// asks.
    Unknown {
        /// Its type.
        frame_type: u16,
        /// Its flags.
        flags: u8,
        /// Its payload length (skipped).
        length: usize,
    },
}

/// A frame that breaks the format: the connection cannot go on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// A control frame of another version than 3.
    #[error("unsupported SPDY version {0}")]
    UnsupportedVersion(u16),
    /// A control frame whose length does not fit its type.
    #[error("control frame type {frame_type} with invalid length {length}")]
    InvalidLength {
        /// The frame type.
        frame_type: u16,
        /// Its length.
        length: usize,
    },
    /// A stream frame for stream 0.
    #[error("{0} frame for stream id 0")]
    ZeroStreamId(&'static str),
    /// A payload larger than the 24-bit length allows (when serializing).
    #[error("frame payload of {0} bytes exceeds the 16 MiB limit")]
    TooLarge(usize),
}

impl Frame {
    /// How many bytes the frame starting at `buf` takes in all: its header's length
    /// plus eight once the header is there, eight before.
    pub fn wire_len(buf: &[u8]) -> usize {
        if buf.len() < FRAME_HEADER_LEN {
            return FRAME_HEADER_LEN;
        }
        FRAME_HEADER_LEN + (u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize)
    }

    /// Takes one whole frame off the front of `buf`; `Ok(None)` when `buf` does not
    /// hold one yet (nothing is consumed then: read more and call again). DATA
    /// payloads and header blocks share `buf`'s memory (no copy).
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < FRAME_HEADER_LEN || buf.len() < Self::wire_len(buf) {
            return Ok(None);
        }
        let first = buf.get_u32();
        let second = buf.get_u32();
        let flags = (second >> 24) as u8;
        let length = (second & 0xff_ffff) as usize;
        let mut p = buf.split_to(length).freeze();
        if first & 0x8000_0000 == 0 {
            let stream_id = first & 0x7fff_ffff;
            if stream_id == 0 {
                return Err(FrameError::ZeroStreamId("DATA"));
            }
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                payload: p,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        let frame_type = (first & 0xffff) as u16;
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let bad_len = || FrameError::InvalidLength { frame_type, length };
        let stream = |p: &mut Bytes, what| {
            let id = p.get_u32() & 0x7fff_ffff;
            if id == 0 {
                Err(FrameError::ZeroStreamId(what))
            } else {
                Ok(id)
            }
        };
        let frame = match frame_type {
            kind::SYN_STREAM => {
                if length < 10 {
                    return Err(bad_len());
                }
                let stream_id = stream(&mut p, "SYN_STREAM")?;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let slot = p.get_u8();
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    slot,
                    flags,
                    header_block: p,
                }
            }
            kind::SYN_REPLY | kind::HEADERS => {
                if length < 4 {
                    return Err(bad_len());
                }
                let what = if frame_type == kind::SYN_REPLY {
                    "SYN_REPLY"
                } else {
                    "HEADERS"
                };
                let stream_id = stream(&mut p, what)?;
                if frame_type == kind::SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        header_block: p,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        header_block: p,
                    }
                }
            }
            kind::RST_STREAM => {
                if length != 8 {
                    return Err(bad_len());
                }
                let stream_id = stream(&mut p, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id,
                    status: p.get_u32(),
                }
            }
            kind::SETTINGS => {
                if length < 4 {
                    return Err(bad_len());
                }
                let count = p.get_u32() as usize;
                if count.checked_mul(8) != Some(length - 4) {
                    return Err(bad_len());
                }
                let entries = (0..count)
                    .map(|_| {
                        let flag_id = p.get_u32();
                        Setting {
                            flags: (flag_id >> 24) as u8,
                            id: flag_id & 0xff_ffff,
                            value: p.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            kind::PING => {
                if length != 4 {
                    return Err(bad_len());
                }
                Frame::Ping { id: p.get_u32() }
            }
            kind::GOAWAY => {
                if length != 8 {
                    return Err(bad_len());
                }
                Frame::GoAway {
                    last_good_stream_id: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            kind::WINDOW_UPDATE => {
                if length != 8 {
                    return Err(bad_len());
                }
                Frame::WindowUpdate {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            _ => Frame::Unknown {
                frame_type,
                flags,
                length,
            },
        };
        Ok(Some(frame))
    }

    /// Appends the frame's wire form to `out`. An [`Unknown`](Frame::Unknown) frame is
    /// written with a zeroed payload of its length.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        match self {
            Frame::Data {
                stream_id,
                flags,
                payload,
            } => {
                out.put_slice(&data_header(*stream_id, *flags, payload.len())?);
                out.put_slice(payload);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                slot,
                flags,
                header_block,
            } => {
                control_header(out, kind::SYN_STREAM, *flags, 10 + header_block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(associated_to & 0x7fff_ffff);
                out.put_u8((priority & 0x07) << 5);
                out.put_u8(*slot);
                out.put_slice(header_block);
            }
            Frame::SynReply {
                stream_id,
                flags,
                header_block,
            }
            | Frame::Headers {
                stream_id,
                flags,
                header_block,
            } => {
                let t = if matches!(self, Frame::SynReply { .. }) {
                    kind::SYN_REPLY
                } else {
                    kind::HEADERS
                };
                control_header(out, t, *flags, 4 + header_block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_slice(header_block);
            }
            Frame::RstStream { stream_id, status } => {
                control_header(out, kind::RST_STREAM, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Settings { flags, entries } => {
                control_header(out, kind::SETTINGS, *flags, 4 + 8 * entries.len())?;
                out.put_u32(entries.len() as u32);
                for e in entries {
                    out.put_u32((e.flags as u32) << 24 | (e.id & 0xff_ffff));
                    out.put_u32(e.value);
                }
            }
            Frame::Ping { id } => {
                control_header(out, kind::PING, 0, 4)?;
                out.put_u32(*id);
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                control_header(out, kind::GOAWAY, 0, 8)?;
                out.put_u32(last_good_stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control_header(out, kind::WINDOW_UPDATE, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(delta & 0x7fff_ffff);
            }
            Frame::Unknown {
                frame_type,
                flags,
                length,
            } => {
                control_header(out, *frame_type, *flags, *length)?;
                out.put_bytes(0, *length);
            }
        }
        Ok(())
    }
}

/// The eight header bytes of a DATA frame (the payload follows), so a writer can send
/// the payload without copying it next to its header.
pub fn data_header(stream_id: u32, flags: u8, len: usize) -> Result<[u8; 8], FrameError> {
    if len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    h[4..].copy_from_slice(&((flags as u32) << 24 | len as u32).to_be_bytes());
    Ok(h)
}

fn control_header(
    out: &mut BytesMut,
    frame_type: u16,
    flags: u8,
    len: usize,
) -> Result<(), FrameError> {
    if len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    out.reserve(FRAME_HEADER_LEN + len);
    out.put_u16(0x8000 | VERSION);
    out.put_u16(frame_type);
    out.put_u32((flags as u32) << 24 | len as u32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: Frame) -> Vec<u8> {
        let mut wire = BytesMut::new();
        f.encode(&mut wire).unwrap();
        let bytes = wire.to_vec();
        assert_eq!(Frame::wire_len(&bytes), bytes.len());
        // Fed a byte at a time, the frame is reported incomplete until its last byte.
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.put_u8(*b);
            let got = Frame::decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert_eq!(got, None, "frame {f:?} complete after {} bytes", i + 1);
                assert_eq!(buf.len(), i + 1, "nothing consumed");
            } else {
                assert_eq!(got.as_ref(), Some(&f));
                assert!(buf.is_empty());
            }
        }
        bytes
    }

    #[test]
    fn every_frame_type_round_trips() {
        let block = Bytes::from_static(b"\x78\xf9compressed");
        let frames = [
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: FLAG_FIN | FLAG_UNIDIRECTIONAL,
                header_block: block.clone(),
            },
            Frame::SynStream {
                stream_id: 0x7fff_ffff,
                associated_to: 5,
                priority: 7,
                slot: 3,
                flags: 0,
                header_block: Bytes::new(),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: FLAG_FIN,
                header_block: block.clone(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: rst::CANCEL,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![
                    Setting {
                        flags: 1,
                        id: 4,
                        value: 100,
                    },
                    Setting {
                        flags: 0,
                        id: 7,
                        value: 65536,
                    },
                ],
            },
            Frame::Settings {
                flags: 0,
                entries: vec![],
            },
            Frame::Ping { id: 2 },
            Frame::GoAway {
                last_good_stream_id: 9,
                status: goaway::OK,
            },
            Frame::Headers {
                stream_id: 7,
                flags: 0,
                header_block: block,
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 65536,
            },
            Frame::Data {
                stream_id: 1,
                flags: 0,
                payload: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                payload: Bytes::new(),
            },
        ];
        for f in frames {
            round_trip(f);
        }
    }

    #[test]
    fn exact_wire_bytes() {
        let ping = round_trip(Frame::Ping { id: 1 });
        assert_eq!(ping, [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        let rst = round_trip(Frame::RstStream {
            stream_id: 1,
            status: rst::PROTOCOL_ERROR,
        });
        assert_eq!(rst, [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1]);
        let syn = round_trip(Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 2,
            slot: 0,
            flags: FLAG_FIN,
            header_block: Bytes::from_static(b"hb"),
        });
        assert_eq!(
            syn,
            [
                0x80, 3, 0, 1, 1, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0x40, 0, b'h', b'b'
            ]
        );
        let data = round_trip(Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            payload: Bytes::from_static(b"xy"),
        });
        assert_eq!(data, [0, 0, 0, 3, 1, 0, 0, 2, b'x', b'y']);
        assert_eq!(data_header(3, FLAG_FIN, 2).unwrap(), data[..8]);
        let go = round_trip(Frame::GoAway {
            last_good_stream_id: 3,
            status: goaway::PROTOCOL_ERROR,
        });
        assert_eq!(go, [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 1]);
    }

    #[test]
    fn several_frames_in_one_buffer() {
        let mut buf = BytesMut::new();
        Frame::Ping { id: 1 }.encode(&mut buf).unwrap();
        Frame::Data {
            stream_id: 1,
            flags: 0,
            payload: Bytes::from_static(b"abc"),
        }
        .encode(&mut buf)
        .unwrap();
        buf.put_slice(&[0x80, 3]); // the start of a third
        assert_eq!(
            Frame::decode(&mut buf).unwrap(),
            Some(Frame::Ping { id: 1 })
        );
        assert!(matches!(
            Frame::decode(&mut buf).unwrap(),
            Some(Frame::Data { stream_id: 1, .. })
        ));
        assert_eq!(Frame::decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], &[0x80, 3]);
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        // Type 10 (CREDENTIAL) with a 5-byte payload, then a PING.
        let mut buf = BytesMut::from(&[0x80, 3, 0, 10, 0, 0, 0, 5, 1, 2, 3, 4, 5][..]);
        Frame::Ping { id: 3 }.encode(&mut buf).unwrap();
        assert_eq!(
            Frame::decode(&mut buf).unwrap(),
            Some(Frame::Unknown {
                frame_type: 10,
                flags: 0,
                length: 5
            })
        );
        assert_eq!(
            Frame::decode(&mut buf).unwrap(),
            Some(Frame::Ping { id: 3 })
        );
    }

    #[test]
    fn invalid_frames_are_errors() {
        let decode = |b: &[u8]| Frame::decode(&mut BytesMut::from(b));
        // SPDY/2.
        assert_eq!(
            decode(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]),
            Err(FrameError::UnsupportedVersion(2))
        );
        // PING of 5 bytes, RST_STREAM of 4, GOAWAY of 4 (SPDY/2's), SYN_STREAM of 9.
        for (t, len) in [(6u8, 5u8), (3, 4), (7, 4), (1, 9), (9, 4), (2, 3)] {
            let mut b = vec![0x80, 3, 0, t, 0, 0, 0, len];
            b.resize(8 + len as usize, 0);
            b[8] = 0; // keep stream ids zero-free where they parse
            assert_eq!(
                decode(&b),
                Err(FrameError::InvalidLength {
                    frame_type: t as u16,
                    length: len as usize
                })
            );
        }
        // SETTINGS whose count does not match its length.
        assert!(matches!(
            decode(&[
                0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1
            ]),
            Err(FrameError::InvalidLength { .. })
        ));
        // Stream id 0.
        assert_eq!(
            decode(&[0, 0, 0, 0, 0, 0, 0, 1, b'x']),
            Err(FrameError::ZeroStreamId("DATA"))
        );
        assert_eq!(
            decode(&[0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(FrameError::ZeroStreamId("RST_STREAM"))
        );
        // Too large to serialize.
        let big = Frame::Data {
            stream_id: 1,
            flags: 0,
            payload: Bytes::from(vec![0u8; MAX_FRAME_PAYLOAD + 1]),
        };
        assert_eq!(
            big.encode(&mut BytesMut::new()),
            Err(FrameError::TooLarge(MAX_FRAME_PAYLOAD + 1))
        );
    }

    #[test]
    fn largest_data_frame_parses() {
        let payload = Bytes::from(vec![7u8; MAX_FRAME_PAYLOAD]);
        let mut buf = BytesMut::new();
        Frame::Data {
            stream_id: 1,
            flags: 0,
            payload: payload.clone(),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(Frame::wire_len(&buf), 8 + MAX_FRAME_PAYLOAD);
        let Some(Frame::Data { payload: got, .. }) = Frame::decode(&mut buf).unwrap() else {
            panic!("not a DATA frame");
        };
        assert_eq!(got, payload);
    }
}
