//! Container logs, kept as the kubelet keeps them: one file per container instance,
//! `<pod dir>/logs/<container>/<restartCount>.log`, in the CRI log format
//! (`<RFC 3339 time> <stdout|stderr> <F|P> <line>`, `P` for a piece of a line longer
//! than 16 KiB), the current and the previous instance kept (what `kubectl logs` and
//! `kubectl logs --previous` read). Each file is bounded: past the size limit it is
//! rotated to `<n>.log.1` (replacing an older rotation) and started afresh.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{broadcast, watch};

/// The longest line written whole; longer ones are split into `P` pieces (containerd).
pub const MAX_LINE: usize = 16 * 1024;

/// The directory of `container`'s logs in the pod directory `pod_dir`.
pub fn log_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join("logs").join(container)
}

/// The log file of instance `restart_count` of a container whose logs are in `dir`.
pub fn log_path(dir: &Path, restart_count: i32) -> PathBuf {
    dir.join(format!("{restart_count}.log"))
}

/// The log of one container instance, shared by its stdout and stderr copiers.
#[derive(Debug)]
pub struct ContainerLog {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<(File, u64)>,
    written: watch::Sender<u64>,
}

fn instance_of(name: &str) -> Option<i32> {
    name.split('.').next()?.parse().ok()
}

impl ContainerLog {
    /// Creates the log of instance `restart_count` in `dir`, removing the files of
    /// instances older than the previous one.
    pub fn create(dir: &Path, restart_count: i32, max_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(instance_of)
                && n < restart_count - 1
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let path = log_path(dir, restart_count);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        Ok(ContainerLog {
            path,
            max_bytes: max_bytes.max(1024),
            file: Mutex::new((file, 0)),
            written: watch::Sender::new(0),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A receiver that changes after every line written (what `kubectl logs -f`
    /// followers wait on); it sees the sender gone once the log is closed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// Appends one CRI log line; write errors are logged, not returned (a full disk must
    /// not stop the container).
    pub fn write(&self, stream: &str, partial: bool, content: &[u8]) {
        let mut line = format!(
            "{} {stream} {} ",
            Timestamp::now(),
            if partial { "P" } else { "F" }
        )
        .into_bytes();
        line.extend_from_slice(content);
        line.push(b'\n');
        let mut guard = self.file.lock();
        if guard.1 + line.len() as u64 > self.max_bytes && guard.1 > 0 {
            match self.rotate() {
                Ok(fresh) => *guard = (fresh, 0),
                Err(err) => {
                    tracing::warn!(path = %self.path.display(), %err, "rotating container log")
                }
            }
        }
        match guard.0.write_all(&line) {
            Ok(()) => {
                guard.1 += line.len() as u64;
                self.written.send_modify(|n| *n = n.wrapping_add(1));
            }
            Err(err) => tracing::warn!(path = %self.path.display(), %err, "writing container log"),
        }
    }

    fn rotate(&self) -> io::Result<File> {
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        std::fs::rename(&self.path, rotated)?;
        File::create(&self.path)
    }
}

/// Copies `reader` into `log` line by line as `stream`, until its end; every chunk read
/// is also sent to `tap` as it is (when it has receivers: attached sessions).
pub async fn copy_lines<R: AsyncRead + Unpin>(
    mut reader: R,
    stream: &'static str,
    log: Arc<ContainerLog>,
    tap: Option<broadcast::Sender<Bytes>>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(tap) = tap.as_ref().filter(|t| t.receiver_count() > 0) {
            let _ = tap.send(Bytes::copy_from_slice(&chunk[..n]));
        }
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            let line = &pending[start..end];
            for (i, piece) in line.chunks(MAX_LINE).enumerate() {
                let last = (i + 1) * MAX_LINE >= line.len();
                log.write(stream, !last, piece);
            }
            if line.is_empty() {
                log.write(stream, false, b"");
            }
            start = end + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE {
            log.write(stream, true, &pending[..MAX_LINE]);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        log.write(stream, false, &pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<(String, String, String)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let mut parts = l.splitn(4, ' ');
                let ts = parts.next().unwrap();
                assert!(ts.parse::<Timestamp>().is_ok(), "timestamp {ts:?}");
                (
                    parts.next().unwrap().to_string(),
                    parts.next().unwrap().to_string(),
                    parts.next().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn lines_are_written_in_cri_format() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(ContainerLog::create(dir.path(), 0, 1 << 20).unwrap());
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("hello\n\nworld\n{long}\nno newline");
        copy_lines(input.as_bytes(), "stdout", log.clone(), None).await;
        let got = lines(log.path());
        let want = [
            ("stdout", "F", "hello".to_string()),
            ("stdout", "F", String::new()),
            ("stdout", "F", "world".to_string()),
            ("stdout", "P", "x".repeat(MAX_LINE)),
            ("stdout", "F", "x".repeat(10)),
            ("stdout", "F", "no newline".to_string()),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn files_are_bounded_and_old_instances_removed() {
        let dir = tempfile::tempdir().unwrap();
        let log = ContainerLog::create(dir.path(), 0, 2048).unwrap();
        for i in 0..200 {
            log.write("stderr", false, format!("line {i}").as_bytes());
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(log.path()) <= 2048, "current file bounded");
        let rotated = dir.path().join("0.log.1");
        assert!(
            size(&rotated) > 0 && size(&rotated) <= 2048,
            "one rotation kept"
        );
        let last = lines(log.path()).pop().unwrap();
        assert_eq!(last, ("stderr".into(), "F".into(), "line 199".into()));

        ContainerLog::create(dir.path(), 1, 2048).unwrap();
        ContainerLog::create(dir.path(), 2, 2048).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["1.log", "2.log"],
            "current and previous instance kept"
        );
    }
}
