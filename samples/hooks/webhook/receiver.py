#!/usr/bin/env python3
"""A receiver for framelogd's webhook hook: checks each POST's signature.

    receiver.py --secret S [--port 8099] [--host 127.0.0.1] [--log FILE] [--fail N]

Every POST's X-Framelog-Signature must be "sha256=" and the lowercase hex
of HMAC-SHA256(secret, body): one that verifies is answered 204 and
printed (and appended to FILE) as one JSON line
    {"verified": true, "delivery": "<X-Framelog-Delivery>", "event": {...}}
one that does not is answered 401 and printed with "verified": false.
--fail N answers 503 to the first N POSTs (the hook retries them).
Prints "listening on HOST:PORT" first (--port 0: any free port).
Python's standard library only; samples/hooks/webhook/README.md.
"""
import argparse
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_BODY = 4 << 20


def verify(secret: bytes, body: bytes, header: str) -> bool:
    want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header or "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secret", help="the webhook's shared secret")
    ap.add_argument("--secret-file", help="read the secret from this file (one trailing newline dropped)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--log", help="append one JSON line per POST to this file")
    ap.add_argument("--fail", type=int, default=0, help="answer 503 to the first N POSTs")
    a = ap.parse_args()
    if a.secret_file:
        with open(a.secret_file, "rb") as f:
            secret = f.read()
        secret = secret[:-1] if secret.endswith(b"\n") else secret
        secret = secret[:-1] if secret.endswith(b"\r") else secret
    elif a.secret:
        secret = a.secret.encode()
    else:
        ap.error("--secret or --secret-file is required")
    log = open(a.log, "a", encoding="utf-8") if a.log else None
    state = {"fail": a.fail}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the hook reuses its connection

        def answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0 or n > MAX_BODY:
                self.answer(413)
                return
            body = self.rfile.read(n)
            if state["fail"] > 0:
                state["fail"] -= 1
                self.answer(503)
                return
            ok = verify(secret, body, self.headers.get("X-Framelog-Signature"))
            line = {"verified": ok, "delivery": self.headers.get("X-Framelog-Delivery")}
            try:
                line["event"] = json.loads(body)
            except ValueError:
                line["event"] = None
                line["verified"] = False
            text = json.dumps(line, separators=(",", ":"))
            print(text, flush=True)
            if log:
                log.write(text + "\n")
                log.flush()
            self.answer(204 if line["verified"] else 401)

        def log_message(self, fmt, *args) -> None:  # quiet: the JSON lines say it all
            pass

    srv = HTTPServer((a.host, a.port), Handler)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
