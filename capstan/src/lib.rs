//! The library half of the `capstan` package: how `capstan up` wires the control plane
//! around an API server ([`up::ControlPlane`]), shared by the binary, by the controllers'
//! scenario tests and benches (`capstan-controllers` dev-depends on this crate) and by
//! the e2e suite (`capstan-e2e`), which boot the same control plane in process.

pub mod up;
