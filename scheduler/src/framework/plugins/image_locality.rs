//! ImageLocality: prefers nodes that already have the pod's images, weighted by
//! how widely each image is spread.

use std::sync::Arc;

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeScore, Plugin, ScorePlugin, Status};

/// Plugin name.
pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The ImageLocality scorer.
#[derive(Debug, Default)]
pub struct ImageLocality;

fn calculate_priority(sum: i64, num_containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * num_containers as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max_threshold.max(MIN_THRESHOLD));
    if max_threshold <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads the node's images and how many nodes hold each image (which changes
    /// only with nodes, so with the cache's epoch).
    fn batchable(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for ImageLocality {
    fn score(
        &self,
        _state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let total = snapshot.len().max(1);
        let Some(spec) = pod.pod.spec.as_ref() else {
            return Ok(0);
        };
        let num_containers =
            spec.init_containers.as_ref().map_or(0, Vec::len) + spec.containers.len();
        let mut sum = 0i64;
        for name in &pod.image_names {
            if let Some(size) = node.images().get(name) {
                let spread = snapshot.image_num_nodes(name) as f64 / total as f64;
                sum += (*size as f64 * spread) as i64;
            }
        }
        Ok(calculate_priority(sum, num_containers))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
        out: &mut [NodeScore],
    ) -> Result<(), Status> {
        // When none of the pod's images is on any node, every node sums 0: one
        // score for all, without looking the images up node by node.
        if pod
            .image_names
            .iter()
            .all(|name| snapshot.image_num_nodes(name) == 0)
        {
            let num_containers = pod.pod.spec.as_ref().map_or(0, |spec| {
                spec.init_containers.as_ref().map_or(0, Vec::len) + spec.containers.len()
            });
            let score = if pod.pod.spec.is_some() {
                calculate_priority(0, num_containers)
            } else {
                0
            };
            for slot in out.iter_mut() {
                slot.score = score;
            }
            return Ok(());
        }
        for (slot, node) in out.iter_mut().zip(nodes) {
            slot.score = self.score(state, pod, node, snapshot)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn nodes_with_the_image_score_higher() {
        let with = NodeInfo::new(
            NodeBuilder::new("with")
                .image("registry/app:v1", 500 * MB)
                .build(),
        );
        let without = NodeInfo::new(NodeBuilder::new("without").build());
        let snap = Snapshot::new(vec![with.clone(), without.clone()]);
        let pod = PodInfo::new(PodBuilder::new("p").image("registry/app:v1").build());
        let s1 = ImageLocality
            .score(&CycleState::new(), &pod, &with, &snap)
            .unwrap();
        let s2 = ImageLocality
            .score(&CycleState::new(), &pod, &without, &snap)
            .unwrap();
        // 500MB spread over half the nodes = 250MB: (250-23)*100/(1000-23) = 23.
        assert_eq!(
            s1,
            100 * (250 * MB - MIN_THRESHOLD) / (MAX_CONTAINER_THRESHOLD - MIN_THRESHOLD)
        );
        assert_eq!(s2, 0);
    }

    #[test]
    fn scoring_all_nodes_at_once_matches_node_by_node() {
        let nodes: Vec<Arc<NodeInfo>> = [
            NodeBuilder::new("a").image("registry/app:v1", 500 * MB),
            NodeBuilder::new("b"),
            NodeBuilder::new("c").image("registry/app:v1", 900 * MB),
        ]
        .into_iter()
        .map(|b| Arc::new(NodeInfo::new(b.build())))
        .collect();
        let snap = Snapshot::new(nodes.iter().map(|n| (**n).clone()).collect());
        let st = CycleState::new();
        for pod in [
            PodBuilder::new("present").image("registry/app:v1").build(),
            PodBuilder::new("absent").image("registry/other:v2").build(),
            PodBuilder::new("none").build(),
        ] {
            let pod = PodInfo::new(pod);
            let mut out: Vec<NodeScore> = nodes
                .iter()
                .map(|n| NodeScore {
                    name: n.node_name(),
                    score: -1,
                })
                .collect();
            ImageLocality
                .score_nodes(&st, &pod, &nodes, &snap, &mut out)
                .unwrap();
            let one_by_one: Vec<i64> = nodes
                .iter()
                .map(|n| ImageLocality.score(&st, &pod, n, &snap).unwrap())
                .collect();
            assert_eq!(
                out.iter().map(|s| s.score).collect::<Vec<_>>(),
                one_by_one,
                "{}",
                pod.key
            );
        }
    }
}
