//! SPDY/3.1 as `kubectl exec/attach/port-forward` and the API server speak it to a
//! kubelet (Go's `moby/spdystream` over its vendored SPDY/3 framer), on a byte stream
//! some other part has already upgraded (the HTTP 101 is not done here).
//!
//! - [`frame`]: the frames on the wire, parsed incrementally and serialized.
//! - [`headers`]: name/value header blocks and their per-direction zlib contexts
//!   primed with SPDY/3's [`dictionary`].
//! - [`session`]: a [`Connection`] over any tokio byte stream, as server (the peer
//!   opens odd stream ids) or client (we do): [`IncomingStream`]s to accept or reset,
//!   [`Stream`]s that are tokio `AsyncRead` + `AsyncWrite`, splittable into a
//!   [`StreamReader`] and a [`StreamWriter`].
//!
//! Like spdystream, no flow control: WINDOW_UPDATE and SETTINGS are accepted and
//! ignored, and never sent (honouring send windows would stall at 64 KiB against a
//! peer that never opens them).

pub mod dictionary;
pub mod frame;
pub mod headers;
pub mod session;

pub use frame::{Frame, FrameError};
pub use headers::{HeaderError, Headers};
pub use session::{Connection, IncomingStream, Stream, StreamReader, StreamWriter};

/// Why a SPDY operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// Reading or writing the underlying byte stream failed.
    #[error("spdy connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent a frame that breaks the format.
    #[error("spdy framing: {0}")]
    Frame(#[from] FrameError),
    /// A header block could not be compressed, inflated or parsed.
    #[error("spdy header block: {0}")]
    Header(#[from] HeaderError),
    /// The stream was reset (by the peer, or by us) with this RST_STREAM status.
    #[error("spdy stream {stream_id} was reset (status {status})")]
    Reset {
        /// The stream.
        stream_id: u32,
        /// The RST_STREAM status (see [`frame::rst`]).
        status: u32,
    },
    /// The peer sent GOAWAY: it accepts no new streams.
    #[error("the spdy peer went away: no new streams")]
    GoneAway,
    /// The connection is closed (ended, or closed by us).
    #[error("the spdy connection is closed")]
    ConnectionClosed,
    /// Every stream id of our parity was used.
    #[error("no spdy stream ids left on this connection")]
    StreamIdsExhausted,
    /// The byte stream ended in the middle of a frame.
    #[error("the spdy connection ended mid-frame")]
    Truncated,
}
