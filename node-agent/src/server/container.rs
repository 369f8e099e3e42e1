//! Which container instance a log request reads: the kubelet's
//! `validateContainerLogStatus`, over the container statuses the runtime reports. The
//! answer is a `containerID` (the running or last terminated instance, or with
//! `previous` the one before), or the kubelet's message why there is no log yet.

use k8s_openapi::api::core::v1::{ContainerStatus, PodStatus};

/// The status of container `name` among the app, init and ephemeral containers.
pub fn find_status<'a>(status: &'a PodStatus, name: &str) -> Option<&'a ContainerStatus> {
    [
        status.container_statuses.as_ref(),
        status.init_container_statuses.as_ref(),
        status.ephemeral_container_statuses.as_ref(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == name)
}

/// The `containerID` whose log `kubectl logs [--previous]` of container `container`
/// of pod `pod_name` shows, or the kubelet's error message.
pub fn log_container_id(
    pod_name: &str,
    status: &PodStatus,
    container: &str,
    previous: bool,
) -> Result<String, String> {
    let Some(s) = find_status(status, container) else {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is not available"
        ));
    };
    let state = s.state.clone().unwrap_or_default();
    let last = s.last_state.as_ref().and_then(|l| l.terminated.as_ref());
    let terminated_err = || format!("container {container:?} in pod {pod_name:?} is terminated");
    let id = |v: Option<&String>| v.filter(|id| !id.is_empty()).cloned();
    if previous {
        return match last {
            Some(t) => Ok(id(t.container_id.as_ref()).unwrap_or_default()),
            None => Err(format!(
                "previous terminated container {container:?} in pod {pod_name:?} not found"
            )),
        };
    }
    if state.running.is_some() {
        return Ok(s.container_id.clone().unwrap_or_default());
    }
    if let Some(t) = &state.terminated {
        return match id(t.container_id.as_ref()) {
            Some(id) => Ok(id),
            None => last
                .and_then(|l| id(l.container_id.as_ref()))
                .ok_or_else(terminated_err),
        };
    }
    if let Some(l) = last {
        return id(l.container_id.as_ref()).ok_or_else(terminated_err);
    }
    match state.waiting.and_then(|w| w.reason) {
        Some(reason) if reason == "ErrImagePull" => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
        )),
        Some(reason) if reason == "ImagePullBackOff" => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
        )),
        Some(reason) => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: {reason}"
        )),
        None => Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    fn status(state: ContainerState, last: Option<&str>) -> PodStatus {
        PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "app".into(),
                container_id: Some("x://now".into()),
                state: Some(state),
                last_state: Some(ContainerState {
                    terminated: last.map(|id| ContainerStateTerminated {
                        container_id: Some(id.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn picks_the_instance_as_the_kubelet() {
        let running = ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        };
        let waiting = |r: &str| ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(r.into()),
                message: None,
            }),
            ..Default::default()
        };
        let s = status(running.clone(), Some("x://before"));
        assert_eq!(log_container_id("p", &s, "app", false).unwrap(), "x://now");
        assert_eq!(
            log_container_id("p", &s, "app", true).unwrap(),
            "x://before"
        );
        let s = status(running, None);
        assert_eq!(
            log_container_id("p", &s, "app", true).unwrap_err(),
            r#"previous terminated container "app" in pod "p" not found"#
        );
        let s = status(waiting("CrashLoopBackOff"), Some("x://before"));
        assert_eq!(
            log_container_id("p", &s, "app", false).unwrap(),
            "x://before"
        );
        let s = status(waiting("ContainerCreating"), None);
        assert_eq!(
            log_container_id("p", &s, "app", false).unwrap_err(),
            r#"container "app" in pod "p" is waiting to start: ContainerCreating"#
        );
        assert_eq!(
            log_container_id("p", &s, "web", false).unwrap_err(),
            r#"container "web" in pod "p" is not available"#
        );
    }
}
