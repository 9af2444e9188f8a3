#!/usr/bin/env bash
# operetta against a direct-apply baseline on a local kwok cluster: starts a
# cluster of its own (CLUSTER_NAME, default bench) with room for 500 one-pod
# instances, builds the manager and runs test/bench, which starts the
# managers it measures (one; one per shard; a leader and its standby) and
# prints every figure beside its target (docs/performance.md). The cluster
# and the managers are removed at the end, whatever happens.
#
#   BENCH_SIZES="200 500"  instances per run; each size runs operetta, direct and sharded
#   BENCH_IDLE=60s         how long to count the manager's requests once all is ready
#   BENCH_WORKERS=16       client workers creating instances or children
#   BENCH_TIMEOUT=20m      longest a run may take until everything is ready
#   BENCH_FIRST=3          fresh Frameworks for "Framework applied → first children"
#   BENCH_SHARDS=2         shards each size is split over (1: not measured)
#   BENCH_FAILOVER=200     instances in flight when a shard's leader is killed (0: not measured)
#   BENCH_FRAMEWORKS=20    Frameworks without instances, for what each costs (0: not measured)
#   BENCH_ROLLOUT=500      instances a Framework change is previewed with kubectl operetta diff
#                          and rolled out over, maxConcurrent BENCH_ROLLOUT_CONCURRENT=50 (0: not measured)
#   BENCH_SCHEDULES=1000   instances on one per-minute schedule, jitter BENCH_SCHEDULE_JITTER=30s (0: not measured)
#   BENCH_COLLECTION=100   elements of one instance's collection (0: not measured)
#   BENCH_CONVERSION=500   instances of examples/versions read in the version they are not
#                          stored in, through the manager's conversion webhook (0: not measured)
#   BENCH_SCALE=1          the scale mode only (issue 27): BENCH_SCALE_FRAMEWORKS=200 Frameworks of a
#                          ConfigMap and a headless Service each, the fleet grown to each of
#                          BENCH_SIZES (default "500 2000 10000") at BENCH_SCALE_RATE=100 per second,
#                          a restart over it, Framework churn; heap profiles in the log folder
#   CLUSTER_NODES=10       simulated nodes (110 pods each)
#   OPERETTA_SRC           a checkout to build the manager and take the Framework CRD
#                          from (default: this one), e.g. a `git worktree` of a commit
#   BENCH_GOMEMLIMIT       GOMEMLIMIT of every manager (the chart's: 460MiB); unset by default
#   MANAGER_FLAGS          extra flags for every manager (with an OPERETTA_SRC older than
#                          --shard, set BENCH_SHARDS=1 BENCH_FAILOVER=0)
#   BENCH_PORT=18480       first local port of the managers' metrics and probes (two each)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CLUSTER_NAME=${CLUSTER_NAME:-bench}
export CLUSTER_NODES=${CLUSTER_NODES:-10}
export OPERETTA_WORKDIR=${OPERETTA_WORKDIR:-$root/.work}
export PATH=$root/bin/k8s:$PATH # kubectl, if the machine has none
work=$OPERETTA_WORKDIR/cluster-$CLUSTER_NAME
say() { printf '==> %s\n' "$*" >&2; }

say "building the control plane (cached after the first run), the manager and the benchmark"
hack/control-plane.sh all >/dev/null
src=$(cd "${OPERETTA_SRC:-$root}" && pwd)
manager=$src/bin/manager
(cd "$src" && go build -o "$manager" ./cmd/manager)
go build -tags benchcluster -o bin/bench-cluster ./test/bench

cleanup() {
  local code=$?
  hack/cluster.sh down || true
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting cluster $CLUSTER_NAME with $CLUSTER_NODES simulated nodes"
hack/cluster.sh down >/dev/null 2>&1 || true # a fresh cluster every time
KUBECONFIG=$(hack/cluster.sh up)
export KUBECONFIG
# The default Service range of a kwokctl cluster holds ~250 Services.
kubectl apply --server-side -f - >/dev/null <<'EOF'
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: bench
spec:
  cidrs: ["10.96.0.0/16"]
EOF
kubectl wait servicecidr/bench --for=condition=Ready --timeout=60s >/dev/null
kubectl wait nodes --all --for=condition=Ready --timeout=120s >/dev/null
kubectl apply --server-side -f "$src/charts/operetta/crds/" >/dev/null
kubectl wait crd/frameworks.operetta.dev --for=condition=Established --timeout=60s >/dev/null

default_sizes="200 500"
scale=()
if [ -n "${BENCH_SCALE:-}" ]; then
  default_sizes="500 2000 10000"
  scale=(--scale --scale-frameworks "${BENCH_SCALE_FRAMEWORKS:-200}" --scale-rate "${BENCH_SCALE_RATE:-100}")
fi
apiserver=$(pgrep -f "^$work/kwok/clusters/$CLUSTER_NAME/bin/kube-apiserver " | head -n 1 || true)
say "running the benchmark (manager logs: $OPERETTA_WORKDIR/bench-manager-*.log)"
bin/bench-cluster --kubeconfig "$KUBECONFIG" --manager "$manager" --manager-flags "${MANAGER_FLAGS:-}" \
  --gomemlimit "${BENCH_GOMEMLIMIT:-}" \
  --log-dir "$OPERETTA_WORKDIR" --port "${BENCH_PORT:-18480}" \
  --framework examples/webapp/framework.yaml --instance examples/webapp/instance.yaml \
  --sizes "${BENCH_SIZES:-$default_sizes}" --idle "${BENCH_IDLE:-60s}" --workers "${BENCH_WORKERS:-16}" \
  --run-timeout "${BENCH_TIMEOUT:-20m}" --first-repeats "${BENCH_FIRST:-3}" \
  --shards "${BENCH_SHARDS:-2}" --failover "${BENCH_FAILOVER:-200}" \
  --frameworks "${BENCH_FRAMEWORKS:-20}" --apiserver-pid "${apiserver:-0}" \
  --rollout "${BENCH_ROLLOUT:-500}" --rollout-max-concurrent "${BENCH_ROLLOUT_CONCURRENT:-50}" \
  --schedules "${BENCH_SCHEDULES:-1000}" --schedule-jitter "${BENCH_SCHEDULE_JITTER:-30s}" \
  --collection "${BENCH_COLLECTION:-100}" --conversion "${BENCH_CONVERSION:-500}" ${scale[@]+"${scale[@]}"}
