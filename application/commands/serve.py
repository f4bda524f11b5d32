"""``rca serve``: the detection service (Azure Anomaly Detector and Metis compatible APIs,
docs/service.md) on ``--host``/``--port``, keeping its state in ``--data-dir``."""

from __future__ import annotations

import argparse
import os

from application.errors import UsageError

KEYS_ENV = "RCA_SERVE_KEYS"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="serve the Metis- and Azure-compatible detection APIs over HTTP")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--data-dir", default="rca-serve-data", help="folder of the SQLite store and the models")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        help=f"accepted Ocp-Apim-Subscription-Key (repeatable; also ${KEYS_ENV}, comma-separated); none: no check",
    )
    p.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body accepted (413 above)")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    from service import create_app
    from service.server import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    if not args.max_body_mb > 0:
        raise UsageError(f"--max-body-mb must be positive, got {args.max_body_mb}")
    keys = [k for k in args.key if k] + [k for k in os.environ.get(KEYS_ENV, "").split(",") if k]
    app = create_app(args.data_dir, keys=keys, max_body_bytes=int(args.max_body_mb * 1024 * 1024))
    print(f"rca serve: http://{args.host}:{args.port} (data in {args.data_dir}; keys {'on' if keys else 'off'})")
    serve(app, args.host, args.port)
    return 0
