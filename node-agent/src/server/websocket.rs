//! The kubelet's WebSocket streaming, over a connection switched with `101`:
//!
//! - [`Channels`]: the channel protocol (`v4.channel.k8s.io`, `v5.channel.k8s.io`):
//!   every binary message starts with its channel's number (for commands 0 stdin,
//!   1 stdout, 2 stderr, 3 the error channel carrying the final `Status`, 4 resize);
//!   `v5` adds the close signal, a message `[255, channel]` ending that channel's
//!   input (the client's stdin EOF).
//! - [`Tunnel`]: the byte stream of a SPDY session carried in binary messages (the
//!   `SPDY/3.1+portforward.k8s.io` subprotocol of kubectl 1.31+'s port-forward).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::PollSender;

/// `v5.channel.k8s.io`'s close signal channel.
pub const CLOSE_SIGNAL: u8 = 255;

/// How many messages wait for the socket before writers are held back.
const OUTBOUND_QUEUE: usize = 64;

/// Inbound data of one channel, as an [`AsyncRead`] that ends at the client's close
/// signal or when the connection ends.
pub type ChannelReader =
    tokio_util::io::StreamReader<futures::stream::BoxStream<'static, io::Result<Bytes>>, Bytes>;

fn reader(rx: mpsc::Receiver<Bytes>) -> ChannelReader {
    let s = futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    );
    tokio_util::io::StreamReader::new(s.boxed())
}

/// A channel-multiplexed WebSocket: readers for the channels the server reads,
/// writers for the ones it writes, and [`Channels::close`] to end the connection.
pub struct Channels {
    readers: HashMap<u8, mpsc::Receiver<Bytes>>,
    out: mpsc::Sender<Message>,
    ended: tokio::sync::watch::Receiver<bool>,
}

impl Channels {
    /// Starts serving `ws`: the messages of the channels in `inbound` are delivered to
    /// their readers (messages of other channels are dropped); `close_signal` enables
    /// `v5`'s `[255, channel]`.
    pub fn start<S>(ws: WebSocketStream<S>, inbound: &[u8], close_signal: bool) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut source) = ws.split();
        let (out, mut queue) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
        let mut senders = HashMap::new();
        let mut readers = HashMap::new();
        for ch in inbound {
            let (tx, rx) = mpsc::channel::<Bytes>(16);
            senders.insert(*ch, tx);
            readers.insert(*ch, rx);
        }
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Some(msg) = queue.recv().await {
                let closing = matches!(msg, Message::Close(_));
                if let Err(err) = sink.send(msg).await {
                    tracing::debug!(%err, "websocket write ended");
                    break;
                }
                if closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tokio::spawn(async move {
            while let Some(msg) = source.next().await {
                let data = match msg {
                    Ok(Message::Binary(data)) => data,
                    Ok(Message::Close(_)) => break,
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(%err, "websocket read ended");
                        break;
                    }
                };
                let Some((&ch, payload)) = data.split_first() else {
                    continue;
                };
                if close_signal && ch == CLOSE_SIGNAL {
                    if let Some(&closed) = payload.first() {
                        senders.remove(&closed);
                    }
                    continue;
                }
                if let Some(tx) = senders.get(&ch)
                    && tx.send(data.slice(1..)).await.is_err()
                {
                    senders.remove(&ch);
                }
            }
            let _ = ended_tx.send(true);
        });
        Channels {
            readers,
            out,
            ended,
        }
    }

    /// The reader of inbound channel `ch` (once; `None` when it was not asked for).
    pub fn reader(&mut self, ch: u8) -> Option<ChannelReader> {
        self.readers.remove(&ch).map(reader)
    }

    /// A writer sending on channel `ch`.
    pub fn writer(&self, ch: u8) -> ChannelWriter {
        ChannelWriter {
            ch,
            out: PollSender::new(self.out.clone()),
        }
    }

    /// Sends one whole message on channel `ch` (the first message a port-forward
    /// channel carries is its port).
    pub async fn send(&self, ch: u8, payload: &[u8]) -> io::Result<()> {
        let mut data = Vec::with_capacity(payload.len() + 1);
        data.push(ch);
        data.extend_from_slice(payload);
        self.out
            .send(Message::Binary(data.into()))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    /// Resolves when the client's side of the connection has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|e| *e).await;
    }

    /// Ends the connection with a normal close once everything queued was sent.
    pub async fn close(&self) {
        let _ = self
            .out
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
    }
}

/// Writes to one channel: each write is one message, prefixed by the channel.
pub struct ChannelWriter {
    ch: u8,
    out: PollSender<Message>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        ready!(this.out.poll_reserve(cx))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let mut data = Vec::with_capacity(buf.len() + 1);
        data.push(this.ch);
        data.extend_from_slice(buf);
        this.out
            .send_item(Message::Binary(data.into()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A byte stream carried in a WebSocket's binary messages (what a SPDY session runs
/// on for `SPDY/3.1+portforward.k8s.io`): reads are the messages' payloads in order,
/// each write is one message; a close from the client reads as EOF.
pub struct Tunnel<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
}

impl<S> Tunnel<S> {
    /// Tunnels over `ws`.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Tunnel {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

fn ws_error(err: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(err)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tunnel<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text message on a tunnelled SPDY connection",
                    )));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Poll::Ready(Err(ws_error(err))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tunnel<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let ws = &mut self.ws;
        ready!(Pin::new(&mut *ws).poll_ready(cx)).map_err(ws_error)?;
        Pin::new(&mut *ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(ws_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair() -> (
        WebSocketStream<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        (
            WebSocketStream::from_raw_socket(a, Role::Server, None).await,
            WebSocketStream::from_raw_socket(b, Role::Client, None).await,
        )
    }

    #[tokio::test]
    async fn channels_route_messages_and_honour_the_close_signal() {
        let (server, mut client) = pair().await;
        let mut channels = Channels::start(server, &[0], true);
        let mut stdin = channels.reader(0).unwrap();
        let mut stdout = channels.writer(1);
        client
            .send(Message::Binary(Bytes::from_static(b"\x00hello ")))
            .await
            .unwrap();
        client
            .send(Message::Binary(Bytes::from_static(b"\x07ignored")))
            .await
            .unwrap();
        client
            .send(Message::Binary(Bytes::from_static(b"\x00world")))
            .await
            .unwrap();
        client
            .send(Message::Binary(Bytes::from_static(&[255, 0])))
            .await
            .unwrap();
        let mut got = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stdin.read_to_string(&mut got),
        )
        .await
        .expect("stdin ends at the close signal")
        .unwrap();
        assert_eq!(got, "hello world");
        stdout.write_all(b"out").await.unwrap();
        let msg = client.next().await.unwrap().unwrap();
        assert_eq!(msg, Message::Binary(Bytes::from_static(b"\x01out")));
        channels.close().await;
        assert!(matches!(
            client.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
    }

    #[tokio::test]
    async fn a_tunnel_carries_bytes_both_ways_and_ends_at_close() {
        let (server, mut client) = pair().await;
        let mut tunnel = Tunnel::new(server);
        client
            .send(Message::Binary(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        client
            .send(Message::Binary(Bytes::from_static(b"def")))
            .await
            .unwrap();
        let mut buf = [0u8; 6];
        tunnel.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abcdef");
        tunnel.write_all(b"xyz").await.unwrap();
        tunnel.flush().await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Binary(Bytes::from_static(b"xyz"))
        );
        client.close(None).await.unwrap();
        let mut rest = Vec::new();
        tunnel.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
