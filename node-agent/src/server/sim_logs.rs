//! The `sim` runtime's container logs: nothing runs, so each instance's log is its
//! lifecycle, written at the times of the pod's status:
//!
//! ```text
//! <startedAt> stdout F [capstan sim] Started container app (image nginx)
//! <startedAt> stdout F [capstan sim] Restarted container app (restart 2, image nginx)
//! <finishedAt> stdout F [capstan sim] Container app exited with code 1 (Error)
//! ```
//!
//! The first line for the first instance, the second for every restart, the third once
//! the instance exited. `kubectl logs` shows the running (or last exited) instance,
//! `--previous` the one before, as for real containers.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The prefix of every line the sim runtime writes.
pub const PREFIX: &str = "[capstan sim]";

/// The lines of instance `container_id` of the container of `status`, and whether that
/// instance still runs; `None` when the status no longer names it.
pub fn instance_lines(
    pod: &Pod,
    status: &ContainerStatus,
    container_id: &str,
) -> Option<(Vec<String>, bool)> {
    let state = status.state.clone().unwrap_or_default();
    let last = status
        .last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref());
    let current = status.container_id.as_deref() == Some(container_id);
    let (number, started, ended): (i32, Option<&Time>, Option<&ContainerStateTerminated>) =
        if current && let Some(r) = &state.running {
            (status.restart_count, r.started_at.as_ref(), None)
        } else if current && let Some(t) = &state.terminated {
            (status.restart_count, t.started_at.as_ref(), Some(t))
        } else if let Some(t) = last.filter(|t| t.container_id.as_deref() == Some(container_id)) {
            // In back-off the exited instance still counts as the latest one.
            let number = if state.waiting.is_some() {
                status.restart_count
            } else {
                status.restart_count - 1
            };
            (number.max(0), t.started_at.as_ref(), Some(t))
        } else {
            return None;
        };
    let image = pod
        .spec
        .as_ref()
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| c.name == status.name)
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let name = &status.name;
    let mut lines = Vec::new();
    if let Some(Time(at)) = started {
        let what = if number == 0 {
            format!("Started container {name} (image {image})")
        } else {
            format!("Restarted container {name} (restart {number}, image {image})")
        };
        lines.push(format!("{at} stdout F {PREFIX} {what}"));
    }
    if let Some(t) = ended {
        let at = t
            .finished_at
            .as_ref()
            .or(started)
            .map(|Time(at)| at.to_string())
            .unwrap_or_default();
        let reason = t.reason.as_deref().unwrap_or("Completed");
        lines.push(format!(
            "{at} stdout F {PREFIX} Container {name} exited with code {} ({reason})",
            t.exit_code
        ));
    }
    Some((lines, ended.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateWaiting, PodSpec,
    };

    fn t(s: &str) -> Option<Time> {
        Some(Time(s.parse().unwrap()))
    }

    #[test]
    fn lines_follow_starts_restarts_and_exits() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("nginx".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let exited = ContainerStateTerminated {
            exit_code: 1,
            reason: Some("Error".into()),
            started_at: t("2026-01-01T00:00:00Z"),
            finished_at: t("2026-01-01T00:00:10Z"),
            container_id: Some("sim://1".into()),
            ..Default::default()
        };
        let status = ContainerStatus {
            name: "app".into(),
            container_id: Some("sim://2".into()),
            restart_count: 1,
            state: Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: t("2026-01-01T00:00:11Z"),
                }),
                ..Default::default()
            }),
            last_state: Some(ContainerState {
                terminated: Some(exited.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (now, running) = instance_lines(&pod, &status, "sim://2").unwrap();
        assert!(running);
        assert_eq!(
            now,
            [
                "2026-01-01T00:00:11Z stdout F [capstan sim] Restarted container app (restart 1, image nginx)"
            ]
        );
        let (before, running) = instance_lines(&pod, &status, "sim://1").unwrap();
        assert!(!running);
        assert_eq!(
            before,
            [
                "2026-01-01T00:00:00Z stdout F [capstan sim] Started container app (image nginx)",
                "2026-01-01T00:00:10Z stdout F [capstan sim] Container app exited with code 1 (Error)",
            ]
        );
        assert!(instance_lines(&pod, &status, "sim://0").is_none());
        let backoff = ContainerStatus {
            restart_count: 0,
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("CrashLoopBackOff".into()),
                    message: None,
                }),
                ..Default::default()
            }),
            ..status
        };
        let (lines, _) = instance_lines(&pod, &backoff, "sim://1").unwrap();
        assert!(lines[0].ends_with("Started container app (image nginx)"));
    }
}
