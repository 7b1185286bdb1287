"""The container's health check: `python -m don_predictor.probe [URL]` exits 0 when the app answers ready, else 1,
with one plain line (Docker keeps it in `docker inspect`'s health log). Standard library only: it runs every
30 seconds and must start fast."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8501/readyz"


def main(argv: list[str]) -> int:
    url = argv[0] if argv else DEFAULT_URL
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(f"ready: {response.read().decode(errors='replace')}")
            return 0
    except urllib.error.HTTPError as error:  # 503: the body says why each backend cannot score
        print(f"not ready ({error.code}): {_reason(error.read())}")
    except OSError as error:  # refused, timed out: the server is not up
        print(f"no answer from {url}: {getattr(error, 'reason', error)}")
    return 1


def _reason(body: bytes) -> str:
    try:
        answer = json.loads(body)
        return "; ".join(f"{backend}: {text}" for backend, text in answer["backends"].items())
    except (ValueError, KeyError, TypeError, AttributeError):
        return body.decode(errors="replace")[:300]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
