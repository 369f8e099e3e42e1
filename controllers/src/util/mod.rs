//! Helpers shared by the controllers' planning cores.

pub mod history;
pub mod intstr;
pub mod pod;
pub mod replicasets;
pub mod semantic;
pub mod sort;
pub mod time;

#[cfg(test)]
pub(crate) mod fake_api;
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod testing;
