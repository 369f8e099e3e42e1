//! `/containerLogs`'s options and their rendering of CRI log lines, as the kubelet's
//! `ReadLogs`: `tailLines` counts lines from the end of the file, `sinceTime` /
//! `sinceSeconds` drop older lines, `timestamps` prefixes each line with its RFC 3339
//! time, `limitBytes` cuts the output after that many bytes, and a `P` (partial) record
//! is written without its newline, so a long line comes out whole.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The query of a `/containerLogs` request (the kubelet's `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// Stream until the container stops (`follow`).
    pub follow: bool,
    /// The previous instance of the container (`previous`).
    pub previous: bool,
    /// Prefix each line with its time (`timestamps`).
    pub timestamps: bool,
    /// Only the last lines (`tailLines`).
    pub tail_lines: Option<u64>,
    /// Stop after this many bytes (`limitBytes`).
    pub limit_bytes: Option<u64>,
    /// Only lines at or after this time (`sinceTime`, or now − `sinceSeconds`).
    pub since: Option<Timestamp>,
}

/// Go's `strconv.ParseBool`, which the kubelet's query decoding uses.
fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{name}: invalid boolean value {v:?}")),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, String> {
    v.parse::<i64>()
        .map_err(|_| format!("{name}: invalid integer value {v:?}"))
}

impl LogOptions {
    /// Parses and validates a query string (as upstream's `ValidatePodLogOptions`),
    /// `sinceSeconds` counted back from `now`.
    pub fn parse(query: Option<&str>, now: Timestamp) -> Result<Self, String> {
        let mut o = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "follow" => o.follow = parse_bool("follow", &v)?,
                "previous" => o.previous = parse_bool("previous", &v)?,
                "timestamps" => o.timestamps = parse_bool("timestamps", &v)?,
                "tailLines" => {
                    let n = parse_int("tailLines", &v)?;
                    if n < 0 {
                        return Err(format!(
                            "tailLines: Invalid value: {n}: must be greater than or equal to 0"
                        ));
                    }
                    o.tail_lines = Some(n as u64);
                }
                "limitBytes" => {
                    let n = parse_int("limitBytes", &v)?;
                    if n < 1 {
                        return Err(format!(
                            "limitBytes: Invalid value: {n}: must be greater than 0"
                        ));
                    }
                    o.limit_bytes = Some(n as u64);
                }
                "sinceSeconds" => {
                    let n = parse_int("sinceSeconds", &v)?;
                    if n < 1 {
                        return Err(format!(
                            "sinceSeconds: Invalid value: {n}: must be greater than 0"
                        ));
                    }
                    since_seconds = Some(n);
                }
                "sinceTime" => {
                    since_time = Some(
                        v.parse::<Timestamp>()
                            .map_err(|e| format!("sinceTime: invalid time {v:?}: {e}"))?,
                    )
                }
                _ => {}
            }
        }
        o.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(
                    "at most one of `sinceTime` or `sinceSeconds` may be specified".to_string(),
                );
            }
            (Some(s), None) => now.checked_sub(SignedDuration::from_secs(s)).ok(),
            (None, t) => t,
        };
        Ok(o)
    }
}

/// One CRI log record: `<time> <stream> <F|P> <content>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The time as written.
    pub time: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// A piece of a longer line (`P`), written without a newline.
    pub partial: bool,
    /// The text.
    pub content: &'a [u8],
}

/// Parses one record (without its newline); `None` for a malformed line.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or(&[]);
    Some(Record {
        time,
        stream,
        partial: tag.first() == Some(&b'P'),
        content,
    })
}

/// The offset in `data` where its last `n` lines start.
pub fn tail_start(data: &[u8], n: u64) -> usize {
    if n == 0 {
        return data.len();
    }
    let mut end = data.len();
    // A last line without its newline still counts as a line.
    if data.last() == Some(&b'\n') {
        end -= 1;
    }
    let mut seen = 0;
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// Writes records as the client asked: since, timestamps, limit.
#[derive(Debug)]
pub struct Renderer {
    since: Option<Timestamp>,
    timestamps: bool,
    remaining: Option<u64>,
    line_start: bool,
}

impl Renderer {
    /// A renderer for `opts`.
    pub fn new(opts: &LogOptions) -> Self {
        Renderer {
            since: opts.since,
            timestamps: opts.timestamps,
            remaining: opts.limit_bytes,
            line_start: true,
        }
    }

    /// Whether `limitBytes` is used up (nothing more will be written).
    pub fn done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Appends the rendering of one record line (without its newline) to `out`.
    pub fn push(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if self.done() {
            return;
        }
        let Some(r) = parse_record(line) else {
            tracing::debug!("skipping a malformed log line");
            return;
        };
        if let Some(since) = self.since
            && r.time.parse::<Timestamp>().is_ok_and(|t| t < since)
        {
            return;
        }
        let mut piece = Vec::with_capacity(r.content.len() + 40);
        if self.timestamps && self.line_start {
            piece.extend_from_slice(r.time.as_bytes());
            piece.push(b' ');
        }
        piece.extend_from_slice(r.content);
        if !r.partial {
            piece.push(b'\n');
        }
        self.line_start = !r.partial;
        if let Some(rem) = self.remaining.as_mut() {
            let take = (*rem).min(piece.len() as u64) as usize;
            piece.truncate(take);
            *rem -= take as u64;
        }
        out.extend_from_slice(&piece);
    }

    /// Renders every complete line of `data` (records separated by newlines).
    pub fn push_all(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for line in data.split(|b| *b == b'\n') {
            if !line.is_empty() {
                self.push(line, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-01-01T00:00:01Z stdout F one\n\
                       2026-01-01T00:00:02Z stderr F two\n\
                       2026-01-01T00:00:03Z stdout P thr\n\
                       2026-01-01T00:00:03.5Z stdout F ee\n";

    fn render(opts: &LogOptions, data: &str) -> String {
        let mut out = Vec::new();
        Renderer::new(opts).push_all(data.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_since_timestamps_and_limits() {
        let all = LogOptions::default();
        assert_eq!(render(&all, LOG), "one\ntwo\nthree\n");
        let since = LogOptions {
            since: Some("2026-01-01T00:00:02Z".parse().unwrap()),
            ..LogOptions::default()
        };
        assert_eq!(render(&since, LOG), "two\nthree\n");
        let ts = LogOptions {
            timestamps: true,
            ..LogOptions::default()
        };
        assert_eq!(
            render(&ts, LOG),
            "2026-01-01T00:00:01Z one\n2026-01-01T00:00:02Z two\n2026-01-01T00:00:03Z three\n"
        );
        let limit = LogOptions {
            limit_bytes: Some(6),
            ..LogOptions::default()
        };
        assert_eq!(render(&limit, LOG), "one\ntw");
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        let data = LOG.as_bytes();
        assert_eq!(
            &LOG[tail_start(data, 1)..],
            "2026-01-01T00:00:03.5Z stdout F ee\n"
        );
        assert_eq!(tail_start(data, 4), 0);
        assert_eq!(tail_start(data, 10), 0);
        assert_eq!(tail_start(data, 0), data.len());
        assert_eq!(tail_start(b"a\nb", 1), 2);
    }

    #[test]
    fn options_are_validated_as_upstream() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let o = LogOptions::parse(
            Some("follow=true&tailLines=3&timestamps=1&sinceSeconds=60&limitBytes=10"),
            now,
        )
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.limit_bytes, Some(10));
        assert_eq!(o.since, Some("2026-01-01T00:00:00Z".parse().unwrap()));
        let err = |q: &str| LogOptions::parse(Some(q), now).unwrap_err();
        assert!(err("tailLines=-1").starts_with("tailLines: Invalid value: -1"));
        assert!(err("limitBytes=0").starts_with("limitBytes: Invalid value: 0"));
        assert!(err("sinceSeconds=0").starts_with("sinceSeconds: Invalid value: 0"));
        assert!(err("sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z").contains("at most one"));
        assert!(err("follow=yes").starts_with("follow:"));
    }
}
