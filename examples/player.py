"""A tiny player for the tierbuffer HTTP API, standard library only.

Start the service with the API, then play a scripted session against it:

    tierbuffer serve --library ~/Music --http 127.0.0.1:8770
    python examples/player.py http://127.0.0.1:8770 [--token TOKEN]

It picks the first track, plays it through a few chunk requests, preset switches and a seek,
and prints what each request got (a hit from which tier, audio rendered while it waited, or 202
"ask again"). Every interaction carries an Idempotency-Key, so a retried request is appended once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from email.message import Message
from typing import Any


class Api:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _open(self, request: urllib.request.Request, timeout: float) -> tuple[int, Message, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()

    def get(self, path: str, timeout: float = 40.0) -> tuple[int, Message, bytes]:
        return self._open(urllib.request.Request(self.base + path, headers=self.headers), timeout)

    def interact(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST an interaction; retried once with the same Idempotency-Key on a network error."""
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        data = json.dumps(body).encode()
        for attempt in (1, 2):
            request = urllib.request.Request(
                self.base + "/v1/interactions", data=data, headers=headers, method="POST"
            )
            try:
                status, _, payload = self._open(request, 10.0)
            except OSError:
                if attempt == 2:
                    raise
                continue
            answer: dict[str, Any] = json.loads(payload)
            if status != 200:
                raise SystemExit(f"interaction refused ({status}): {answer['error']}")
            return answer
        raise AssertionError("unreachable")

    def chunk(self, index: int, wait_ms: int = 20_000) -> str:
        """Ask for chunk `index` of what plays; ask again while the answer is 202."""
        began = time.perf_counter()
        while True:
            status, headers, body = self.get(f"/v1/chunks/{index}?wait_ms={wait_ms}")
            if status == 200:
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                ok = "checksum ok" if digest == headers.get("X-Chunk-Checksum") else "BAD CHECKSUM"
                took = (time.perf_counter() - began) * 1000
                how = headers.get("X-Chunk-Status")
                return (
                    f"{how} ({headers.get('X-Chunk-Tier')}) {len(body) / 1e6:.1f} MB FLAC, "
                    f"{ok}, {took:.0f} ms"
                )
            if status == 202:
                retry = float(headers.get("Retry-After", "1"))
                print(
                    f"    chunk {index}: not ready ({json.loads(body)['detail']}), "
                    f"again in {retry:g} s"
                )
                time.sleep(retry)
                continue
            return f"{status}: {json.loads(body)['error']['message']}"


def play(api: Api) -> None:
    status, _, body = api.get("/v1/tracks")
    if status != 200:
        raise SystemExit(f"GET /v1/tracks: {status} {body[:200]!r}")
    tracks = json.loads(body)["tracks"]
    if not tracks:
        raise SystemExit("the library has no tracks")
    track = tracks[0]
    print(
        f"playing {track['track']} ({track['duration_ms'] / 1000:.0f} s, {track['chunks']} chunks)"
    )
    script: list[tuple[str, Any]] = [
        ("interact", {"type": "TrackChanged", "track": track["track"]}),
        ("interact", {"type": "PresetChanged", "preset": "warm"}),
        ("chunk", 0),
        ("interact", {"type": "PositionReported", "position_ms": 25_000}),
        ("chunk", 1),
        ("interact", {"type": "PresetChanged", "preset": "bright"}),
        ("chunk", 1),
        ("interact", {"type": "Seeked", "position_ms": 0}),
        ("chunk", 0),
    ]
    for kind, arg in script:
        if kind == "interact":
            answer = api.interact(arg)
            detail = " ".join(f"{k}={v}" for k, v in arg.items() if k != "type")
            print(f"  {arg['type']:<16} {detail:<24} -> seq {answer['seq']}")
        elif arg < track["chunks"]:
            print(f"  chunk {arg:<10} {'':<24} -> {api.chunk(arg)}")
    _, _, body = api.get("/v1/status")
    status_now = json.loads(body)
    hits = status_now["hits"]
    tiers = ", ".join(
        f"{n} {t['chunks']} chunks {t['bytes'] / 1e6:.1f} MB"
        for n, t in status_now["tiers"].items()
    )
    print(
        f"status: {hits['requests']} requests, hit rate {hits['hit_rate']}; {tiers}; "
        f"memory {status_now['memory_level']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", nargs="?", default="http://127.0.0.1:8770")
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    play(Api(args.base, args.token))


if __name__ == "__main__":
    main()
