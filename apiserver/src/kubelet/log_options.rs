//! `pods/log`'s query (`PodLogOptions`): decoded, validated as upstream's
//! `ValidatePodLogOptions` (a 422 naming the field), and re-encoded for the kubelet as
//! `LogLocation`'s `streamParams` does.

use jiff::Timestamp;
use serde_json::json;

use crate::field_error::FieldError;
use crate::status::ApiError;
use crate::validation::invalid_error;

/// The options of one `pods/log` request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodLogOptions {
    /// `container`.
    pub container: Option<String>,
    /// `follow`.
    pub follow: bool,
    /// `previous`.
    pub previous: bool,
    /// `timestamps`.
    pub timestamps: bool,
    /// `sinceSeconds`.
    pub since_seconds: Option<i64>,
    /// `sinceTime` (RFC 3339).
    pub since_time: Option<Timestamp>,
    /// `tailLines`.
    pub tail_lines: Option<i64>,
    /// `limitBytes`.
    pub limit_bytes: Option<i64>,
}

fn bad(name: &str, value: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("{name}: invalid {what} {value:?}"))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        // An empty value means true for a flag given without one (`?follow`).
        "" | "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(bad(name, v, "boolean")),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, ApiError> {
    v.parse().map_err(|_| bad(name, v, "integer"))
}

impl PodLogOptions {
    /// Decodes the query of a `pods/{name}/log` request and validates it; `name` is the
    /// pod's (for the 422's message).
    pub fn parse(query: Option<&str>, name: &str) -> Result<Self, ApiError> {
        let mut o = PodLogOptions::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "container" => o.container = Some(v.to_string()).filter(|c| !c.is_empty()),
                "follow" => o.follow = parse_bool("follow", &v)?,
                "previous" => o.previous = parse_bool("previous", &v)?,
                "timestamps" => o.timestamps = parse_bool("timestamps", &v)?,
                "sinceSeconds" => o.since_seconds = Some(parse_int("sinceSeconds", &v)?),
                "tailLines" => o.tail_lines = Some(parse_int("tailLines", &v)?),
                "limitBytes" => o.limit_bytes = Some(parse_int("limitBytes", &v)?),
                "sinceTime" => {
                    o.since_time = Some(v.parse().map_err(|_| bad("sinceTime", &v, "time"))?)
                }
                _ => {}
            }
        }
        let errors = o.validate();
        if !errors.is_empty() {
            return Err(invalid_error("PodLogOptions", "", name, &errors));
        }
        Ok(o)
    }

    /// Upstream's `ValidatePodLogOptions`.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(n) = self.tail_lines.filter(|n| *n < 0) {
            errs.push(FieldError::invalid(
                "tailLines",
                json!(n),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = self.limit_bytes.filter(|n| *n < 1) {
            errs.push(FieldError::invalid(
                "limitBytes",
                json!(n),
                "must be greater than 0",
            ));
        }
        match (self.since_seconds, self.since_time) {
            (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(n), None) if n < 1 => errs.push(FieldError::invalid(
                "sinceSeconds",
                json!(n),
                "must be greater than 0",
            )),
            _ => {}
        }
        errs
    }

    /// The kubelet's query for these options (`LogLocation`'s parameters).
    pub fn kubelet_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            q.append_pair("follow", "true");
        }
        if self.previous {
            q.append_pair("previous", "true");
        }
        if self.timestamps {
            q.append_pair("timestamps", "true");
        }
        if let Some(n) = self.since_seconds {
            q.append_pair("sinceSeconds", &n.to_string());
        }
        if let Some(t) = self.since_time {
            // RFC 3339 in whole seconds, as Go's `time.RFC3339` format.
            let secs = Timestamp::from_second(t.as_second()).unwrap_or(t);
            q.append_pair("sinceTime", &secs.to_string());
        }
        if let Some(n) = self.tail_lines {
            q.append_pair("tailLines", &n.to_string());
        }
        if let Some(n) = self.limit_bytes {
            q.append_pair("limitBytes", &n.to_string());
        }
        q.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validated_as_upstream() {
        let e = PodLogOptions::parse(Some("tailLines=-1"), "web").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(e.details.unwrap()["causes"][0]["field"], "tailLines");
        let e = PodLogOptions::parse(Some("limitBytes=0"), "web").unwrap_err();
        assert!(
            e.message
                .contains("limitBytes: Invalid value: 0: must be greater than 0")
        );
        let e = PodLogOptions::parse(Some("sinceSeconds=0"), "web").unwrap_err();
        assert!(e.message.contains("sinceSeconds: Invalid value: 0"));
        let e = PodLogOptions::parse(Some("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"), "web")
            .unwrap_err();
        assert!(e.message.contains("at most one of"), "{}", e.message);
        assert_eq!(
            PodLogOptions::parse(Some("tailLines=x"), "web")
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn kubelet_query_carries_the_options() {
        let o = PodLogOptions::parse(
            Some("container=app&follow=true&tailLines=3&timestamps=true&sinceTime=2026-01-01T00:00:00.5Z&limitBytes=9&previous=false"),
            "web",
        )
        .unwrap();
        assert_eq!(o.container.as_deref(), Some("app"));
        assert_eq!(
            o.kubelet_query(),
            "follow=true&timestamps=true&sinceTime=2026-01-01T00%3A00%3A00Z&tailLines=3&limitBytes=9"
        );
    }
}
