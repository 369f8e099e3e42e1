//! ImageLocality: prefers nodes that already have the pod's images, weighted by
//! how widely each image is spread.

use crate::cache::{NodeInfo, PodInfo, Snapshot};
use crate::framework::{CycleState, MAX_NODE_SCORE, Plugin, ScorePlugin, Status};

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
}
