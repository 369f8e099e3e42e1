#!/usr/bin/env bash
# A/B run of one API server bench binary: the code at a base revision against the
# working tree, built with the same profile and run alternately in one session, so
# both sides see the same machine load. Prints every figure the bench prints, tagged.
#
#   apiserver/benches/ab.sh <base-rev> [bench] [rounds]
#   apiserver/benches/ab.sh a5a54b1 pod_creates 4
#
# The base is checked out into a temporary worktree and built with its own target
# directory (kept under ~/.cache so a second run reuses it).
set -euo pipefail
base="${1:?usage: ab.sh <base-rev> [bench] [rounds]}"
bench="${2:-pod_creates}"
rounds="${3:-3}"
root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
base_sha="$(git -C "$root" rev-parse --short "$base")"
base_dir="$(mktemp -d)/capstan-$base_sha"
base_target="$HOME/.cache/capstan-bench-base-$base_sha"
head_target="${CARGO_TARGET_DIR:-$root/target}"

cleanup() { git -C "$root" worktree remove --force "$base_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Builds the bench binary of the tree in $1 into target $2 and prints its path.
build() {
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench -p capstan-apiserver --bench "$bench" --no-run \
        --message-format=json 2>/dev/null) |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["bench"]:
        print(m["executable"])' | tail -n 1
}

git -C "$root" worktree add --detach "$base_dir" "$base" >/dev/null
echo "building $bench at $base_sha (base) and the working tree (head)" >&2
base_bin="$(build "$base_dir" "$base_target")"
head_bin="$(build "$root" "$head_target")"
[ -x "$base_bin" ] && [ -x "$head_bin" ] || { echo "build failed" >&2; exit 1; }

for r in $(seq 1 "$rounds"); do
    # Alternate which side goes first so a drift in machine load falls on both.
    if [ $((r % 2)) -eq 1 ]; then order="base head"; else order="head base"; fi
    for side in $order; do
        bin="$base_bin"; [ "$side" = head ] && bin="$head_bin"
        "$bin" --bench 2>/dev/null | sed "s/^/round $r $side ($([ "$side" = base ] && echo "$base_sha" || echo working tree)): /"
    done
done
