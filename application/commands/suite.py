"""``rca suite run|check``, ``rca chaos cleanup``, ``rca lab up|status|down``."""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from application.errors import UsageError
from chaos_scenarios.crds import load_crd_schemas, validate_manifest
from chaos_scenarios.k8s import DEFAULT_ALLOWED_NAMESPACES, KubernetesBackend, cleanup_owned
from chaos_scenarios.lab import run_lab
from chaos_scenarios.runner import default_run_id, plan_cases, run_suite
from chaos_scenarios.simulator import SimBackend
from chaos_scenarios.suite import builtin_suites, load_suite
from chaos_scenarios.timeline import read_timeline, run_timeline


def register(subparsers: argparse._SubParsersAction) -> None:
    suite = subparsers.add_parser(
        "suite", help="run or check a fault suite (ChaosMesh on Kubernetes, or the simulator)"
    )
    suite_sub = suite.add_subparsers(dest="suite_command", metavar="SUITE_COMMAND", required=True)

    run = suite_sub.add_parser("run", help="inject every fault of a suite and write one case folder per fault")
    run.add_argument("suite", help=f"suite YAML file, or a shipped suite: {', '.join(builtin_suites())}")
    run.add_argument(
        "--backend",
        choices=("k8s", "sim"),
        default="sim",
        help="k8s: a real cluster with ChaosMesh and Jaeger; sim: the embedded simulator (default)",
    )
    run.add_argument("--out", help="run directory to write (required unless --dry-run)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print every manifest as YAML documents and change nothing (no cluster contact)",
    )
    run.add_argument("--seed", type=int, default=None, help="seed (simulator randomness, reproducible run id)")
    run.add_argument(
        "--allow-namespace",
        action="append",
        default=None,
        metavar="NS",
        help="namespace faults may target (repeatable; default: default, online-boutique)",
    )
    run.add_argument("--context", help="kubeconfig context (k8s backend)")
    run.add_argument("--jaeger-url", help="Jaeger query URL (overrides the suite's defaults.jaeger_url)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--timeline",
        action="store_true",
        help="write the whole suite as one continuous timeline (normal traffic, then the faults one "
        "after another) in one folder, for the monitor, instead of one folder per case",
    )
    run.add_argument(
        "--lead-in",
        default="1h",
        help="normal traffic before the first fault in --timeline mode (default: %(default)s)",
    )
    run.set_defaults(func=_suite_run)

    check = suite_sub.add_parser("check", help="validate a suite and list its cases")
    check.add_argument("suite", help="suite YAML file or shipped suite name")
    check.add_argument("--crds", help="directory of ChaosMesh CRD YAML files to validate every manifest against")
    check.set_defaults(func=_suite_check)

    chaos = subparsers.add_parser("chaos", help="housekeeping for ChaosMesh objects created by this tool")
    chaos_sub = chaos.add_subparsers(dest="chaos_command", metavar="CHAOS_COMMAND", required=True)
    cleanup = chaos_sub.add_parser("cleanup", help="delete every chaos object labelled as created by rca")
    cleanup.add_argument(
        "--namespace",
        action="append",
        default=None,
        metavar="NS",
        help="only this namespace (repeatable; default: all namespaces)",
    )
    cleanup.add_argument("--context", help="kubeconfig context")
    cleanup.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    cleanup.set_defaults(func=_chaos_cleanup)

    lab = subparsers.add_parser("lab", help="local lab: minikube + ChaosMesh + Jaeger + Online-Boutique")
    lab.add_argument("action", choices=("up", "status", "down"))
    lab.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    lab.set_defaults(func=_lab)


def _print_manifests(manifests: list[dict]) -> None:
    text = yaml.safe_dump_all(manifests, sort_keys=False, explicit_start=True)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _suite_run(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    if args.dry_run:
        run_id = default_run_id(suite, args.seed)
        cases = plan_cases(suite, run_id)
        manifests = [m for case in cases for m in case.manifests]
        _print_manifests(manifests)
        print(
            f"dry run: suite {suite.name}: {len(cases)} case(s), {len(manifests)} manifest(s) for backend "
            f"{args.backend}; nothing was created",
            file=sys.stderr,
        )
        return 0
    if not args.out:
        raise UsageError("suite run: --out DIR is required (or use --dry-run)")
    seed = args.seed
    backend: SimBackend | KubernetesBackend
    if args.backend == "sim":
        seed = 0 if seed is None else seed
        backend = SimBackend(seed=seed)
    else:
        backend = KubernetesBackend(
            context=args.context,
            jaeger_url=args.jaeger_url,
            allowed_namespaces=args.allow_namespace or DEFAULT_ALLOWED_NAMESPACES,
        )
    if args.timeline:
        folder = run_timeline(suite, backend, args.out, lead_in=args.lead_in, progress=not args.no_progress, seed=seed)
        info = read_timeline(folder)
        print(f"wrote a timeline of {len(info['labels'])} fault(s) and {info['spans']} spans to {folder}")
        return 0
    written = run_suite(suite, backend, args.out, progress=not args.no_progress, seed=seed)
    print(f"wrote {len(written)} case folder(s) to {args.out}")
    return 0


def _suite_check(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    cases = plan_cases(suite, default_run_id(suite, 0))
    schemas = None
    if args.crds:
        schemas = load_crd_schemas(args.crds)
    for case in cases:
        for manifest in case.manifests:
            if schemas is not None:
                validate_manifest(manifest, schemas)
        fault = case.faults[0]
        print(f"{case.case_id}\t{fault.kind}/{fault.action}\t{fault.namespace}/{fault.target}")
    total = sum(len(c.manifests) for c in cases)
    checked = f", all valid against the CRDs in {args.crds}" if schemas is not None else ""
    print(f"suite {suite.name}: {len(suite.faults)} fault(s), {len(cases)} case(s), {total} manifest(s){checked}")
    return 0


def _chaos_cleanup(args: argparse.Namespace) -> int:
    backend = KubernetesBackend(context=args.context, allowed_namespaces=None)
    removed = cleanup_owned(backend, args.namespace, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for item in removed:
        print(f"{verb} {item}")
    print(f"{verb} {len(removed)} chaos object(s)")
    return 0


def _lab(args: argparse.Namespace) -> int:
    return run_lab(args.action, dry_run=args.dry_run)
