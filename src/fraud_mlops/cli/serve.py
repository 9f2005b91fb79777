"""Serving commands: ``serve`` runs the scoring API locally, ``score`` posts claims to one.

``serve`` runs the same FastAPI app as the Lambda (``lambda_api.app``) under uvicorn. That app
lives beside the library, not in it, so it is found next to the source tree (or in the current
directory); this command is the one place where the library reaches it.

``score`` posts a claims file in batches to ``--url``: the local server by default, or a Lambda
Function URL with ``AWS_IAM`` auth, in which case each request is signed with SigV4 (service
``lambda``) using the standard AWS credential chain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fraud_mlops.cli._args import positive_int
from fraud_mlops.errors import ConfigError, FraudMlopsError, ModelError
from fraud_mlops.progress import say

DEFAULT_URL = "http://127.0.0.1:8000"


class ScoringRequestError(FraudMlopsError):
    """The scoring API refused a request (4xx/5xx); the message carries its answer."""


def _port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    serve = sub.add_parser(
        "serve",
        help="run the scoring API locally (uvicorn) on the champion or a given model",
        formatter_class=fmt,
        description="Serve the scoring API (the Lambda's FastAPI app) with uvicorn. The model is "
        "loaded and verified\nbefore the server starts; OpenAPI docs at http://HOST:PORT/docs.",
        epilog="examples:\n"
        "  fraud-mlops serve                                  # champion of MODEL_STORE_URI\n"
        "  fraud-mlops serve --port 9000 --model-uri ./artifact\n"
        "  fraud-mlops serve --model-uri s3://models/claims-fraud/20260101T000000Z-run1",
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--model-uri",
        metavar="URI",
        help="artifact folder or <store>/<model>/<version|champion> "
        "(default: $MODEL_URI, else the champion of MODEL_STORE_URI)",
    )
    serve.set_defaults(func=_serve)

    score = sub.add_parser(
        "score",
        help="score a JSON file of claims through the API (local or a Lambda Function URL)",
        formatter_class=fmt,
        description="Post claims to the scoring API in batches and print the results as JSON. "
        'The file holds a JSON\nlist of claims, {"claims": [...]}, or JSON Lines (.jsonl). '
        "Requests to a Lambda Function URL\n(*.lambda-url.<region>.on.aws) are signed with SigV4 "
        "from the usual AWS credentials.",
        epilog="examples:\n"
        "  fraud-mlops score --file claims.json\n"
        "  fraud-mlops score --file claims.jsonl --url https://abc.lambda-url.eu-west-1.on.aws\n"
        "  fraud-mlops score --file claims.json --url https://api.example --auth none --out s.json",
    )
    score.add_argument("--file", required=True, metavar="PATH", help="claims (.json or .jsonl)")
    score.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    score.add_argument("--region", help="AWS region for signing (default: from the URL or env)")
    score.add_argument(
        "--auth",
        choices=("auto", "iam", "none"),
        default="auto",
        help="iam = SigV4-sign; auto = iam for Lambda Function URLs, none otherwise",
    )
    score.add_argument(
        "--batch-size", type=positive_int, default=1000, help="claims per request (default 1000)"
    )
    score.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    score.add_argument("--out", metavar="PATH", help="write the results here instead of stdout")
    score.set_defaults(func=_score)


# -- serve ---------------------------------------------------------------------------------
def _find_api_root() -> Path:
    """The folder holding ``lambda_api/``: the source checkout, else the current directory."""
    here = Path(__file__).resolve()
    for candidate in (*here.parents, Path.cwd()):
        if (candidate / "lambda_api" / "app.py").is_file():
            return candidate
    raise ConfigError(
        "cannot find the scoring app (lambda_api/app.py): run this from the fraud-mlops "
        "repository root"
    )


def _serve(args: argparse.Namespace) -> int:
    if args.model_uri:
        os.environ["MODEL_URI"] = args.model_uri
    root = str(_find_api_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    import importlib

    import uvicorn

    # Importing the app loads and verifies the model, like a Lambda cold start. If this process
    # imported it before (tests, notebooks), reload it so the model named now is the one served.
    loaded = sys.modules.get("lambda_api.app")
    api = importlib.reload(loaded) if loaded else importlib.import_module("lambda_api.app")

    if not api.holder.loaded:
        raise ModelError(f"not serving: {api.holder.reason}")
    service = api.holder.service
    say(
        f"serving {service.model_name} {service.model_version} on http://{args.host}:{args.port} "
        f"(docs at /docs; Ctrl-C stops)"
    )
    uvicorn.run(api.app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# -- score ---------------------------------------------------------------------------------
def read_claims(path: str) -> list[dict[str, Any]]:
    """Claims from a JSON list, a ``{"claims": [...]}`` object, or JSON Lines."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--file {path!r} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() in (".jsonl", ".ndjson"):
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--file {path!r} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "claims" in data:
        data = data["claims"]
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise ConfigError(
            f'--file {path!r}: expected a list of claim objects, {{"claims": [...]}}, or one '
            "claim object per line (.jsonl)"
        )
    if not data:
        raise ConfigError(f"--file {path!r} holds no claims")
    return data


def _is_function_url(host: str) -> bool:
    return ".lambda-url." in host and host.endswith(".on.aws")


def _region(args: argparse.Namespace, host: str) -> str:
    if args.region:
        return args.region
    if _is_function_url(host):  # <url-id>.lambda-url.<region>.on.aws
        return host.split(".lambda-url.", 1)[1].removesuffix(".on.aws")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("cannot tell the AWS region to sign for: pass --region or set AWS_REGION")
    return region


def sign_request(url: str, body: bytes, headers: dict[str, str], region: str) -> dict[str, str]:
    """Headers with a SigV4 signature for a Lambda Function URL (``AWS_IAM`` auth)."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise ConfigError(
            "no AWS credentials found to sign the request: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --auth none for a public URL"
        )
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", region).add_auth(request)
    return dict(request.headers.items())


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST and parse the JSON answer; 4xx/5xx and network errors become clear errors."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            detail = json.loads(raw).get("detail") or raw.decode(errors="replace")
        except (ValueError, AttributeError):
            detail = raw.decode(errors="replace")[:500]
        raise ScoringRequestError(f"{url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"cannot reach {url}: {reason}. Start a local server with `fraud-mlops serve`, "
            "or check --url."
        ) from None


def _score(args: argparse.Namespace) -> int:
    claims = read_claims(args.file)
    base = args.url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url {args.url!r} is not an http(s) URL")
    url = f"{base}/v1/score"
    sign = args.auth == "iam" or (args.auth == "auto" and _is_function_url(parts.hostname))
    region = _region(args, parts.hostname) if sign else None
    results: list[dict[str, Any]] = []
    version = None
    for start in range(0, len(claims), args.batch_size):
        body = json.dumps({"claims": claims[start : start + args.batch_size]}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if region:
            headers = sign_request(url, body, headers, region)
        answer = post_json(url, body, headers, args.timeout)
        results += answer["results"]
        version = answer["model_version"]
    flagged = sum(1 for r in results if r["flagged"])
    say(f"scored {len(results):,} claims with model {version}: {flagged:,} flagged")
    text = json.dumps({"model_version": version, "results": results}, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        say(f"results written to {args.out}")
    else:
        print(text)
    return 0
