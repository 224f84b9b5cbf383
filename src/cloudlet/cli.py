"""The `cloudlet` command.

  cloudlet serve [--host H] [--port 4566] [--data-dir ./.cloudlet | --ephemeral]
                 [--log-level info] [--virtual-clock] [--strict-auth] [--iam-mode enforce|soft|off]
                 [--no-cloudtrail]
  cloudlet status | reset [--service S] | clock [show | advance SECONDS | set TIME | real]
  cloudlet env                 shell exports that point AWS tools at cloudlet
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from cloudlet import __version__
from cloudlet.config import Settings


def _endpoint(args) -> str:
    return (args.endpoint or os.environ.get("CLOUDLET_ENDPOINT")
            or f"http://localhost:{os.environ.get('CLOUDLET_PORT', '4566')}").rstrip("/")


def _admin(args, method: str, path: str, body: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(_endpoint(args) + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise SystemExit(f"cloudlet: {method} {path} failed: {exc.code} {detail}")
    except urllib.error.URLError as exc:
        raise SystemExit(f"cloudlet: cannot reach {_endpoint(args)}: {exc.reason}")


def cmd_serve(args) -> int:
    import logging

    import uvicorn

    from cloudlet.app import create_app
    from cloudlet.httpserver import http_protocol

    settings = Settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.data_dir:
        settings.data_dir = args.data_dir
    if args.ephemeral:
        settings.ephemeral = True
    if args.log_level:
        settings.log_level = args.log_level
    if args.virtual_clock:
        settings.virtual_clock = True
    if args.strict_auth:
        settings.strict_auth = True
    if args.iam_mode:
        settings.iam_mode = args.iam_mode
    if args.trail_delivery_interval:
        settings.trail_delivery_interval = args.trail_delivery_interval
    if args.trail_digest_interval:
        settings.trail_digest_interval = args.trail_digest_interval
    if args.no_cloudtrail:
        settings.cloudtrail = False
    level = settings.log_level.upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    where = "a temporary directory" if settings.ephemeral else os.path.abspath(settings.data_dir)
    logging.getLogger("cloudlet").info("cloudlet %s on http://%s:%d, data in %s",
                                       __version__, settings.host, settings.port, where)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, loop="uvloop", http=http_protocol(settings),
                            lifespan="on", log_level=settings.log_level.lower(), access_log=False,
                            server_header=False, proxy_headers=False, timeout_keep_alive=75)
    uvicorn.Server(config).run()
    return 0


def cmd_status(args) -> int:
    print(json.dumps(_admin(args, "GET", "/_cloudlet/health"), indent=2))
    return 0


def cmd_reset(args) -> int:
    query = f"?service={args.service}" if args.service else ""
    print(json.dumps(_admin(args, "POST", "/_cloudlet/reset" + query)))
    return 0


def cmd_clock(args) -> int:
    action = args.action or "show"
    if action == "show":
        out = _admin(args, "GET", "/_cloudlet/clock")
    elif action == "advance":
        out = _admin(args, "POST", "/_cloudlet/clock", {"advance": float(args.value)})
    elif action == "set":
        out = _admin(args, "POST", "/_cloudlet/clock", {"set": args.value})
    elif action == "real":
        out = _admin(args, "POST", "/_cloudlet/clock", {"real": True})
    else:
        raise SystemExit(f"cloudlet: unknown clock action {action}")
    print(json.dumps(out))
    return 0


def cmd_env(args) -> int:
    endpoint = _endpoint(args)
    for line in (f"export AWS_ENDPOINT_URL={endpoint}", "export AWS_ACCESS_KEY_ID=test",
                 "export AWS_SECRET_ACCESS_KEY=test", "export AWS_DEFAULT_REGION=us-east-1"):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudlet", description="A whole AWS region on one machine.")
    parser.add_argument("--version", action="version", version=f"cloudlet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the AWS APIs on one port")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 4566)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--data-dir", help="where state is kept (default ./.cloudlet)")
    where.add_argument("--ephemeral", action="store_true", help="keep state in a temporary directory")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info")
    serve.add_argument("--virtual-clock", action="store_true", help="start with the clock standing still")
    serve.add_argument("--strict-auth", action="store_true", help="reject access keys cloudlet did not issue")
    serve.add_argument("--no-cloudtrail", action="store_true",
                       help="do not record API calls for CloudTrail (CLOUDLET_CLOUDTRAIL=off)")
    serve.add_argument("--trail-delivery-interval", type=float, metavar="SECONDS",
                       help="clock seconds between CloudTrail log file deliveries (default 300)")
    serve.add_argument("--trail-digest-interval", type=float, metavar="SECONDS",
                       help="clock seconds between CloudTrail digest files (default 3600)")
    serve.add_argument("--iam-mode", choices=["enforce", "soft", "off"],
                       help="enforce IAM policies (default), only log denials, or skip evaluation")
    serve.set_defaults(func=cmd_serve)

    for name, func, help_ in (("status", cmd_status, "show a running cloudlet's health"),
                              ("env", cmd_env, "print shell exports for AWS tools")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--endpoint", help="cloudlet URL (default http://localhost:4566)")
        p.set_defaults(func=func)

    reset = sub.add_parser("reset", help="forget all state (or one service's)")
    reset.add_argument("--service")
    reset.add_argument("--endpoint")
    reset.set_defaults(func=cmd_reset)

    clock = sub.add_parser("clock", help="show or move the clock")
    clock.add_argument("action", nargs="?", choices=["show", "advance", "set", "real"])
    clock.add_argument("value", nargs="?")
    clock.add_argument("--endpoint")
    clock.set_defaults(func=cmd_clock)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
