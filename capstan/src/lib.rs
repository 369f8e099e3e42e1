//! The library half of the `capstan` package: how `capstan up` wires the control plane
//! around an API server, shared by the binary and by the e2e suite (`capstan-e2e`),
//! which boots the same control plane in process when it has no cluster to run against.

pub mod up;
