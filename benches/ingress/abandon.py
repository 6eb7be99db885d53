#!/usr/bin/env python3
"""Reproduces the failure run.sh warns about: requests abandoned by their client while
Fixpoint is inside `begin_with("BEGIN IMMEDIATE")` leave pooled SQLite connections in
a transaction, after which every delivery is answered 503 until a restart.

Each round opens CONC connections, writes one signed delivery on each, waits 0-4 ms,
and resets them all (SO_LINGER 0), then sends 3 ordinary deliveries one by one and
prints their status codes. Stops at the first round where none of the 3 is a 2xx.
Bounded: at most ROUNDS rounds, 15 s timeout per ordinary delivery.

Usage: abandon.py PORT PAYLOAD_FILE ROUNDS CONC
  (PAYLOAD_FILE from gen_payloads.py with at least ROUNDS*(CONC+3) lines, signed with
  the server's WEBHOOK_SECRET). Exit status 1 when the server stopped accepting.
"""
import http.client
import random
import socket
import struct
import sys
import time


def raw_request(guid, sig, body):
    head = (
        "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: {guid}\r\n"
        f"X-Hub-Signature-256: {sig}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    port, path, rounds, conc = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path, "rb") as f:
        lines = [l.rstrip(b"\n").split(b"\t", 2) for l in f]
    need = rounds * (conc + 3)
    if len(lines) < need:
        sys.exit(f"abandon.py: need {need} deliveries, {path} holds {len(lines)}")
    k = 0
    for r in range(1, rounds + 1):
        socks = []
        for _ in range(conc):
            guid, sig, body = lines[k]
            k += 1
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(raw_request(guid.decode(), sig.decode(), body))
            socks.append(s)
        time.sleep(random.uniform(0, 0.004))
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        time.sleep(0.05)
        codes = []
        for _ in range(3):
            guid, sig, body = lines[k]
            k += 1
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            t = time.monotonic()
            try:
                c.request("POST", "/webhooks", body=body, headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "workflow_run",
                    "X-GitHub-Delivery": guid.decode(),
                    "X-Hub-Signature-256": sig.decode(),
                })
                resp = c.getresponse()
                resp.read()
                codes.append(f"{resp.status} ({(time.monotonic() - t) * 1000:.0f} ms)")
            except (OSError, http.client.HTTPException) as e:
                codes.append(f"error {type(e).__name__}")
            finally:
                c.close()
        print(f"round {r}: after {conc} abandoned requests: {', '.join(codes)}", flush=True)
        if not any(c.startswith("2") for c in codes):
            print("the server no longer accepts deliveries")
            return 1
    print(f"still accepting after {rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
