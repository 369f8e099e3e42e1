//! The committed `crds/nodepool.yaml` must be what the Rust types generate
//! (regenerate with `capstan crdgen --out-dir crds`).

#[test]
fn committed_nodepool_crd_is_current() {
    let committed = include_str!("../../crds/nodepool.yaml");
    let generated = capstan_node_agent::nodepool_crd_yaml().expect("CRD renders");
    assert!(
        committed == generated,
        "crds/nodepool.yaml is stale: run `cargo run -p capstan -- crdgen --out-dir crds`"
    );
}
