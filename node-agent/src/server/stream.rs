//! Streaming a container's log into a response body: the whole log (or its tail) at
//! once, then with `follow` what is written next, until the instance stops, as the
//! kubelet's `ReadLogs` does: at the end of the file it waits for a write (the
//! runtime's notification, or at the latest one second, the kubelet's
//! `logForceCheckPeriod`), follows a rotation to the fresh file, and ends once the
//! container no longer runs and everything it wrote was sent.

use std::convert::Infallible;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Frame;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::logs::{LogOptions, Renderer, tail_start};

/// The response body type of the kubelet API.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// How long a follower waits for a write before looking again (the kubelet's
/// `logForceCheckPeriod`).
pub const FORCE_CHECK: Duration = Duration::from_secs(1);
/// How often a sim follower looks at the pod's status.
pub const SIM_POLL: Duration = Duration::from_millis(250);

/// A body fed by `rx`.
pub fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    use http_body_util::BodyExt;
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    StreamBody::new(s).boxed_unsync()
}

/// What a follower asks of the instance it follows.
pub struct Live {
    /// Whether the instance still runs.
    pub running: Box<dyn Fn() -> bool + Send + Sync>,
    /// Changes when a line was written (the runtime's notification), if available.
    pub written: Option<watch::Receiver<u64>>,
}

async fn send(tx: &mpsc::Sender<Bytes>, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    tx.send(Bytes::from(std::mem::take(out))).await.is_ok()
}

/// Renders the complete lines of `pending` (keeping an unfinished last line there).
fn render_complete(r: &mut Renderer, pending: &mut Vec<u8>, out: &mut Vec<u8>) {
    if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
        r.push_all(&pending[..end], out);
        pending.drain(..=end);
    }
}

fn rotated(file: &std::fs::Metadata, path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|now| now.ino() != file.ino() || now.dev() != file.dev())
}

/// Streams the log file at `path` into `tx` per `opts`; with `follow` and `live`, keeps
/// going while the instance runs.
pub async fn stream_file(
    path: PathBuf,
    opts: LogOptions,
    live: Option<Live>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut r = Renderer::new(&opts);
    let mut out = Vec::new();
    let Ok(mut file) = tokio::fs::File::open(&path).await else {
        // Nothing written (yet): an empty log.
        return;
    };
    let mut pending = Vec::new();
    if file.read_to_end(&mut pending).await.is_err() {
        return;
    }
    if let Some(n) = opts.tail_lines {
        let start = tail_start(&pending, n);
        pending.drain(..start);
    }
    render_complete(&mut r, &mut pending, &mut out);
    if !send(&tx, &mut out).await {
        return;
    }
    let Some(mut live) = live.filter(|_| opts.follow) else {
        r.push_all(&pending, &mut out);
        send(&tx, &mut out).await;
        return;
    };
    loop {
        if r.done() {
            return;
        }
        let before = pending.len();
        if file.read_to_end(&mut pending).await.is_err() {
            return;
        }
        if pending.len() > before {
            render_complete(&mut r, &mut pending, &mut out);
            if !send(&tx, &mut out).await {
                return;
            }
            continue;
        }
        if let Ok(meta) = file.metadata().await
            && rotated(&meta, &path)
            && let Ok(fresh) = tokio::fs::File::open(&path).await
        {
            file = fresh;
            continue;
        }
        if !(live.running)() {
            // It stopped: what it wrote before is all there is.
            let _ = file.read_to_end(&mut pending).await;
            r.push_all(&pending, &mut out);
            send(&tx, &mut out).await;
            return;
        }
        match live.written.as_mut() {
            Some(rx) => {
                if let Ok(Err(_)) = tokio::time::timeout(FORCE_CHECK, rx.changed()).await {
                    // The log is closed: the instance is ending.
                    live.written = None;
                }
            }
            None => tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            },
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// Streams lines computed by `lines` (the CRI lines of one instance so far, and whether
/// it still runs; `None` once it is gone) per `opts`, looking again every
/// [`SIM_POLL`] while following.
pub async fn stream_lines<F>(lines: F, opts: LogOptions, tx: mpsc::Sender<Bytes>)
where
    F: Fn() -> Option<(Vec<String>, bool)> + Send,
{
    let mut r = Renderer::new(&opts);
    let mut out = Vec::new();
    let Some((first, mut running)) = lines() else {
        return;
    };
    let skip = opts
        .tail_lines
        .map_or(0, |n| first.len().saturating_sub(n as usize));
    for l in &first[skip..] {
        r.push(l.as_bytes(), &mut out);
    }
    let mut sent = first.len();
    if !send(&tx, &mut out).await {
        return;
    }
    while opts.follow && running && !r.done() {
        tokio::select! {
            _ = tokio::time::sleep(SIM_POLL) => {}
            _ = tx.closed() => return,
        }
        let Some((now, still)) = lines() else {
            return;
        };
        running = still;
        for l in now.iter().skip(sent) {
            r.push(l.as_bytes(), &mut out);
        }
        sent = sent.max(now.len());
        if !send(&tx, &mut out).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn collect(mut rx: mpsc::Receiver<Bytes>) -> String {
        let mut s = Vec::new();
        while let Some(b) = rx.recv().await {
            s.extend_from_slice(&b);
        }
        String::from_utf8(s).unwrap()
    }

    #[tokio::test]
    async fn follows_writes_and_rotation_until_the_instance_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2026-01-01T00:00:00Z stdout F a\n").unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let (wtx, wrx) = watch::channel(0u64);
        let live = Live {
            running: Box::new({
                let running = running.clone();
                move || running.load(Ordering::SeqCst)
            }),
            written: Some(wrx),
        };
        let (tx, mut rx) = mpsc::channel(16);
        let opts = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let task = tokio::spawn(stream_file(path.clone(), opts, Some(live), tx));
        assert_eq!(rx.recv().await.unwrap(), "a\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"2026-01-01T00:00:01Z stdout F b\n").unwrap();
        wtx.send_modify(|n| *n += 1);
        assert_eq!(rx.recv().await.unwrap(), "b\n");
        // Rotation: the file is renamed and a fresh one started.
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        std::fs::write(&path, "2026-01-01T00:00:02Z stdout F c\n").unwrap();
        wtx.send_modify(|n| *n += 1);
        assert_eq!(rx.recv().await.unwrap(), "c\n");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2026-01-01T00:00:03Z stdout F d\n")
            .unwrap();
        running.store(false, Ordering::SeqCst);
        drop(wtx);
        assert_eq!(collect(rx).await, "d\n");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn without_follow_reads_the_tail_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(
            &path,
            "2026-01-01T00:00:00Z stdout F a\n2026-01-01T00:00:01Z stdout F b\n",
        )
        .unwrap();
        let (tx, rx) = mpsc::channel(16);
        let opts = LogOptions {
            tail_lines: Some(1),
            ..LogOptions::default()
        };
        stream_file(path, opts, None, tx).await;
        assert_eq!(collect(rx).await, "b\n");
    }
}
