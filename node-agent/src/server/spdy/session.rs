//! A SPDY/3.1 connection over an upgraded byte stream: a reader task that parses
//! frames and dispatches them, a writer task that owns the write half, and handles
//! ([`Connection`], [`IncomingStream`], [`Stream`]) that talk to both.
//!
//! - Frames to send go to the writer through one bounded queue, so a slow peer
//!   back-pressures every writer; the writer compresses header blocks in queue order
//!   (one zlib context per direction) and flushes whenever the queue runs empty.
//! - The reader hands each stream's DATA to that stream's bounded queue and waits
//!   when it is full (TCP back-pressure on the whole connection, as spdystream does);
//!   once a stream's reader half is dropped its data is discarded instead.
//! - SYN_STREAM from the peer becomes an [`IncomingStream`] on the receiver returned
//!   with the connection; PINGs of the peer's parity are echoed; GOAWAY stops new
//!   streams; SETTINGS and WINDOW_UPDATE are ignored (spdystream does no flow
//!   control, so neither do we).
//! - When the byte stream ends (EOF, an error, a protocol error), every stream's
//!   reader sees EOF, writes fail and [`Connection::closed`] resolves.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, PollSender};
use tracing::{debug, trace};

use super::SpdyError;
use super::frame::{FLAG_FIN, FLAG_UNIDIRECTIONAL, Frame, data_header, goaway, rst};
use super::headers::{HeaderDecoder, HeaderEncoder, Headers};

/// The largest DATA payload we send in one frame.
pub const MAX_DATA_FRAME: usize = 64 * 1024;
/// Frames queued for the writer before writers wait.
const OUT_QUEUE: usize = 64;
/// DATA frames queued for one stream's reader before the connection's reader waits.
const STREAM_QUEUE: usize = 32;
/// New streams queued for the application before the connection's reader waits.
const INCOMING_QUEUE: usize = 16;
/// The reader's read size.
const READ_CHUNK: usize = 64 * 1024;
/// The writer's buffer: small frames coalesce, flushed when the queue runs empty.
const WRITE_BUFFER: usize = 256 * 1024;
/// The largest stream id.
const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// What the writer task is asked to do.
enum Outgoing {
    /// A frame without a header block, as is.
    Frame(Frame),
    /// SYN_STREAM with headers to compress.
    SynStream {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    /// SYN_REPLY with headers to compress.
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    /// Flush, shut the write side down and stop; then acknowledge.
    Close(oneshot::Sender<()>),
}

/// What both halves of a stream and the connection share about it.
struct StreamState {
    id: u32,
    /// The peer's headers: SYN_STREAM's for a stream it opened, SYN_REPLY's for ours.
    headers: Mutex<Headers>,
    /// The RST_STREAM status, either side's; 0 while not reset.
    reset: AtomicU32,
    /// We may send no more: FIN sent (or the stream is unidirectional towards us).
    local_done: AtomicBool,
}

/// The connection's record of a live stream.
struct Slot {
    /// Where the peer's DATA goes; `None` once the peer finished (FIN) or nobody
    /// reads any more (then data is discarded).
    data: Option<mpsc::Sender<Bytes>>,
    /// For a stream we opened: who waits for the SYN_REPLY.
    reply: Option<oneshot::Sender<Result<Headers, SpdyError>>>,
    state: Arc<StreamState>,
}

struct State {
    streams: HashMap<u32, Slot>,
    next_stream_id: u32,
    next_ping_id: u32,
    last_peer_stream_id: u32,
    pings: HashMap<u32, oneshot::Sender<()>>,
    goaway_received: bool,
    goaway_sent: bool,
    ended: bool,
}

struct Shared {
    server: bool,
    out: mpsc::Sender<Outgoing>,
    state: Mutex<State>,
    /// The reader stopped (EOF, error): nothing more arrives, nothing more is sent.
    ended: CancellationToken,
    /// Ended, or the peer's GOAWAY with no stream left.
    closed: CancellationToken,
}

impl Shared {
    /// Whether `id` is of the parity the peer opens (odd from a client).
    fn is_peer_id(&self, id: u32) -> bool {
        (id % 2 == 1) == self.server
    }

    /// Queues `item` without waiting (for `Drop`): spawns the send when the queue is
    /// full, drops it when the connection is gone.
    fn send_detached(&self, item: Outgoing) {
        match self.out.try_send(item) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let out = self.out.clone();
                    rt.spawn(async move {
                        let _ = out.send(item).await;
                    });
                }
            }
        }
    }

    fn remove(&self, s: &mut State, id: u32) -> Option<Slot> {
        let slot = s.streams.remove(&id);
        if s.goaway_received && s.streams.is_empty() {
            self.closed.cancel();
        }
        slot
    }

    /// The peer sends no more on `id` (FIN), or nobody reads it any more.
    fn finish_remote(&self, id: u32) {
        let mut s = self.state.lock();
        let Some(slot) = s.streams.get_mut(&id) else {
            return;
        };
        slot.data = None;
        if slot.state.local_done.load(Ordering::Acquire) {
            self.remove(&mut s, id);
        }
    }

    /// We send no more on `id`.
    fn finish_local(&self, state: &StreamState) {
        state.local_done.store(true, Ordering::Release);
        let mut s = self.state.lock();
        if s.streams
            .get(&state.id)
            .is_some_and(|slot| slot.data.is_none())
        {
            self.remove(&mut s, state.id);
        }
    }

    /// The stream is reset (by either side): its reader sees EOF, writes fail.
    fn reset_stream(&self, id: u32, status: u32) {
        let slot = {
            let mut s = self.state.lock();
            self.remove(&mut s, id)
        };
        if let Some(slot) = slot {
            slot.state.reset.store(status.max(1), Ordering::Release);
            if let Some(reply) = slot.reply {
                let _ = reply.send(Err(SpdyError::Reset {
                    stream_id: id,
                    status,
                }));
            }
        }
    }
}

/// A SPDY/3.1 connection: a cheap-to-clone handle on the reader and writer tasks.
///
/// The tasks run until the byte stream ends (or, for the writer, [`close`] is
/// called); dropping every handle does not stop them while the peer keeps the
/// connection open.
///
/// [`close`]: Connection::close
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.shared.server)
            .field("ended", &self.shared.ended.is_cancelled())
            .finish()
    }
}

impl Connection {
    /// The server side on `io` (the peer opens odd stream ids; ours would be even).
    /// Streams the peer opens arrive on the receiver. Spawns the connection's two
    /// tasks: call within a tokio runtime.
    pub fn server<IO>(io: IO) -> (Connection, mpsc::Receiver<IncomingStream>)
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(io, true)
    }

    /// The client side on `io`: we open odd stream ids (the peer may open even ones,
    /// which arrive on the receiver).
    pub fn client<IO>(io: IO) -> (Connection, mpsc::Receiver<IncomingStream>)
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(io, false)
    }

    fn start<IO>(io: IO, server: bool) -> (Connection, mpsc::Receiver<IncomingStream>)
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(INCOMING_QUEUE);
        let shared = Arc::new(Shared {
            server,
            out: out_tx,
            state: Mutex::new(State {
                streams: HashMap::new(),
                next_stream_id: if server { 2 } else { 1 },
                next_ping_id: if server { 2 } else { 1 },
                last_peer_stream_id: 0,
                pings: HashMap::new(),
                goaway_received: false,
                goaway_sent: false,
                ended: false,
            }),
            ended: CancellationToken::new(),
            closed: CancellationToken::new(),
        });
        let (r, w) = tokio::io::split(io);
        tokio::spawn(write_loop(w, out_rx, shared.ended.clone()));
        tokio::spawn(read_loop(r, shared.clone(), in_tx));
        (Connection { shared }, in_rx)
    }

    /// Opens a stream (SYN_STREAM with `headers`; `fin`: we send nothing on it) and
    /// waits for the peer's SYN_REPLY, or its RST_STREAM ([`SpdyError::Reset`]).
    /// Dropping the future before the reply resets the stream (CANCEL).
    pub async fn open_stream(&self, headers: Headers, fin: bool) -> Result<Stream, SpdyError> {
        let permit = self
            .shared
            .out
            .reserve()
            .await
            .map_err(|_| SpdyError::ConnectionClosed)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let (data_tx, data_rx) = mpsc::channel(STREAM_QUEUE);
        let state = {
            let mut s = self.shared.state.lock();
            if s.ended || s.goaway_sent {
                return Err(SpdyError::ConnectionClosed);
            }
            if s.goaway_received {
                return Err(SpdyError::GoneAway);
            }
            let id = s.next_stream_id;
            if id > MAX_STREAM_ID {
                return Err(SpdyError::StreamIdsExhausted);
            }
            s.next_stream_id += 2;
            let state = Arc::new(StreamState {
                id,
                headers: Mutex::new(Headers::new()),
                reset: AtomicU32::new(0),
                local_done: AtomicBool::new(fin),
            });
            s.streams.insert(
                id,
                Slot {
                    data: Some(data_tx),
                    reply: Some(reply_tx),
                    state: state.clone(),
                },
            );
            // Under the lock, so stream ids reach the wire in increasing order.
            permit.send(Outgoing::SynStream {
                stream_id: id,
                flags: if fin { FLAG_FIN } else { 0 },
                headers,
            });
            state
        };
        let mut guard = CancelOnDrop {
            shared: &self.shared,
            id: state.id,
            armed: true,
        };
        let reply = reply_rx.await;
        guard.armed = false;
        match reply {
            Ok(Ok(headers)) => {
                *state.headers.lock() = headers;
                Ok(Stream::new(self.shared.clone(), state, data_rx))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SpdyError::ConnectionClosed),
        }
    }

    /// Sends a PING and waits for its echo; the round trip.
    pub async fn ping(&self) -> Result<Duration, SpdyError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut s = self.shared.state.lock();
            if s.ended {
                return Err(SpdyError::ConnectionClosed);
            }
            let id = s.next_ping_id;
            s.next_ping_id = if id > MAX_STREAM_ID - 2 {
                id % 2 + 2
            } else {
                id + 2
            };
            s.pings.insert(id, tx);
            id
        };
        let start = Instant::now();
        if self
            .shared
            .out
            .send(Outgoing::Frame(Frame::Ping { id }))
            .await
            .is_err()
        {
            self.shared.state.lock().pings.remove(&id);
            return Err(SpdyError::ConnectionClosed);
        }
        rx.await.map_err(|_| SpdyError::ConnectionClosed)?;
        Ok(start.elapsed())
    }

    /// Closes our side: GOAWAY (the last stream the peer opened is the last good
    /// one), then flushes and shuts the write side. Every later write fails; streams
    /// still receive what the peer sends until it closes its side.
    pub async fn close(&self) {
        let goaway = {
            let mut s = self.shared.state.lock();
            let first = !s.goaway_sent;
            s.goaway_sent = true;
            first.then_some(s.last_peer_stream_id)
        };
        if let Some(last_good_stream_id) = goaway {
            let frame = Frame::GoAway {
                last_good_stream_id,
                status: goaway::OK,
            };
            let _ = self.shared.out.send(Outgoing::Frame(frame)).await;
        }
        let (tx, rx) = oneshot::channel();
        if self.shared.out.send(Outgoing::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Resolves when the peer's side has ended: EOF, an error, or its GOAWAY with no
    /// stream left open.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await
    }

    /// Whether the peer sent GOAWAY.
    pub fn goaway_received(&self) -> bool {
        self.shared.state.lock().goaway_received
    }
}

/// Resets a stream whose opener stopped waiting for its reply.
struct CancelOnDrop<'a> {
    shared: &'a Arc<Shared>,
    id: u32,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.reset_stream(self.id, rst::CANCEL);
            self.shared.send_detached(Outgoing::Frame(Frame::RstStream {
                stream_id: self.id,
                status: rst::CANCEL,
            }));
        }
    }
}

/// A stream the peer opened, to [`accept`](IncomingStream::accept) or
/// [`reset`](IncomingStream::reset). Dropped unanswered, it is refused
/// (RST_STREAM REFUSED_STREAM). Answer promptly: the peer's data for it queues up
/// meanwhile, and once that queue is full the whole connection waits (spdystream
/// peers send nothing before the reply, and give up on it after 30 s in kubectl).
pub struct IncomingStream {
    shared: Arc<Shared>,
    state: Arc<StreamState>,
    data: Option<mpsc::Receiver<Bytes>>,
    headers: Headers,
    unidirectional: bool,
}

impl std::fmt::Debug for IncomingStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingStream")
            .field("id", &self.state.id)
            .field("headers", &self.headers)
            .finish()
    }
}

impl IncomingStream {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.state.id
    }

    /// The SYN_STREAM's headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Accepts the stream: SYN_REPLY without headers (none for a unidirectional
    /// stream, which the spec does not answer).
    pub async fn accept(mut self) -> Result<Stream, SpdyError> {
        let data = self
            .data
            .take()
            .expect("an IncomingStream is answered once");
        let status = self.state.reset.load(Ordering::Acquire);
        if status != 0 {
            return Err(SpdyError::Reset {
                stream_id: self.state.id,
                status,
            });
        }
        if !self.unidirectional {
            let reply = Outgoing::SynReply {
                stream_id: self.state.id,
                flags: 0,
                headers: Headers::new(),
            };
            self.shared
                .out
                .send(reply)
                .await
                .map_err(|_| SpdyError::ConnectionClosed)?;
        }
        Ok(Stream::new(self.shared.clone(), self.state.clone(), data))
    }

    /// Refuses the stream with RST_STREAM `status` (see [`super::frame::rst`]).
    pub async fn reset(mut self, status: u32) {
        self.data = None;
        self.shared.reset_stream(self.state.id, status);
        let frame = Frame::RstStream {
            stream_id: self.state.id,
            status,
        };
        let _ = self.shared.out.send(Outgoing::Frame(frame)).await;
    }
}

impl Drop for IncomingStream {
    fn drop(&mut self) {
        if self.data.take().is_some() {
            debug!(
                stream = self.state.id,
                "spdy stream dropped unanswered: refused"
            );
            self.shared.reset_stream(self.state.id, rst::REFUSED_STREAM);
            self.shared.send_detached(Outgoing::Frame(Frame::RstStream {
                stream_id: self.state.id,
                status: rst::REFUSED_STREAM,
            }));
        }
    }
}

/// An open stream: tokio `AsyncRead` (the peer's data until its FIN or a reset, then
/// EOF) and `AsyncWrite` (DATA frames of at most [`MAX_DATA_FRAME`] bytes;
/// `poll_shutdown` sends FIN). [`into_split`](Stream::into_split) gives halves to
/// use from two tasks.
pub struct Stream {
    reader: StreamReader,
    writer: StreamWriter,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id()).finish()
    }
}

impl Stream {
    fn new(shared: Arc<Shared>, state: Arc<StreamState>, data: mpsc::Receiver<Bytes>) -> Stream {
        Stream {
            reader: StreamReader {
                shared: shared.clone(),
                state: state.clone(),
                data,
                current: Bytes::new(),
            },
            writer: StreamWriter {
                out: PollSender::new(shared.out.clone()),
                shared,
                state,
            },
        }
    }

    /// The stream id.
    pub fn id(&self) -> u32 {
        self.reader.state.id
    }

    /// The peer's headers: its SYN_STREAM's for a stream it opened, its SYN_REPLY's
    /// for one we opened.
    pub fn headers(&self) -> Headers {
        self.reader.state.headers.lock().clone()
    }

    /// The RST_STREAM status once the stream was reset (by either side).
    pub fn reset_status(&self) -> Option<u32> {
        self.reader.reset_status()
    }

    /// Resets the stream (RST_STREAM `status`): reads end, writes fail.
    pub async fn reset(self, status: u32) {
        self.writer.reset(status).await
    }

    /// The read and write halves, for two tasks.
    pub fn into_split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

/// The read half of a [`Stream`]: the peer's data, then EOF at its FIN, a reset or
/// the connection's end. Dropped, the stream's further data is discarded.
pub struct StreamReader {
    shared: Arc<Shared>,
    state: Arc<StreamState>,
    data: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl StreamReader {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.state.id
    }

    /// The RST_STREAM status once the stream was reset (by either side): tells a
    /// reset from a FIN after EOF.
    pub fn reset_status(&self) -> Option<u32> {
        match self.state.reset.load(Ordering::Acquire) {
            0 => None,
            s => Some(s),
        }
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.current.is_empty() {
                let n = this.current.len().min(buf.remaining());
                buf.put_slice(&this.current[..n]);
                this.current.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(this.data.poll_recv(cx)) {
                Some(chunk) => this.current = chunk,
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.data.close();
        self.shared.finish_remote(self.state.id);
    }
}

/// The write half of a [`Stream`]. Each write queues one DATA frame (at most
/// [`MAX_DATA_FRAME`] bytes) for the connection's writer, which flushes whenever its
/// queue runs empty, so `poll_flush` has nothing to wait for. `poll_shutdown` sends
/// FIN; dropped without it, the half sends FIN itself.
pub struct StreamWriter {
    shared: Arc<Shared>,
    state: Arc<StreamState>,
    out: PollSender<Outgoing>,
}

impl StreamWriter {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.state.id
    }

    /// Resets the stream (RST_STREAM `status`): the reader half sees EOF, writes fail.
    pub async fn reset(self, status: u32) {
        self.state.local_done.store(true, Ordering::Release);
        self.shared.reset_stream(self.state.id, status);
        self.state.reset.store(status.max(1), Ordering::Release);
        let frame = Frame::RstStream {
            stream_id: self.state.id,
            status,
        };
        let _ = self.shared.out.send(Outgoing::Frame(frame)).await;
    }

    fn check_writable(&self) -> io::Result<()> {
        let status = self.state.reset.load(Ordering::Acquire);
        if status != 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("spdy stream {} was reset (status {status})", self.state.id),
            ));
        }
        if self.state.local_done.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("spdy stream {} is closed for writing", self.state.id),
            ));
        }
        if self.shared.ended.is_cancelled() {
            return Err(closed_error());
        }
        Ok(())
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the spdy connection is closed")
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.check_writable()?;
        ready!(self.out.poll_reserve(cx)).map_err(|_| closed_error())?;
        let n = buf.len().min(MAX_DATA_FRAME);
        let frame = Frame::Data {
            stream_id: self.state.id,
            flags: 0,
            payload: Bytes::copy_from_slice(&buf[..n]),
        };
        self.out
            .send_item(Outgoing::Frame(frame))
            .map_err(|_| closed_error())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.local_done.load(Ordering::Acquire)
            || self.state.reset.load(Ordering::Acquire) != 0
        {
            return Poll::Ready(Ok(()));
        }
        if self.shared.ended.is_cancelled() {
            return Poll::Ready(Err(closed_error()));
        }
        ready!(self.out.poll_reserve(cx)).map_err(|_| closed_error())?;
        let frame = Frame::Data {
            stream_id: self.state.id,
            flags: FLAG_FIN,
            payload: Bytes::new(),
        };
        self.out
            .send_item(Outgoing::Frame(frame))
            .map_err(|_| closed_error())?;
        self.shared.finish_local(&self.state);
        Poll::Ready(Ok(()))
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.state.local_done.load(Ordering::Acquire)
            || self.state.reset.load(Ordering::Acquire) != 0
        {
            return;
        }
        if !self.shared.ended.is_cancelled() {
            self.shared.send_detached(Outgoing::Frame(Frame::Data {
                stream_id: self.state.id,
                flags: FLAG_FIN,
                payload: Bytes::new(),
            }));
        }
        self.shared.finish_local(&self.state);
    }
}

/// The writer task: frames from the queue onto the wire, header blocks compressed in
/// order, a flush whenever the queue runs empty.
async fn write_loop<W>(w: W, mut rx: mpsc::Receiver<Outgoing>, ended: CancellationToken)
where
    W: AsyncWrite + Unpin,
{
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, w);
    let mut encoder = HeaderEncoder::new();
    let mut scratch = BytesMut::with_capacity(1024);
    let result: io::Result<()> = async {
        loop {
            let next = tokio::select! {
                biased;
                next = rx.recv() => next,
                _ = ended.cancelled() => None,
            };
            let Some(mut item) = next else {
                return Ok(());
            };
            loop {
                if let Outgoing::Close(ack) = item {
                    w.flush().await?;
                    w.shutdown().await?;
                    let _ = ack.send(());
                    debug!("spdy connection closed by us: write side shut");
                    return Ok(());
                }
                write_one(&mut w, &mut encoder, &mut scratch, item).await?;
                match rx.try_recv() {
                    Ok(next) => item = next,
                    Err(_) => break,
                }
            }
            w.flush().await?;
        }
    }
    .await;
    match result {
        Ok(()) => debug!("spdy writer done"),
        Err(e) => debug!(error = %e, "spdy writer failed"),
    }
}

async fn write_one<W>(
    w: &mut BufWriter<W>,
    encoder: &mut HeaderEncoder,
    scratch: &mut BytesMut,
    item: Outgoing,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let frame = match item {
        Outgoing::Frame(Frame::Data {
            stream_id,
            flags,
            payload,
        }) => {
            let header = data_header(stream_id, flags, payload.len()).map_err(io::Error::other)?;
            w.write_all(&header).await?;
            return w.write_all(&payload).await;
        }
        Outgoing::Frame(frame) => frame,
        Outgoing::SynStream {
            stream_id,
            flags,
            headers,
        } => Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            flags,
            header_block: compress(encoder, &headers)?,
        },
        Outgoing::SynReply {
            stream_id,
            flags,
            headers,
        } => Frame::SynReply {
            stream_id,
            flags,
            header_block: compress(encoder, &headers)?,
        },
        Outgoing::Close(_) => unreachable!("handled by the loop"),
    };
    scratch.clear();
    frame.encode(scratch).map_err(io::Error::other)?;
    w.write_all(scratch).await
}

fn compress(encoder: &mut HeaderEncoder, headers: &Headers) -> io::Result<Bytes> {
    let mut block = BytesMut::with_capacity(128);
    encoder
        .encode(headers, &mut block)
        .map_err(io::Error::other)?;
    Ok(block.freeze())
}

/// The reader task: frames off the wire, dispatched; at the end every stream sees
/// EOF and the connection is closed.
async fn read_loop<R>(mut r: R, shared: Arc<Shared>, incoming: mpsc::Sender<IncomingStream>)
where
    R: AsyncRead + Unpin,
{
    let mut reader = Reader {
        shared: shared.clone(),
        incoming,
        decoder: HeaderDecoder::new(),
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let result: Result<(), SpdyError> = async {
        loop {
            while let Some(frame) = Frame::decode(&mut buf)? {
                reader.dispatch(frame).await?;
            }
            let missing = Frame::wire_len(&buf) - buf.len();
            buf.reserve(missing.max(READ_CHUNK));
            if r.read_buf(&mut buf).await? == 0 {
                return if buf.is_empty() {
                    Ok(())
                } else {
                    Err(SpdyError::Truncated)
                };
            }
        }
    }
    .await;
    match &result {
        Ok(()) => debug!(server = shared.server, "spdy connection ended by the peer"),
        Err(e) => {
            debug!(server = shared.server, error = %e, "spdy connection failed");
            if matches!(e, SpdyError::Frame(_) | SpdyError::Header(_)) {
                // Tell the peer why before the writer stops (it takes what is queued).
                let last_good_stream_id = shared.state.lock().last_peer_stream_id;
                let _ = shared.out.try_send(Outgoing::Frame(Frame::GoAway {
                    last_good_stream_id,
                    status: goaway::PROTOCOL_ERROR,
                }));
            }
        }
    }
    let (streams, pings) = {
        let mut s = shared.state.lock();
        s.ended = true;
        (std::mem::take(&mut s.streams), std::mem::take(&mut s.pings))
    };
    shared.ended.cancel();
    shared.closed.cancel();
    for (_, slot) in streams {
        if let Some(reply) = slot.reply {
            let _ = reply.send(Err(SpdyError::ConnectionClosed));
        }
    }
    drop(pings);
}

/// The reader task's dispatch state.
struct Reader {
    shared: Arc<Shared>,
    incoming: mpsc::Sender<IncomingStream>,
    decoder: HeaderDecoder,
}

impl Reader {
    async fn send(&self, frame: Frame) {
        let _ = self.shared.out.send(Outgoing::Frame(frame)).await;
    }

    async fn rst(&self, stream_id: u32, status: u32) {
        self.send(Frame::RstStream { stream_id, status }).await
    }

    /// One frame. Errors end the connection.
    async fn dispatch(&mut self, frame: Frame) -> Result<(), SpdyError> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                payload,
            } => {
                let tx = {
                    let s = self.shared.state.lock();
                    match s.streams.get(&stream_id) {
                        Some(slot) => slot.data.clone(),
                        None => {
                            trace!(stream = stream_id, "spdy data for no open stream dropped");
                            return Ok(());
                        }
                    }
                };
                if let Some(tx) = tx
                    && !payload.is_empty()
                {
                    // Waits while the stream's reader is behind; fails (and the data
                    // is discarded) once nobody reads.
                    let _ = tx.send(payload).await;
                }
                if flags & FLAG_FIN != 0 {
                    self.shared.finish_remote(stream_id);
                }
            }
            Frame::SynStream {
                stream_id,
                flags,
                header_block,
                ..
            } => {
                // Inflated whatever becomes of the stream: the zlib context is shared.
                let headers = self.decoder.decode(&header_block);
                self.syn_stream(stream_id, flags, headers).await?;
            }
            Frame::SynReply {
                stream_id,
                flags,
                header_block,
            } => match self.decoder.decode(&header_block) {
                Ok(headers) => {
                    let reply = {
                        let mut s = self.shared.state.lock();
                        s.streams
                            .get_mut(&stream_id)
                            .and_then(|slot| slot.reply.take())
                    };
                    match reply {
                        Some(reply) => {
                            let _ = reply.send(Ok(headers));
                        }
                        None => trace!(stream = stream_id, "spdy SYN_REPLY ignored"),
                    }
                    if flags & FLAG_FIN != 0 {
                        self.shared.finish_remote(stream_id);
                    }
                }
                Err(e) if e.is_connection_error() => return Err(e.into()),
                Err(e) => {
                    debug!(stream = stream_id, error = %e, "spdy SYN_REPLY refused");
                    self.shared.reset_stream(stream_id, rst::PROTOCOL_ERROR);
                    self.rst(stream_id, rst::PROTOCOL_ERROR).await;
                }
            },
            Frame::Headers {
                stream_id,
                flags,
                header_block,
            } => match self.decoder.decode(&header_block) {
                Ok(headers) => {
                    trace!(stream = stream_id, ?headers, "spdy HEADERS ignored");
                    if flags & FLAG_FIN != 0 {
                        self.shared.finish_remote(stream_id);
                    }
                }
                Err(e) if e.is_connection_error() => return Err(e.into()),
                Err(e) => {
                    debug!(stream = stream_id, error = %e, "spdy HEADERS refused");
                    self.shared.reset_stream(stream_id, rst::PROTOCOL_ERROR);
                    self.rst(stream_id, rst::PROTOCOL_ERROR).await;
                }
            },
            Frame::RstStream { stream_id, status } => {
                debug!(stream = stream_id, status, "spdy stream reset by the peer");
                self.shared.reset_stream(stream_id, status);
            }
            Frame::Ping { id } => {
                if self.shared.is_peer_id(id) {
                    self.send(Frame::Ping { id }).await;
                } else {
                    let waiter = self.shared.state.lock().pings.remove(&id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(());
                    }
                }
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                debug!(last_good_stream_id, status, "spdy GOAWAY from the peer");
                let unanswered: Vec<_> = {
                    let mut s = self.shared.state.lock();
                    s.goaway_received = true;
                    // Our streams after the last good one were never seen: they fail.
                    let server = self.shared.server;
                    let ids: Vec<u32> = s
                        .streams
                        .keys()
                        .copied()
                        .filter(|&id| (id % 2 == 1) != server && id > last_good_stream_id)
                        .collect();
                    let gone = ids
                        .into_iter()
                        .filter_map(|id| self.shared.remove(&mut s, id))
                        .collect();
                    if s.streams.is_empty() {
                        self.shared.closed.cancel();
                    }
                    gone
                };
                for slot in unanswered {
                    if let Some(reply) = slot.reply {
                        let _ = reply.send(Err(SpdyError::GoneAway));
                    }
                }
            }
            Frame::Settings { .. } | Frame::WindowUpdate { .. } => {
                trace!(?frame, "spdy flow control / settings ignored");
            }
            Frame::Unknown { frame_type, .. } => {
                trace!(frame_type, "spdy control frame of unknown type skipped");
            }
        }
        Ok(())
    }

    async fn syn_stream(
        &mut self,
        stream_id: u32,
        flags: u8,
        headers: Result<Headers, super::HeaderError>,
    ) -> Result<(), SpdyError> {
        let headers = match headers {
            Ok(h) => Some(h),
            Err(e) if e.is_connection_error() => return Err(e.into()),
            Err(e) => {
                debug!(stream = stream_id, error = %e, "spdy SYN_STREAM header block refused");
                None
            }
        };
        enum Verdict {
            Refuse(u32),
            Open(IncomingStream),
        }
        let verdict = {
            let mut s = self.shared.state.lock();
            if !self.shared.is_peer_id(stream_id) || stream_id <= s.last_peer_stream_id {
                Verdict::Refuse(rst::PROTOCOL_ERROR)
            } else {
                s.last_peer_stream_id = stream_id;
                match headers {
                    None => Verdict::Refuse(rst::PROTOCOL_ERROR),
                    Some(_) if s.goaway_sent => Verdict::Refuse(rst::REFUSED_STREAM),
                    Some(headers) => {
                        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                        let unidirectional = flags & FLAG_UNIDIRECTIONAL != 0;
                        let state = Arc::new(StreamState {
                            id: stream_id,
                            headers: Mutex::new(headers.clone()),
                            reset: AtomicU32::new(0),
                            local_done: AtomicBool::new(unidirectional),
                        });
                        let fin = flags & FLAG_FIN != 0;
                        s.streams.insert(
                            stream_id,
                            Slot {
                                data: (!fin).then_some(tx),
                                reply: None,
                                state: state.clone(),
                            },
                        );
                        Verdict::Open(IncomingStream {
                            shared: self.shared.clone(),
                            state,
                            data: Some(rx),
                            headers,
                            unidirectional,
                        })
                    }
                }
            }
        };
        match verdict {
            Verdict::Refuse(status) => {
                debug!(stream = stream_id, status, "spdy SYN_STREAM refused");
                self.rst(stream_id, status).await;
            }
            Verdict::Open(stream) => {
                trace!(stream = stream_id, headers = ?stream.headers, "spdy stream opened by the peer");
                // Nobody takes new streams: the dropped IncomingStream refuses itself.
                let _ = self.incoming.send(stream).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::spdy::frame::kind;
    use flate2::{Compress, Compression, FlushCompress};
    use std::future::Future;
    use tokio::io::DuplexStream;

    const DEADLINE: Duration = Duration::from_secs(20);

    async fn within<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(DEADLINE, f).await.expect("timed out")
    }

    fn pair() -> (
        Connection,
        mpsc::Receiver<IncomingStream>,
        Connection,
        mpsc::Receiver<IncomingStream>,
    ) {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let (client, client_in) = Connection::client(a);
        let (server, server_in) = Connection::server(b);
        (client, client_in, server, server_in)
    }

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32 * 7) as u8)
            .collect()
    }

    async fn read_all(r: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.unwrap();
        v
    }

    /// Three streams at once, data both ways concurrently, 10 MiB on one of them.
    #[tokio::test]
    async fn streams_carry_data_both_ways() {
        let (client, _client_in, _server, mut server_in) = pair();
        // Server: for each stream, read everything the client sends and concurrently
        // send `reply-size` bytes; report what was received.
        let (got_tx, mut got_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(inc) = server_in.recv().await {
                let name = inc.header("streamtype").unwrap().to_owned();
                let size: usize = inc.header("reply-size").unwrap().parse().unwrap();
                let seed: u8 = inc.header("seed").unwrap().parse().unwrap();
                let stream = inc.accept().await.unwrap();
                let (mut r, mut w) = stream.into_split();
                let got_tx = got_tx.clone();
                tokio::spawn(async move {
                    let writer = tokio::spawn(async move {
                        w.write_all(&pattern(seed + 100, size)).await.unwrap();
                        w.shutdown().await.unwrap();
                    });
                    let data = read_all(&mut r).await;
                    writer.await.unwrap();
                    got_tx.send((name, data)).unwrap();
                });
            }
        });
        let sizes = [
            ("stdin", 10 << 20, 300_000usize),
            ("stdout", 1, 10 << 20),
            ("data", 65_537, 0),
        ];
        let mut tasks = Vec::new();
        for (seed, (name, up, down)) in sizes.into_iter().enumerate() {
            let headers = Headers::new()
                .with("streamtype", name)
                .with("reply-size", &down.to_string())
                .with("seed", &seed.to_string());
            let stream = within(client.open_stream(headers, false)).await.unwrap();
            assert_eq!(stream.id() % 2, 1, "a client opens odd ids");
            tasks.push(tokio::spawn(async move {
                let (mut r, mut w) = stream.into_split();
                let writer = tokio::spawn(async move {
                    w.write_all(&pattern(seed as u8, up)).await.unwrap();
                    w.shutdown().await.unwrap();
                });
                let data = read_all(&mut r).await;
                writer.await.unwrap();
                (seed, data)
            }));
        }
        for t in tasks {
            let (seed, data) = within(t).await.unwrap();
            let down = sizes[seed].2;
            assert_eq!(data.len(), down, "stream {seed} received");
            assert!(
                data == pattern(seed as u8 + 100, down),
                "stream {seed} content"
            );
        }
        let mut seen = HashMap::new();
        for _ in 0..3 {
            let (name, data) = within(got_rx.recv()).await.unwrap();
            seen.insert(name, data);
        }
        for (seed, (name, up, _)) in sizes.into_iter().enumerate() {
            let data = &seen[name];
            assert_eq!(data.len(), up, "server received on {name}");
            assert!(*data == pattern(seed as u8, up), "server content on {name}");
        }
    }

    /// FIN half-closes: the server reads EOF after the client's shutdown and can
    /// still answer; the client cannot write after its shutdown.
    #[tokio::test]
    async fn fin_half_closes() {
        let (client, _ci, _server, mut server_in) = pair();
        let server = tokio::spawn(async move {
            let mut s = server_in.recv().await.unwrap().accept().await.unwrap();
            let got = read_all(&mut s).await;
            s.write_all(b"pong after ").await.unwrap();
            s.write_all(&got).await.unwrap();
            s.shutdown().await.unwrap();
        });
        let mut s = within(client.open_stream(Headers::new().with("streamtype", "stdin"), false))
            .await
            .unwrap();
        s.write_all(b"ping").await.unwrap();
        s.shutdown().await.unwrap();
        let err = s.write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(within(read_all(&mut s)).await, b"pong after ping");
        within(server).await.unwrap();
        assert_eq!(s.reset_status(), None);
    }

    /// A stream opened with FIN: the server's reader is at EOF at once.
    #[tokio::test]
    async fn stream_opened_with_fin() {
        let (client, _ci, _server, mut server_in) = pair();
        let server = tokio::spawn(async move {
            let mut s = server_in.recv().await.unwrap().accept().await.unwrap();
            assert!(read_all(&mut s).await.is_empty());
            s.write_all(b"only from the server").await.unwrap();
        });
        let mut s = within(client.open_stream(Headers::new(), true))
            .await
            .unwrap();
        assert!(
            s.write_all(b"x").await.is_err(),
            "FIN was sent with SYN_STREAM"
        );
        assert_eq!(within(read_all(&mut s)).await, b"only from the server");
        within(server).await.unwrap();
    }

    /// RST_STREAM: the peer's reads end, its writes fail, refusals reach the opener.
    #[tokio::test]
    async fn reset_ends_the_stream() {
        let (client, _ci, _server, mut server_in) = pair();
        let server = tokio::spawn(async move {
            let first = server_in.recv().await.unwrap();
            let s = first.accept().await.unwrap();
            s.reset(rst::CANCEL).await;
            server_in
                .recv()
                .await
                .unwrap()
                .reset(rst::REFUSED_STREAM)
                .await;
            drop(server_in.recv().await.unwrap()); // dropped unanswered: refused too
        });
        let mut s = within(client.open_stream(Headers::new(), false))
            .await
            .unwrap();
        assert!(within(read_all(&mut s)).await.is_empty());
        assert_eq!(s.reset_status(), Some(rst::CANCEL));
        let err = s.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        for _ in 0..2 {
            match within(client.open_stream(Headers::new(), false)).await {
                Err(SpdyError::Reset { status, .. }) => assert_eq!(status, rst::REFUSED_STREAM),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        within(server).await.unwrap();
        // The connection is still fine.
        within(client.ping()).await.unwrap();
    }

    #[tokio::test]
    async fn pings_are_echoed_both_ways() {
        let (client, _ci, server, _si) = pair();
        within(client.ping()).await.unwrap();
        within(server.ping()).await.unwrap();
        within(client.ping()).await.unwrap();
    }

    /// Closing one side ends the other: readers see EOF, writes fail, `closed`
    /// resolves on both.
    #[tokio::test]
    async fn connection_end_gives_eof() {
        let (client, _ci, server, mut server_in) = pair();
        let (c, s) = within(async {
            tokio::join!(client.open_stream(Headers::new(), false), async {
                server_in.recv().await.unwrap().accept().await
            })
        })
        .await;
        let (mut c, mut s) = (c.unwrap(), s.unwrap());
        c.write_all(b"before close").await.unwrap();
        let mut buf = [0u8; 12];
        within(s.read_exact(&mut buf)).await.unwrap();
        within(client.close()).await;
        assert!(within(read_all(&mut s)).await.is_empty());
        within(server.closed()).await;
        assert!(s.write_all(b"x").await.is_err());
        assert!(matches!(
            server.open_stream(Headers::new(), false).await,
            Err(SpdyError::ConnectionClosed)
        ));
        within(client.closed()).await;
        assert!(within(read_all(&mut c)).await.is_empty());
        assert!(c.write_all(b"x").await.is_err());
        assert!(within(server_in.recv()).await.is_none());
    }

    /// GOAWAY: the peer opens no more streams.
    #[tokio::test]
    async fn goaway_stops_new_streams() {
        let (client, _ci, server, _si) = pair();
        within(server.close()).await;
        within(client.closed()).await;
        assert!(matches!(
            client.open_stream(Headers::new(), false).await,
            Err(SpdyError::GoneAway | SpdyError::ConnectionClosed)
        ));
    }

    /// A stream whose reader half is gone does not hold up the others.
    #[tokio::test]
    async fn data_for_a_dropped_reader_is_discarded() {
        let (client, _ci, _server, mut server_in) = pair();
        let mut open = async |n: &str| {
            let (c, s) = within(async {
                tokio::join!(
                    client.open_stream(Headers::new().with("n", n), false),
                    async { server_in.recv().await.unwrap().accept().await }
                )
            })
            .await;
            (c.unwrap(), s.unwrap())
        };
        let (mut a, sa) = open("a").await;
        let (mut b, mut sb) = open("b").await;
        let (ra, mut wa) = sa.into_split();
        drop(ra);
        // Far more than the stream's queue holds.
        within(a.write_all(&vec![1u8; 8 << 20])).await.unwrap();
        a.shutdown().await.unwrap();
        b.write_all(b"through").await.unwrap();
        b.shutdown().await.unwrap();
        assert_eq!(within(read_all(&mut sb)).await, b"through");
        // The write half still works.
        wa.write_all(b"still here").await.unwrap();
        wa.shutdown().await.unwrap();
        assert_eq!(within(read_all(&mut a)).await, b"still here");
    }

    // ---- A raw peer: frames written by hand, header blocks compressed as Go does.

    /// Go's header compressor: `zlib.NewWriterLevelDict(BestCompression, dict)`,
    /// `Flush` per block.
    struct GoCompressor(Compress);

    impl GoCompressor {
        fn new() -> Self {
            let mut z = Compress::new(Compression::best(), true);
            z.set_dictionary(crate::server::spdy::dictionary::HEADER_DICTIONARY)
                .unwrap();
            GoCompressor(z)
        }

        fn block(&mut self, pairs: &[(&str, &str)]) -> Bytes {
            let mut plain = Vec::new();
            plain.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
            for (n, v) in pairs {
                plain.extend_from_slice(&(n.len() as u32).to_be_bytes());
                plain.extend_from_slice(n.as_bytes());
                plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
                plain.extend_from_slice(v.as_bytes());
            }
            let mut out = Vec::with_capacity(plain.len() + 128);
            self.0
                .compress_vec(&plain, &mut out, FlushCompress::Sync)
                .unwrap();
            assert!(out.len() < out.capacity());
            Bytes::from(out)
        }
    }

    struct RawPeer {
        io: DuplexStream,
        buf: BytesMut,
        decoder: HeaderDecoder,
    }

    impl RawPeer {
        async fn send(&mut self, f: Frame) {
            let mut b = BytesMut::new();
            f.encode(&mut b).unwrap();
            self.io.write_all(&b).await.unwrap();
        }

        async fn next(&mut self) -> Option<Frame> {
            within(async {
                loop {
                    if let Some(f) = Frame::decode(&mut self.buf).unwrap() {
                        return Some(f);
                    }
                    if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                        return None;
                    }
                }
            })
            .await
        }
    }

    fn raw_server() -> (RawPeer, Connection, mpsc::Receiver<IncomingStream>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (server, incoming) = Connection::server(b);
        let peer = RawPeer {
            io: a,
            buf: BytesMut::new(),
            decoder: HeaderDecoder::new(),
        };
        (peer, server, incoming)
    }

    fn syn(stream_id: u32, flags: u8, header_block: Bytes) -> Frame {
        Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            flags,
            header_block,
        }
    }

    /// What kubectl sends first: the error stream, headers compressed Go's way.
    #[tokio::test]
    async fn raw_go_client_error_stream() {
        let (mut peer, server, mut incoming) = raw_server();
        let mut z = GoCompressor::new();
        let block = z.block(&[("streamtype", "error"), ("requestid", "0")]);
        assert_eq!(&block[..6], &[0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
        peer.send(syn(1, 0, block)).await;
        let inc = within(incoming.recv()).await.unwrap();
        assert_eq!(inc.id(), 1);
        assert_eq!(inc.header("streamtype"), Some("error"));
        assert_eq!(inc.header("requestid"), Some("0"));
        let mut s = inc.accept().await.unwrap();
        match peer.next().await.unwrap() {
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                header_block,
            } => {
                // Our first block starts the zlib stream with FDICT, as Go's does.
                assert_eq!(&header_block[..6], &[0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
                assert!(peer.decoder.decode(&header_block).unwrap().is_empty());
            }
            other => panic!("expected SYN_REPLY, got {other:?}"),
        }
        // A second stream's block continues the same zlib stream.
        peer.send(syn(
            3,
            0,
            z.block(&[("streamtype", "stdout"), ("requestid", "0")]),
        ))
        .await;
        let inc = within(incoming.recv()).await.unwrap();
        assert_eq!(inc.header("streamtype"), Some("stdout"));
        let _out = inc.accept().await.unwrap();
        assert!(matches!(
            peer.next().await,
            Some(Frame::SynReply { stream_id: 3, header_block, .. })
                if peer.decoder.decode(&header_block).unwrap().is_empty()
        ));
        // Data with FIN: read to EOF; the server answers on the stream.
        peer.send(Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            payload: Bytes::from_static(b"hello"),
        })
        .await;
        assert_eq!(within(read_all(&mut s)).await, b"hello");
        s.write_all(b"status").await.unwrap();
        s.shutdown().await.unwrap();
        assert_eq!(
            peer.next().await,
            Some(Frame::Data {
                stream_id: 1,
                flags: 0,
                payload: Bytes::from_static(b"status")
            })
        );
        assert_eq!(
            peer.next().await,
            Some(Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                payload: Bytes::new()
            })
        );
        // The peer's pings (odd) are echoed; unknown control frames, SETTINGS and
        // WINDOW_UPDATE are skipped.
        peer.io
            .write_all(&[0x80, 3, 0, 10, 0, 0, 0, 3, 9, 9, 9])
            .await
            .unwrap();
        peer.send(Frame::Settings {
            flags: 0,
            entries: vec![],
        })
        .await;
        peer.send(Frame::WindowUpdate {
            stream_id: 3,
            delta: 1000,
        })
        .await;
        peer.send(Frame::Ping { id: 7 }).await;
        assert_eq!(peer.next().await, Some(Frame::Ping { id: 7 }));
        // The peer going away: streams see EOF, writes fail, `closed` resolves.
        drop(peer);
        within(server.closed()).await;
        let (mut r, mut w) = _out.into_split();
        assert!(within(read_all(&mut r)).await.is_empty());
        assert!(w.write_all(b"x").await.is_err());
    }

    /// Upper-case or duplicate names refuse the stream (PROTOCOL_ERROR), not the
    /// connection; the header context stays in step.
    #[tokio::test]
    async fn raw_bad_header_names_reset_the_stream() {
        let (mut peer, _server, mut incoming) = raw_server();
        let mut z = GoCompressor::new();
        peer.send(syn(1, 0, z.block(&[("StreamType", "error")])))
            .await;
        assert_eq!(
            peer.next().await,
            Some(Frame::RstStream {
                stream_id: 1,
                status: rst::PROTOCOL_ERROR
            })
        );
        peer.send(syn(3, 0, z.block(&[("a", "1"), ("a", "2")])))
            .await;
        assert_eq!(
            peer.next().await,
            Some(Frame::RstStream {
                stream_id: 3,
                status: rst::PROTOCOL_ERROR
            })
        );
        // A stream id that goes backwards, and one of the server's parity.
        peer.send(syn(1, 0, z.block(&[("a", "1")]))).await;
        peer.send(syn(4, 0, z.block(&[("a", "1")]))).await;
        for id in [1, 4] {
            assert!(matches!(
                peer.next().await,
                Some(Frame::RstStream { stream_id, status: rst::PROTOCOL_ERROR }) if stream_id == id
            ));
        }
        peer.send(syn(5, FLAG_FIN, z.block(&[("streamtype", "data")])))
            .await;
        let inc = within(incoming.recv()).await.unwrap();
        assert_eq!((inc.id(), inc.header("streamtype")), (5, Some("data")));
        let mut s = inc.accept().await.unwrap();
        assert!(
            within(read_all(&mut s)).await.is_empty(),
            "FIN on SYN_STREAM"
        );
    }

    /// A frame that breaks the format ends the connection with GOAWAY PROTOCOL_ERROR.
    #[tokio::test]
    async fn raw_protocol_error_ends_the_connection() {
        let (mut peer, server, mut incoming) = raw_server();
        let mut z = GoCompressor::new();
        peer.send(syn(1, 0, z.block(&[("streamtype", "stdin")])))
            .await;
        let mut s = within(incoming.recv())
            .await
            .unwrap()
            .accept()
            .await
            .unwrap();
        assert!(matches!(peer.next().await, Some(Frame::SynReply { .. })));
        // SPDY/2's PING.
        peer.io
            .write_all(&[0x80, 2, 0, kind::PING as u8, 0, 0, 0, 4, 0, 0, 0, 1])
            .await
            .unwrap();
        assert_eq!(
            peer.next().await,
            Some(Frame::GoAway {
                last_good_stream_id: 1,
                status: goaway::PROTOCOL_ERROR
            })
        );
        within(server.closed()).await;
        assert!(within(read_all(&mut s)).await.is_empty());
        assert!(within(incoming.recv()).await.is_none());
    }

    /// GOAWAY from the peer with no stream open resolves `closed` even while the
    /// byte stream stays open.
    #[tokio::test]
    async fn raw_goaway_without_streams_closes() {
        let (mut peer, server, _incoming) = raw_server();
        peer.send(Frame::GoAway {
            last_good_stream_id: 0,
            status: goaway::OK,
        })
        .await;
        within(server.closed()).await;
        assert!(server.goaway_received());
        assert!(matches!(
            server.open_stream(Headers::new(), false).await,
            Err(SpdyError::GoneAway)
        ));
    }
}
