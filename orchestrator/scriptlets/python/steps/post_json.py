"""Post a JSON payload to a URL: a notification hook for dashboards, chat webhooks and CI systems.

Description:
    Sends one HTTP POST with a JSON body (Content-Type: application/json) and reports the response status.
    The payload is given as JSON text; add fields from the run with the recipe's templates
    ({{ run.id }}, {{ run.verdict }}, {{ step.name }}, {{ step.status }}, {{ step.reason }}).
    A 2xx answer is success; anything else, or no answer within the timeout, is a failure (exit 1).
    Result (stdout): {"url": ..., "status": 200, "response": "<first 200 characters of the body>"}.

Usage:
    python -m scriptlets.python.steps.post_json --url URL --payload JSON [--timeout SECONDS]
        [--header NAME:VALUE ...]

Arguments:
    --url URL            http:// or https:// address to post to (required)
    --payload JSON       the JSON body (required), e.g. '{"text": "run finished"}'
    --timeout SECONDS    how long to wait for an answer (default 10)
    --header NAME:VALUE  an extra request header; repeat for several (e.g. an Authorization header built
                         from a secret in the environment: pass it through the step's env)

    Exit codes: 0 posted (2xx); 1 the server refused or did not answer; 2 bad usage (bad URL or JSON).

Examples:
    python -m scriptlets.python.steps.post_json --url http://127.0.0.1:8080/hook --payload '{"ok": true}'

    As a recipe hook:
      hooks:
        on_run_end:
          - type: python
            module: scriptlets.python.steps.post_json
            params: {url: "http://dashboard.lab/api/runs",
                     payload: '{"run": "{{ run.id }}", "verdict": "{{ run.verdict }}"}'}

Limitations:
    One attempt, no retries (a hook must not hold up the runner). No proxy settings beyond the standard
    http_proxy/https_proxy variables that urllib honours.
"""
from __future__ import annotations

import os
import sys

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import json
from typing import Any

from scriptlets.python.core.base import BaseScriptlet, StepFailed, UsageError


class StepPostJson(BaseScriptlet):
    """POST a JSON payload to a URL."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", required=True, help="http(s) address to post to")
        parser.add_argument("--payload", required=True, metavar="JSON", help="the JSON body")
        parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="answer timeout")
        parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE", help="extra header")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        # Refuse what can never work before touching the network.
        if not params["url"].startswith(("http://", "https://")):
            raise UsageError(f"--url {params['url']!r}: give an http:// or https:// address")
        try:
            self.body = json.dumps(json.loads(params["payload"])).encode()
        except ValueError as exc:
            raise UsageError(f"--payload is not JSON: {exc}") from None
        for header in params["header"]:
            if ":" not in header:
                raise UsageError(f"--header {header!r}: use NAME:VALUE")

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        # Build the request: JSON body, content type, any extra headers.
        request = urllib.request.Request(params["url"], data=self.body, method="POST",
                                         headers={"Content-Type": "application/json"})
        for header in params["header"]:
            name, _, value = header.partition(":")
            request.add_header(name.strip(), value.strip())
        # Send it; a non-2xx status or no answer is a failure of the step.
        try:
            with urllib.request.urlopen(request, timeout=params["timeout"]) as answer:
                status, text = answer.status, answer.read(200).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise StepFailed(f"{params['url']} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StepFailed(f"could not post to {params['url']}: {reason}") from None
        self.log.info("posted %d bytes to %s: %d", len(self.body), params["url"], status)
        return {"url": params["url"], "status": status, "response": text}


if __name__ == "__main__":
    raise SystemExit(StepPostJson.cli())
