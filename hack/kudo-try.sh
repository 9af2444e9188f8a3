#!/usr/bin/env bash
# Try KUDO packages on a local kwok cluster, as a user would: import each
# with the plugin (--check), apply the Framework server-side, create an
# instance with the default parameters and wait for its deploy plan.
# Prints one line per package: the outcome, the time from import, the pods
# and the plan's message.
#
#   hack/kudo-try.sh DIR...      each DIR a package (operator.yaml, params.yaml, templates/)
#
# TRY_TIMEOUT (default 180) bounds the wait for each deploy, in seconds;
# IMPORT_FLAGS are added to the import (--allow-cluster-scoped, say, for a
# package that renders a ClusterRole); TRY_SPEC
# is the instances' spec, in JSON (default {}).
# Needs bin/manager and bin/kubectl-operetta (make build plugin).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
export CLUSTER_NAME=kudo-try OPERETTA_WORKDIR=$work CLUSTER_EXEC=1 CLUSTER_VOLUMES=${CLUSTER_VOLUMES:-120}
kc=$("$root/hack/cluster.sh" up) || exit 1
export KUBECONFIG=$kc PATH=$root/bin/k8s:$PATH
trap '"$root/hack/cluster.sh" down >/dev/null 2>&1; rm -rf "$work"' EXIT
kubectl apply --server-side -f "$root/charts/operetta/crds" >/dev/null
"$root/bin/manager" --kubeconfig "$kc" --leader-election-namespace=kube-system --log-format=console \
  --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 >"$work/manager.log" 2>&1 &
manager=$!
trap 'kill $manager; "$root/hack/cluster.sh" down >/dev/null 2>&1; rm -rf "$work"' EXIT
# kwok runs no container: a Pipe task's exec (cat FILE in its waiter
# container) runs here, in $work/pipe, where each package's pipe files are
# made empty, as KUDO's Kafka makes them by default.
mkdir -p "$work/pipe"
printf 'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata: {name: pipe-files}\nspec:\n  execs:\n  - containers: [waiter]\n    local: {workDir: %s}\n' \
  "$work/pipe" | kubectl apply -f - >/dev/null

for dir in "$@"; do
  p=$(basename "$dir")
  for f in $(grep -oE '^[[:space:]-]*file:[[:space:]]*[^[:space:]]+' "$dir/operator.yaml" 2>/dev/null | sed -E 's/.*file:[[:space:]]*//; s/^"//; s/"$//'); do
    mkdir -p "$work/pipe/$(dirname "${f#/}")" && touch "$work/pipe/${f#/}"
  done
  ns=try-$(echo "$p" | tr -c 'a-z0-9\n' '-' | cut -c1-40)
  fw=$work/$p.yaml
  start=$(date +%s.%N)
  if ! out=$("$root/bin/kubectl-operetta" import kudo "$dir" --check -o "$fw" ${IMPORT_FLAGS:-} 2>&1); then
    echo "$p | import refused | $(echo "$out" | grep -v '^note:' | tr '\n' ' ' | cut -c1-300)"; continue
  fi
  kubectl create namespace "$ns" >/dev/null
  if ! out=$(kubectl apply --server-side -f "$fw" 2>&1); then echo "$p | apply refused | $out"; continue; fi
  name=$(kubectl get -f "$fw" -o jsonpath='{.metadata.name}')
  if ! kubectl wait "framework/$name" --for=condition=Ready --timeout=60s >/dev/null 2>&1; then
    echo "$p | Framework not Ready | $(kubectl get framework "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')"; continue
  fi
  kind=$(kubectl get framework "$name" -o jsonpath='{.spec.names.kind}').$(kubectl get framework "$name" -o jsonpath='{.spec.names.group}')
  if ! out=$(printf 'apiVersion: %s/v1\nkind: %s\nmetadata: {name: inst, namespace: %s}\nspec: %s\n' \
      "${kind#*.}" "${kind%%.*}" "$ns" "${TRY_SPEC:-{\}}" | kubectl apply -f - 2>&1); then
    echo "$p | instance refused | $out"; continue
  fi
  st=""
  for _ in $(seq 1 $(( ${TRY_TIMEOUT:-180} / 2 ))); do
    st=$(kubectl get "$kind" inst -n "$ns" -o jsonpath='{.status.plans.deploy.status}' 2>/dev/null)
    case $st in COMPLETE|FATAL_ERROR) break ;; esac
    sleep 2
  done
  [ "$st" = COMPLETE ] || [ "$st" = FATAL_ERROR ] || st="TIMEOUT ($st)"
  took=$(echo "$(date +%s.%N) - $start" | bc)
  msg=$(kubectl get "$kind" inst -n "$ns" -o jsonpath='{.status.plans.deploy.message}' | cut -c1-300)
  pods=$(kubectl get pods -n "$ns" --no-headers 2>/dev/null | awk '{print $3}' | sort | uniq -c | tr -s ' \n' ' ')
  printf '%s | %s | %.1f s | pods:%s | %s\n' "$p" "$st" "$took" "${pods:- none}" "$msg"
done
