#!/usr/bin/env bash
# Deletes the kind cluster e2e/kind/up.sh created (and its kubeconfig).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER="${CLUSTER:-capstan}"
KUBECONFIG_OUT="${KUBECONFIG_OUT:-.capstan/kind-kubeconfig}"
kind delete cluster --name "$CLUSTER"
rm -f "$KUBECONFIG_OUT"
