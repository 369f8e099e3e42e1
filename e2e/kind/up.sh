#!/usr/bin/env bash
# Creates a kind cluster for capstan (e2e/kind/cluster.yaml), builds the image from the
# repository's Dockerfile, loads it into the cluster, installs charts/capstan and waits
# until the controller-manager, scheduler and node agent are available and the example
# NodePool's virtual nodes are Ready. Needs docker, kind, kubectl and helm.
#
#   e2e/kind/up.sh            # extra arguments go to `helm upgrade --install`
#   export KUBECONFIG=.capstan/kind-kubeconfig
#   e2e/kind/down.sh
#
# Environment: CLUSTER (default capstan), IMAGE (default capstan:dev), NAMESPACE
# (default capstan-system), KUBECONFIG_OUT (default .capstan/kind-kubeconfig),
# SKIP_BUILD=1 to reuse an image already built.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER="${CLUSTER:-capstan}"
IMAGE="${IMAGE:-capstan:dev}"
NAMESPACE="${NAMESPACE:-capstan-system}"
KUBECONFIG_OUT="${KUBECONFIG_OUT:-.capstan/kind-kubeconfig}"
TIMEOUT="${TIMEOUT:-300s}"

log() { printf '\n==> %s\n' "$*"; }
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "up.sh needs $tool on PATH" >&2; exit 1; }
done

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "kind cluster $CLUSTER exists"
else
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config e2e/kind/cluster.yaml --wait 120s
fi
mkdir -p "$(dirname "$KUBECONFIG_OUT")"
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG_OUT"
export KUBECONFIG="$KUBECONFIG_OUT"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "docker build -t $IMAGE"
  DOCKER_BUILDKIT=1 docker build -t "$IMAGE" .
fi
log "kind load docker-image $IMAGE"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# The cluster's own deployment and replicaset controllers are off, so the chart's
# bootstrap Pod runs capstan's controller-manager until the Deployments (its own too)
# have pods; then it is deleted and a Deployment replica takes over the Lease.
log "helm upgrade --install capstan charts/capstan"
helm upgrade --install capstan charts/capstan \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.repository="${IMAGE%:*}" \
  --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set controllerManager.bootstrapPod=true \
  --set nodePool.create=true \
  "$@"

log "waiting for capstan's components"
for component in controller-manager scheduler node-agent; do
  kubectl --namespace "$NAMESPACE" rollout status "deployment/capstan-$component" --timeout "$TIMEOUT"
done
kubectl --namespace "$NAMESPACE" delete pod capstan-controller-manager-bootstrap --ignore-not-found --wait=true
# The Deployment's replica leads within a lease duration (15 s) of the bootstrap Pod's exit.
kubectl --namespace "$NAMESPACE" rollout status deployment/capstan-controller-manager --timeout "$TIMEOUT"

log "waiting for the NodePool's virtual nodes"
want="$(kubectl get nodepool default -o jsonpath='{.spec.nodes}')"
deadline=$((SECONDS + ${TIMEOUT%s}))
until [[ "$(kubectl get nodepool default -o jsonpath='{.status.readyNodes}')" == "$want" ]]; do
  if (( SECONDS >= deadline )); then
    echo "NodePool default: not $want Ready nodes after $TIMEOUT" >&2
    kubectl get nodepool default -o yaml >&2
    exit 1
  fi
  sleep 2
done
kubectl get nodes -o wide

cat <<MSG

capstan runs on kind cluster "$CLUSTER":
  export KUBECONFIG=$KUBECONFIG_OUT
  kubectl --namespace $NAMESPACE get pods
  e2e/kind/down.sh
MSG
