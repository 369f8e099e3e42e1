//! The Prometheus registry every capstan-runtime metric is registered in, served by
//! [`crate::health`] on `/metrics`.

use std::sync::OnceLock;

use prometheus::Registry;

/// The process-wide registry for capstan-runtime's metrics (work queues, controllers,
/// leader election, client rate limiting). Components of one process share it, as
/// client-go's and controller-runtime's global registries are shared.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

/// Registers `collector` in [`registry`] and returns it; a collector already registered
/// under the same descriptor is kept, so constructing twice is harmless.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    match registry().register(Box::new(collector.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
        Err(err) => tracing::warn!(%err, "could not register metric"),
    }
    collector
}

/// A counter vector with constant `name`, `help` and `labels`, registered in
/// [`registry`].
pub(crate) fn int_counter_vec(
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::IntCounterVec {
    register(
        prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), labels)
            // Callers pass constants: construction cannot fail at run time.
            .expect("valid metric definition"),
    )
}

/// Renders every metric in [`registry`] in the Prometheus text exposition format.
pub fn render() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(err) = encoder.encode(&registry().gather(), &mut buf) {
        tracing::warn!(%err, "could not encode metrics");
    }
    String::from_utf8(buf).unwrap_or_default()
}
