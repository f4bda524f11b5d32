#!/usr/bin/env bash
# The local fault-injection lab: minikube + ChaosMesh + Jaeger + Online-Boutique (with tracing and
# its load generator). Every command is printed (prefixed with "+") before it runs.
#
#   deploy/lab.sh up [--dry-run]       create the cluster and install everything
#   deploy/lab.sh status [--dry-run]   show what is running and how to reach it
#   deploy/lab.sh down [--dry-run]     delete the cluster
#
# Settings (environment variables): RCA_LAB_PROFILE (minikube profile and kubectl context, default
# rca-lab), RCA_LAB_CPUS (6), RCA_LAB_MEMORY (12g), RCA_LAB_DRIVER (minikube's choice if empty),
# CHAOS_MESH_VERSION (2.7.2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROFILE="${RCA_LAB_PROFILE:-rca-lab}"
CPUS="${RCA_LAB_CPUS:-6}"
MEMORY="${RCA_LAB_MEMORY:-12g}"
DRIVER="${RCA_LAB_DRIVER:-}"
CHAOS_MESH_VERSION="${CHAOS_MESH_VERSION:-2.7.2}"
# minikube runs containerd here (--container-runtime below); ChaosMesh's daemon must use its socket.
CONTAINERD_SOCKET="/run/containerd/containerd.sock"
DRY_RUN=0

usage() {
  echo "usage: $0 up|status|down [--dry-run]" >&2
  exit 2
}

show() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
}

run() {
  show "$@"
  if [[ "$DRY_RUN" == 0 ]]; then
    "$@"
  fi
}

run_soft() {
  show "$@"
  if [[ "$DRY_RUN" == 0 ]]; then
    "$@" || echo "  (failed with exit code $?; continuing)"
  fi
}

need() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      if [[ "$DRY_RUN" == 1 ]]; then
        echo "# note: $tool is not installed here (needed for a real run)"
      else
        echo "error: $tool is not installed; see docs/chaos.md, 'Run it on a real cluster'" >&2
        exit 1
      fi
    fi
  done
}

how_to_reach() {
  cat <<EOF
# The shop's web page:  kubectl --context $PROFILE -n online-boutique port-forward svc/frontend 8080:80
#                       then open http://localhost:8080
# The Jaeger UI / API:  kubectl --context $PROFILE -n observability port-forward svc/jaeger 16686:16686
#                       then open http://localhost:16686 (the suites' jaeger_url)
EOF
}

lab_up() {
  need minikube kubectl helm
  local start=(minikube start --profile "$PROFILE" --cpus "$CPUS" --memory "$MEMORY" --container-runtime containerd)
  if [[ -n "$DRIVER" ]]; then
    start+=(--driver "$DRIVER")
  fi
  run "${start[@]}"
  run helm repo add chaos-mesh https://charts.chaos-mesh.org --force-update
  run helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --kube-context "$PROFILE" \
    --namespace chaos-mesh --create-namespace --version "$CHAOS_MESH_VERSION" \
    --set chaosDaemon.runtime=containerd --set chaosDaemon.socketPath="$CONTAINERD_SOCKET" \
    --wait --timeout 10m
  run kubectl --context "$PROFILE" apply -k "$HERE/jaeger"
  run kubectl --context "$PROFILE" -n observability rollout status deployment/jaeger --timeout=5m
  run kubectl --context "$PROFILE" apply -k "$HERE/online-boutique"
  run kubectl --context "$PROFILE" -n online-boutique wait --for=condition=Available deployment --all --timeout=15m
  how_to_reach
}

lab_status() {
  need minikube kubectl
  run_soft minikube status --profile "$PROFILE"
  run_soft kubectl --context "$PROFILE" get crd podchaos.chaos-mesh.org networkchaos.chaos-mesh.org \
    stresschaos.chaos-mesh.org httpchaos.chaos-mesh.org iochaos.chaos-mesh.org
  run_soft kubectl --context "$PROFILE" -n chaos-mesh get pods
  run_soft kubectl --context "$PROFILE" -n observability get pods
  run_soft kubectl --context "$PROFILE" -n online-boutique get pods
  how_to_reach
}

lab_down() {
  need minikube
  run minikube delete --profile "$PROFILE"
}

main() {
  local action="${1:-}"
  shift || true
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      *) usage ;;
    esac
    shift
  done
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "# dry run: printing the commands, running none"
  fi
  case "$action" in
    up) lab_up ;;
    status) lab_status ;;
    down) lab_down ;;
    *) usage ;;
  esac
}

main "$@"
