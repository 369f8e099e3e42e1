//! `exec` and `attach` once the connection is switched, as the kubelet's
//! `remotecommand` server runs them: the client's streams are gathered (SPDY streams
//! named by their `streamType` header, or WebSocket channels), the container's
//! session is wired to them, and the end is reported on the error stream as a
//! `Status` (`v4`/`v5`: `Success`, or `NonZeroExitCode` with the code as the
//! `ExitCode` cause, which kubectl turns into its own exit code).

use std::time::Duration;

use bytes::BytesMut;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::process::exec::{Session, StreamOptions, TerminalSize};

/// How long the client has to open the streams it announced (the kubelet's
/// `streamCreationTimeout` default).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long output may still drain after the command ended (a background child
/// holding the pipes open must not hold the session forever).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// An inbound stream from the client.
pub type Inbound = Box<dyn AsyncRead + Send + Unpin>;
/// An outbound stream to the client.
pub type Outbound = Box<dyn AsyncWrite + Send + Unpin>;

/// What an exec or attach request asks for (the kubelet's query: `input`, `output`,
/// `error`, `tty` as `1`, and each `command` argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRequest {
    /// Which streams, and a terminal.
    pub opts: StreamOptions,
    /// The command (exec only).
    pub command: Vec<String>,
}

impl CommandRequest {
    /// Parses the kubelet's query, with its checks: one of the three streams at least;
    /// with a terminal, stderr is merged into stdout (the kubelet drops `error`).
    pub fn parse(query: Option<&str>) -> Result<Self, String> {
        let (mut stdin, mut stdout, mut stderr, mut tty) = (false, false, false, false);
        let mut command = Vec::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let on = v == "1";
            match k.as_ref() {
                "input" => stdin = on,
                "output" => stdout = on,
                "error" => stderr = on,
                "tty" => tty = on,
                "command" => command.push(v.into_owned()),
                _ => {}
            }
        }
        let opts = StreamOptions {
            stdin,
            stdout,
            stderr,
            tty,
        }
        .normalized()
        .map_err(|e| e.to_string())?;
        Ok(CommandRequest { opts, command })
    }

    /// The SPDY streams the client opens for this request: error, and stdin, stdout,
    /// stderr and resize as asked (upstream's `v4` expectations).
    pub fn expected_streams(&self) -> usize {
        1 + usize::from(self.opts.stdin)
            + usize::from(self.opts.stdout)
            + usize::from(self.opts.stderr)
            + usize::from(self.opts.tty)
    }
}

/// The client's ends of a session, whatever carries them.
pub struct ClientStreams {
    /// What the client types.
    pub stdin: Option<Inbound>,
    /// The command's output.
    pub stdout: Option<Outbound>,
    /// The command's error output.
    pub stderr: Option<Outbound>,
    /// Terminal sizes, as a stream of JSON objects.
    pub resize: Option<Inbound>,
    /// Where the final `Status` goes.
    pub error: Outbound,
}

/// How a session ended, as the error stream reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0 (or an attach that ended).
    Success,
    /// A non-zero exit code.
    Exit(i32),
    /// The command could not be run.
    Failed(String),
}

impl Outcome {
    /// The `Status` written on the error stream (upstream's `v4WriteStatusFunc`).
    pub fn status(&self, command: &[String]) -> serde_json::Value {
        match self {
            Outcome::Success => json!({"metadata": {}, "status": "Success"}),
            Outcome::Exit(code) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!(
                    "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                    command.join(" ")
                ),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            Outcome::Failed(message) => {
                let message = format!("error executing command in container: {message}");
                json!({
                    "metadata": {},
                    "status": "Failure",
                    "message": format!("Internal error occurred: {message}"),
                    "reason": "InternalError",
                    "details": {"causes": [{"message": message}]},
                    "code": 500,
                })
            }
        }
    }
}

/// Reads `{"Width":…,"Height":…}` objects from `resize` and hands them to `to`.
async fn forward_resizes(mut resize: Inbound, to: tokio::sync::mpsc::Sender<TerminalSize>) {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        match resize.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut objects = serde_json::Deserializer::from_slice(&buf).into_iter::<TerminalSize>();
        let mut consumed = 0;
        loop {
            match objects.next() {
                Some(Ok(size)) => {
                    consumed = objects.byte_offset();
                    if to.send(size).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(err)) => {
                    tracing::debug!(%err, "unreadable resize message");
                    return;
                }
                None => break,
            }
        }
        let _ = buf.split_to(consumed);
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, mut to: Outbound) {
    if let Err(err) = tokio::io::copy(&mut from, &mut to).await {
        tracing::debug!(%err, "session output ended");
    }
    let _ = to.shutdown().await;
}

/// Runs `session` against the client's `streams` until it ends (exec: the command
/// exits; attach: the container's process ends) or `gone` resolves (the client went
/// away, which drops the session and so stops an exec'd command), then writes the
/// outcome on the error stream. Returns the outcome.
pub async fn run(
    streams: ClientStreams,
    session: Session,
    command: &[String],
    gone: impl std::future::Future<Output = ()>,
) -> Option<Outcome> {
    let Session {
        stdin,
        stdout,
        stderr,
        resize,
        done,
    } = session;
    let ClientStreams {
        stdin: client_stdin,
        stdout: client_stdout,
        stderr: client_stderr,
        resize: client_resize,
        mut error,
    } = streams;
    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(mut from), Some(mut to)) = (client_stdin, stdin) {
        tasks.spawn(async move {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        });
    }
    if let (Some(from), Some(to)) = (client_resize, resize) {
        tasks.spawn(forward_resizes(from, to));
    }
    let mut output = tokio::task::JoinSet::new();
    if let (Some(from), Some(to)) = (stdout, client_stdout) {
        output.spawn(pump(from, to));
    }
    if let (Some(from), Some(to)) = (stderr, client_stderr) {
        output.spawn(pump(from, to));
    }
    let outcome = tokio::select! {
        r = done => match r {
            Ok(0) => Outcome::Success,
            Ok(code) => Outcome::Exit(code),
            Err(message) => Outcome::Failed(message),
        },
        _ = gone => {
            tasks.abort_all();
            output.abort_all();
            return None;
        }
    };
    let drained = tokio::time::timeout(OUTPUT_DRAIN, async {
        while output.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!("session output still open after the command ended");
        output.abort_all();
    }
    tasks.abort_all();
    let status = outcome.status(command);
    let _ = error
        .write_all(
            serde_json::to_string(&status)
                .unwrap_or_default()
                .as_bytes(),
        )
        .await;
    let _ = error.shutdown().await;
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_as_the_kubelet_reads_them() {
        let r = CommandRequest::parse(Some(
            "command=sh&command=-c&command=exit+3&input=1&output=1&error=1&tty=1",
        ))
        .unwrap();
        assert_eq!(r.command, ["sh", "-c", "exit 3"]);
        assert!(r.opts.stdin && r.opts.stdout && r.opts.tty);
        assert!(!r.opts.stderr, "a terminal merges stderr into stdout");
        assert_eq!(r.expected_streams(), 4);
        assert_eq!(
            CommandRequest::parse(Some("command=ls")).unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
    }

    #[test]
    fn statuses_are_upstreams() {
        let cmd = ["sh".to_string(), "-c".into(), "exit 3".into()];
        assert_eq!(
            Outcome::Exit(3).status(&cmd),
            json!({"metadata": {}, "status": "Failure",
                   "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
                   "reason": "NonZeroExitCode",
                   "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}})
        );
        assert_eq!(
            Outcome::Success.status(&cmd),
            json!({"metadata": {}, "status": "Success"})
        );
    }

    #[tokio::test]
    async fn resize_objects_split_across_reads_are_all_delivered() {
        let (mut w, r) = tokio::io::duplex(64);
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let task = tokio::spawn(forward_resizes(Box::new(r), tx));
        w.write_all(br#"{"Width":80,"Hei"#).await.unwrap();
        w.write_all(br#"ght":24}{"Width":100,"Height":30}"#)
            .await
            .unwrap();
        drop(w);
        assert_eq!(rx.recv().await.map(|s| (s.width, s.height)), Some((80, 24)));
        assert_eq!(
            rx.recv().await.map(|s| (s.width, s.height)),
            Some((100, 30))
        );
        task.await.unwrap();
    }
}
