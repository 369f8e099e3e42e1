//! Helpers shared by the controllers: planning-core helpers and the controller
//! kit's pod control.

pub mod history;
pub mod intstr;
pub mod pod;
pub mod pod_control;
pub mod queued;
pub mod replicasets;
pub mod semantic;
pub mod sort;
pub mod time;

#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod testing;
