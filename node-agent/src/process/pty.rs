//! Pseudo-terminals for `tty` exec sessions: the child gets the slave as its
//! controlling terminal and its stdin, stdout and stderr (it is made a session leader
//! before it runs), the agent keeps the master as a non-blocking, tokio-driven fd that
//! reads the terminal's output and writes its input, and applies the client's resizes
//! to it (`TIOCSWINSZ`, which also sends the child's foreground group `SIGWINCH`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The character a terminal in canonical mode reads as end of input (`VEOF`, `^D`).
pub const EOF_CHAR: u8 = 0x04;

/// A terminal's master side, shared by its reader, its writer and its resizer.
pub type Master = Arc<AsyncFd<OwnedFd>>;

/// A freshly opened pseudo-terminal.
#[derive(Debug)]
pub struct Pty {
    /// The master (non-blocking, registered with the tokio reactor).
    pub master: Master,
    /// The slave, for the child (drop the parent's copies once it is spawned, or the
    /// master never reads EOF).
    pub slave: OwnedFd,
}

/// Opens a pseudo-terminal. Call inside a tokio runtime.
pub fn open() -> io::Result<Pty> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::io::ioctl_fionbio(&master, true)?;
    // SAFETY: `master` is an owned, valid descriptor that nothing replaces or closes
    // while the `AsyncFd` owns it.
    let master = unsafe { AsyncFd::register(master)? };
    Ok(Pty {
        master: Arc::new(master),
        slave,
    })
}

impl Pty {
    /// Sets up `cmd` to run on this terminal: the slave as its stdin, stdout and
    /// stderr and, after the fork, a new session whose controlling terminal it is (so
    /// the child is also its own process group's leader: do not ask `cmd` for a
    /// process group as well).
    pub fn attach(&self, cmd: &mut tokio::process::Command) -> io::Result<()> {
        cmd.stdin(Stdio::from(self.slave.try_clone()?))
            .stdout(Stdio::from(self.slave.try_clone()?))
            .stderr(Stdio::from(self.slave.try_clone()?));
        // SAFETY: the closure runs in the forked child before `exec` and only makes two
        // system calls (async-signal-safe); fd 0 is the slave by then.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(0))?;
                Ok(())
            });
        }
        Ok(())
    }
}

/// Applies a terminal size (`rows` × `cols`) to the terminal of `master`.
pub fn resize(master: &Master, rows: u16, cols: u16) -> io::Result<()> {
    rustix::termios::tcsetwinsize(
        master.get_ref().as_fd(),
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )?;
    Ok(())
}

/// Reads a terminal's output from its master. Once no process holds the slave open
/// any more Linux answers `EIO`: that reads as the end of the output.
#[derive(Debug)]
pub struct PtyReader(pub Master);

impl AsyncRead for PtyReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| match rustix::io::read(fd.get_ref(), &mut *unfilled) {
                Ok(n) => Ok(n),
                // The slave side is closed: the end of the output.
                Err(rustix::io::Errno::IO) => Ok(0),
                Err(e) => Err(e.into()),
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Writes a terminal's input to its master. Shutting it down types the terminal's
/// end-of-input character ([`EOF_CHAR`]): a program reading the terminal in canonical
/// mode (a shell, `cat`) then reads EOF, as when a user presses `^D` (a terminal has
/// no other way to say "end of input"; the terminal stays open).
#[derive(Debug)]
pub struct PtyWriter {
    master: Master,
    eof_sent: bool,
}

impl PtyWriter {
    /// A writer to `master`.
    pub fn new(master: Master) -> Self {
        PtyWriter {
            master,
            eof_sent: false,
        }
    }

    fn poll_write_bytes(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.master.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_write_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.eof_sent {
            ready!(self.poll_write_bytes(cx, &[EOF_CHAR]))?;
            self.eof_sent = true;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_child_on_the_terminal_sees_it_and_its_size() {
        let pty = open().unwrap();
        resize(&pty.master, 12, 34).unwrap();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "tty; stty size; read l; echo got:$l"]);
        pty.attach(&mut cmd).unwrap();
        let mut child = cmd.spawn().unwrap();
        let Pty { master, slave } = pty;
        drop((cmd, slave));
        let mut w = PtyWriter::new(master.clone());
        w.write_all(b"hi\n").await.unwrap();
        let mut out = String::new();
        let mut reader = PtyReader(master);
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            reader.read_to_string(&mut out),
        );
        read.await
            .expect("the output ends")
            .expect("EIO reads as EOF");
        assert!(child.wait().await.unwrap().success());
        assert!(out.contains("/dev/pts/"), "{out:?}");
        assert!(out.contains("12 34"), "{out:?}");
        assert!(out.contains("got:hi"), "{out:?}");
    }
}
