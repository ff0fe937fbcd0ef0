"""What authentication and TLS cost: the rate of GETs of one Namespace on plain HTTP without authentication (the
baseline), with a `--token-auth-file` token, and over TLS (`--secure`) with a token, a client certificate
(`--client-ca-file`) or as a front proxy names the user (`--requestheader-client-ca-file`, `X-Remote-User`).

    python -m loadtest.authbench [--requests 4000] [--concurrency 16] [--rounds 2]

Each server runs as its own process (`python -m apiserver`), started anew for every round; the rounds are
interleaved and each configuration's best round counts, which keeps out most of the noise of a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp

from apiserver.certificates import new_ca, new_client_certificate
from apiserver.testing import free_port

TOKEN = "authbench-token"
PATH = "/api/v1/namespaces/default"
# name: (flags, scheme, the credential sent: "", "token", "certificate" or "front proxy")
CONFIGURATIONS = {
    "http, no authentication": ((), "http", ""),
    "http, token": (("--token-auth-file", "{tokens}"), "http", "token"),
    "https (--secure), token": (("--secure", "--token-auth-file", "{tokens}"), "https", "token"),
    "https, client certificate": (("--secure", "--client-ca-file", "{ca}"), "https", "certificate"),
    "https, front proxy": (("--secure", "--requestheader-client-ca-file", "{ca}"), "https", "front proxy"),
}
HEADERS = {"": {}, "token": {"Authorization": f"Bearer {TOKEN}"}, "certificate": {},
           "front proxy": {"X-Remote-User": "bench", "X-Remote-Group": "benchers"}}


async def rate(url: str, credential: str, verify: ssl.SSLContext | bool, requests: int, concurrency: int) -> float:
    """GETs per second of `url` from `concurrency` keep-alive connections, after a warm-up."""
    headers = HEADERS[credential]
    connector = aiohttp.TCPConnector(ssl=verify, limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        async def get() -> None:
            async with session.get(url) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"GET {url}: {answer.status}")
                await answer.read()

        for _ in range(200):
            await get()
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await get()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


def measure(name: str, requests: int, concurrency: int) -> float:
    flags, scheme, credential = CONFIGURATIONS[name]
    with tempfile.TemporaryDirectory(prefix="authbench-") as tmp:
        tokens = Path(tmp) / "tokens.csv"
        tokens.write_text(f"{TOKEN},bench,bench\n")
        ca = new_ca(Path(tmp), "client-ca")
        client = new_client_certificate(ca, Path(tmp), "bench", "bench")
        port = free_port()
        command = [sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "", "--cert-dir", tmp,
                   *(flag.format(tokens=tokens, ca=ca.cert) for flag in flags)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"{scheme}://127.0.0.1:{port}"
            wait_ready(url, server)
            verify: ssl.SSLContext | bool = True
            if scheme == "https":  # the CA --secure generated, names verified as a client would
                verify = ssl.create_default_context(cafile=str(Path(tmp) / "ca.crt"))
                if credential in ("certificate", "front proxy"):
                    verify.load_cert_chain(client.cert, client.key)
            return asyncio.run(rate(url + PATH, credential, verify, requests, concurrency))
        finally:
            server.terminate()
            server.wait()


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    context = ssl._create_unverified_context()
    while True:
        try:
            urllib.request.urlopen(url + "/readyz", context=context, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # 401: it answers
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {url} did not start") from None
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in CONFIGURATIONS:
            best[name] = max(best.get(name, 0.0), measure(name, args.requests, args.concurrency))
    baseline = best["http, no authentication"]
    print(f"GET {PATH}, {args.requests} requests on {args.concurrency} connections, best of {args.rounds} rounds")
    for name, value in best.items():
        print(f"  {name:26} {value:8.0f} req/s   ratio to plain HTTP {value / baseline:.2f}")


if __name__ == "__main__":
    main()
