//! What exec and attach sessions reach of a running container instance
//! ([`InstanceIo`]): the [`Launch`] it was started with (exec'd processes get its
//! environment and working directory), its output as it is read (published to
//! attached sessions), its stdin when the spec asks for one (`stdin: true`), its exit
//! code once it ended, and the process groups exec'd into it (killed when it ends).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::process::ChildStdin;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::{CancellationToken, PollSender, ReusableBoxFuture};
use tokio_util::task::TaskTracker;

use super::launch::Launch;
use super::supervise::{kill_group, kill_session};

/// How many output chunks (of up to 8 KiB) an attached session may fall behind before
/// it loses the oldest ones.
pub const OUTPUT_BACKLOG: usize = 256;
/// How many writes to a container's stdin may wait to be written.
const STDIN_BACKLOG: usize = 16;

/// What the container spec asks of a container's standard streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerStdio {
    /// `stdin`: the process gets a pipe as its stdin, kept open for attached sessions
    /// (else it reads `/dev/null`).
    pub stdin: bool,
    /// `stdinOnce`: the pipe is closed once the first attached session with stdin
    /// ended.
    pub stdin_once: bool,
    /// `tty`: the spec asks for a terminal. The process runtime does not give the
    /// container's own process one; attaching to such a container is refused.
    pub tty: bool,
}

impl ContainerStdio {
    /// The streams `container`'s spec asks for.
    pub fn of(container: &k8s_openapi::api::core::v1::Container) -> Self {
        ContainerStdio {
            stdin: container.stdin.unwrap_or(false),
            stdin_once: container.stdin_once.unwrap_or(false),
            tty: container.tty.unwrap_or(false),
        }
    }
}

/// The live ends of one running container instance.
#[derive(Debug)]
pub struct InstanceIo {
    /// What the instance was started with (environment and working directory for
    /// exec'd processes).
    pub launch: Launch,
    /// What its spec asks of its standard streams.
    pub stdio: ContainerStdio,
    /// Its stdin, when the spec has `stdin: true`.
    pub stdin: Option<StdinPipe>,
    /// Its stdout as read (weak: the channel closes once the copier is done).
    pub stdout: broadcast::WeakSender<Bytes>,
    /// Its stderr as read.
    pub stderr: broadcast::WeakSender<Bytes>,
    /// Its exit code, once it ended.
    pub exit: watch::Receiver<Option<i32>>,
    /// The process groups exec'd into it.
    pub execs: ExecGroups,
}

impl InstanceIo {
    /// The ends of an instance without a process (for tests of the state alone): no
    /// stdin, closed output, no exit yet.
    #[cfg(test)]
    pub fn detached() -> Self {
        let (out, _) = broadcast::channel(1);
        let (_, exit) = watch::channel(None);
        InstanceIo {
            launch: Launch {
                program: "true".into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: "/".into(),
            },
            stdio: ContainerStdio::default(),
            stdin: None,
            stdout: out.downgrade(),
            stderr: out.downgrade(),
            exit,
            execs: ExecGroups::new(),
        }
    }
}

/// The process groups of the processes exec'd into one container instance (and the
/// sessions of those on a terminal). Closed (and every group killed) when the instance
/// ends: nothing exec'd into a container outlives it.
#[derive(Debug)]
pub struct ExecGroups {
    /// Process group ID → whether it is also a session's ID; `None` once closed.
    groups: Mutex<Option<HashMap<u32, bool>>>,
}

impl Default for ExecGroups {
    fn default() -> Self {
        Self::new()
    }
}

impl ExecGroups {
    /// An open set.
    pub fn new() -> Self {
        ExecGroups {
            groups: Mutex::new(Some(HashMap::new())),
        }
    }

    /// Registers process group `pgid` (with `session`, also the session of that ID);
    /// false when the instance ended already (the caller kills it).
    pub fn add(&self, pgid: u32, session: bool) -> bool {
        match self.groups.lock().as_mut() {
            Some(g) => {
                g.insert(pgid, session);
                true
            }
            None => false,
        }
    }

    /// Forgets process group `pgid` (its process ended and what it left was killed).
    pub fn remove(&self, pgid: u32) {
        if let Some(g) = self.groups.lock().as_mut() {
            g.remove(&pgid);
        }
    }

    /// Kills every registered group (and session) and refuses new ones.
    pub fn kill_all(&self) {
        let groups = self.groups.lock().take();
        for (pgid, session) in groups.into_iter().flatten() {
            kill_group(pgid);
            if session {
                kill_session(pgid);
            }
        }
    }
}

impl Drop for ExecGroups {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The writing end of a container's stdin: writes go through a task owning the pipe,
/// so any number of attached sessions can share it.
#[derive(Debug, Clone)]
pub struct StdinPipe {
    tx: mpsc::Sender<Bytes>,
    close: CancellationToken,
}

impl StdinPipe {
    /// A pipe writing into `stdin` from a task in `tasks`. The pipe is closed (the
    /// process reads EOF) when [`close`](Self::close) is called, once every handle is
    /// dropped, or when a write fails (the process is gone).
    pub fn start(stdin: ChildStdin, tasks: &TaskTracker) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(STDIN_BACKLOG);
        let close = CancellationToken::new();
        let closed = close.clone();
        tasks.spawn(async move {
            let mut stdin = stdin;
            loop {
                tokio::select! {
                    biased;
                    chunk = rx.recv() => match chunk {
                        Some(b) => {
                            if stdin.write_all(&b).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = closed.cancelled() => {
                        // What was written before the close still goes in.
                        while let Ok(b) = rx.try_recv() {
                            if stdin.write_all(&b).await.is_err() {
                                break;
                            }
                        }
                        break;
                    }
                }
            }
            let _ = stdin.shutdown().await;
        });
        StdinPipe { tx, close }
    }

    /// Closes the pipe (after what was written so far): the process reads EOF.
    pub fn close(&self) {
        self.close.cancel();
    }

    /// A writer for one attached session; with `once` (`stdinOnce`) the pipe closes
    /// when that writer is shut down or dropped.
    pub fn writer(&self, once: bool) -> AttachStdin {
        AttachStdin {
            tx: PollSender::new(self.tx.clone()),
            close: once.then(|| self.close.clone()),
        }
    }
}

/// One attached session's writer into the container's stdin.
pub struct AttachStdin {
    tx: PollSender<Bytes>,
    /// `stdinOnce`: closes the container's stdin when this session's ends.
    close: Option<CancellationToken>,
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the container's stdin is closed")
}

impl AsyncWrite for AttachStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if ready!(self.tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(broken_pipe()));
        }
        match self.tx.send_item(Bytes::copy_from_slice(buf)) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(broken_pipe())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tx.close();
        if let Some(close) = self.close.take() {
            close.cancel();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for AttachStdin {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            close.cancel();
        }
    }
}

/// A writer whose shutdown closes (drops) the inner writer: for a pipe, the reader
/// sees EOF. Writes after the shutdown fail with `BrokenPipe`.
pub struct ClosingWriter<W>(Option<W>);

impl<W> ClosingWriter<W> {
    /// Wraps `w`.
    pub fn new(w: W) -> Self {
        ClosingWriter(Some(w))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for ClosingWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stdin was closed",
            ))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.as_mut() {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(w) = self.0.as_mut() {
            let flushed = ready!(Pin::new(w).poll_flush(cx));
            self.0 = None;
            flushed?;
        }
        Poll::Ready(Ok(()))
    }
}

type Next = (
    Result<Bytes, broadcast::error::RecvError>,
    broadcast::Receiver<Bytes>,
);

async fn next(mut rx: broadcast::Receiver<Bytes>) -> Next {
    let got = rx.recv().await;
    (got, rx)
}

/// A reader of a container's output from the moment it subscribed. It ends (EOF) once
/// the output is closed (the process ended and what it wrote was read). A reader that
/// falls more than [`OUTPUT_BACKLOG`] chunks behind loses the oldest of them: the
/// container is never slowed down by an attached client.
pub struct BroadcastReader {
    next: ReusableBoxFuture<'static, Next>,
    pending: Bytes,
    done: bool,
}

impl BroadcastReader {
    /// Reads what `rx` receives.
    pub fn new(rx: broadcast::Receiver<Bytes>) -> Self {
        BroadcastReader {
            next: ReusableBoxFuture::new(next(rx)),
            pending: Bytes::new(),
            done: false,
        }
    }

    /// A reader of the output `tx` publishes (an ended one when it is closed already).
    pub fn subscribe(tx: &broadcast::WeakSender<Bytes>) -> Self {
        match tx.upgrade() {
            Some(tx) => BroadcastReader::new(tx.subscribe()),
            None => {
                let (tx, rx) = broadcast::channel(1);
                drop(tx);
                BroadcastReader::new(rx)
            }
        }
    }
}

impl AsyncRead for BroadcastReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let chunk = self.pending.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            let (got, rx) = ready!(self.next.poll(cx));
            self.next.set(next(rx));
            match got {
                Ok(b) => self.pending = b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(chunks = n, "attached session fell behind: output dropped");
                }
                Err(broadcast::error::RecvError::Closed) => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn broadcast_readers_see_what_follows_and_end_with_the_sender() {
        let (tx, _) = broadcast::channel(8);
        let weak = tx.downgrade();
        tx.send(Bytes::from_static(b"before")).ok();
        let mut r = BroadcastReader::subscribe(&weak);
        tx.send(Bytes::from_static(b"one ")).unwrap();
        tx.send(Bytes::from_static(b"two")).unwrap();
        drop(tx);
        let mut got = String::new();
        r.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "one two");
        let mut late = BroadcastReader::subscribe(&weak);
        assert_eq!(late.read(&mut [0; 8]).await.unwrap(), 0);
    }

    #[test]
    fn exec_groups_refuse_new_members_once_killed() {
        let g = ExecGroups::default();
        g.remove(u32::MAX);
        assert!(g.groups.lock().is_some(), "open until killed");
        g.kill_all();
        assert!(
            !g.add(u32::MAX, true),
            "an exec after the instance ended is refused"
        );
    }
}
