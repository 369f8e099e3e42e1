//! The kubelet API's paths. Every virtual node of the agent shares one listener, so a
//! path names its pod by namespace and name, as the kubelet's do.

/// The kubelet's streaming endpoints (served over an upgraded connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streaming {
    /// `/exec/{namespace}/{pod}/{container}`.
    Exec,
    /// `/attach/{namespace}/{pod}/{container}`.
    Attach,
    /// `/portForward/{namespace}/{pod}`.
    PortForward,
}

impl Streaming {
    /// The endpoint's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Streaming::Exec => "exec",
            Streaming::Attach => "attach",
            Streaming::PortForward => "portForward",
        }
    }
}

/// What a request path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/healthz` (and its sub-checks).
    Healthz,
    /// `/pods`: the pods of the agent's nodes.
    Pods,
    /// `/containerLogs/{namespace}/{pod}/{container}`.
    ContainerLogs {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The container.
        container: String,
    },
    /// A streaming endpoint (see [`Streaming`]).
    Streaming {
        /// Which one.
        kind: Streaming,
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The container (`exec`, `attach`); `portForward` names none.
        container: Option<String>,
    },
    /// Anything else.
    NotFound,
}

/// Parses a request path.
pub fn route(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    match segs.as_slice() {
        ["healthz", ..] => Route::Healthz,
        ["pods"] => Route::Pods,
        ["containerLogs", ns, pod, container]
            if !ns.is_empty() && !pod.is_empty() && !container.is_empty() =>
        {
            Route::ContainerLogs {
                namespace: ns.to_string(),
                pod: pod.to_string(),
                container: container.to_string(),
            }
        }
        [kind @ ("exec" | "attach"), ns, pod, container]
            if !ns.is_empty() && !pod.is_empty() && !container.is_empty() =>
        {
            Route::Streaming {
                kind: if *kind == "exec" {
                    Streaming::Exec
                } else {
                    Streaming::Attach
                },
                namespace: ns.to_string(),
                pod: pod.to_string(),
                container: Some(container.to_string()),
            }
        }
        ["portForward", ns, pod] if !ns.is_empty() && !pod.is_empty() => Route::Streaming {
            kind: Streaming::PortForward,
            namespace: ns.to_string(),
            pod: pod.to_string(),
            container: None,
        },
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(route("/healthz"), Route::Healthz);
        assert_eq!(route("/pods/"), Route::Pods);
        assert_eq!(
            route("/containerLogs/default/web/app"),
            Route::ContainerLogs {
                namespace: "default".into(),
                pod: "web".into(),
                container: "app".into()
            }
        );
        assert_eq!(route("/containerLogs/default/web"), Route::NotFound);
        assert_eq!(
            route("/exec/default/web/app"),
            Route::Streaming {
                kind: Streaming::Exec,
                namespace: "default".into(),
                pod: "web".into(),
                container: Some("app".into())
            }
        );
        assert_eq!(route("/attach/default/web"), Route::NotFound);
        assert_eq!(
            route("/portForward/default/web"),
            Route::Streaming {
                kind: Streaming::PortForward,
                namespace: "default".into(),
                pod: "web".into(),
                container: None
            }
        );
        assert_eq!(route("/metrics"), Route::NotFound);
    }
}
