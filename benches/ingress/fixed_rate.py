#!/usr/bin/env python3
"""A fixed-rate load driver (stdlib only), because wrk cannot hold a rate and neither
wrk2 nor vegeta is packaged in Debian.

Request i is due at t0 + i/RATE. Keep-alive connections (one per thread, TCP_NODELAY)
take the next due request, wait for its time, send it and read the answer. Latency is
reported two ways:
  * from the due time ("intended"): counts the time a request waited because every
    connection was busy, so a stall is not hidden (no coordinated omission);
  * from the moment it was written ("service").
Bounded: exactly RATE*SECONDS requests, and every thread stops at SECONDS+30 s.

Usage: fixed_rate.py URL RATE SECONDS CONNECTIONS PAYLOAD_FILE [PAYLOAD_FILE ...]
Payload files are gen_payloads.py output; the i-th request sends the i-th delivery.
Prints a RESULT line like deliveries.lua does.
"""
import http.client
import itertools
import socket
import sys
import threading
import time
import urllib.parse


def load(paths, need):
    out = []
    files = [open(p, "rb") for p in paths]
    try:
        while len(out) < need:
            progressed = False
            for f in files:
                line = f.readline()
                if line:
                    guid, sig, body = line.rstrip(b"\n").split(b"\t", 2)
                    out.append((guid.decode(), sig.decode(), body))
                    progressed = True
            if not progressed:
                break
    finally:
        for f in files:
            f.close()
    if len(out) < need:
        sys.exit(f"fixed_rate: need {need} deliveries, the payload files hold {len(out)}")
    return out[:need]


def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    url = urllib.parse.urlsplit(sys.argv[1])
    rate, seconds, conns = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    total = int(rate * seconds)
    deliveries = load(sys.argv[5:], total)
    path = url.path or "/"
    next_index = itertools.count()
    lock = threading.Lock()
    intended, service, statuses, errors = [], [], {}, [0]
    t0 = time.monotonic() + 0.5
    deadline = t0 + seconds + 30

    def worker():
        conn = None
        my_int, my_srv, my_st, my_err = [], [], {}, 0
        while True:
            i = next(next_index)
            if i >= total or time.monotonic() > deadline:
                break
            due = t0 + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            guid, sig, body = deliveries[i]
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/bench",
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": guid,
                "X-Hub-Signature-256": sig,
            }
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                start = time.monotonic()
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                end = time.monotonic()
                my_int.append((end - due) * 1000)
                my_srv.append((end - start) * 1000)
                my_st[resp.status] = my_st.get(resp.status, 0) + 1
            except (OSError, http.client.HTTPException):
                my_err += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            intended.extend(my_int)
            service.extend(my_srv)
            for k, v in my_st.items():
                statuses[k] = statuses.get(k, 0) + v
            errors[0] += my_err

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline + 5 - time.monotonic()))
    elapsed = time.monotonic() - t0
    intended.sort()
    service.sort()
    done = len(intended)
    other = sum(v for k, v in statuses.items() if k not in (200, 202))
    print(
        f"RESULT requests={done} seconds={elapsed:.2f} rps={done / elapsed:.1f} "
        f"p50_ms={pct(intended, 50):.2f} p90_ms={pct(intended, 90):.2f} "
        f"p99_ms={pct(intended, 99):.2f} max_ms={intended[-1] if intended else float('nan'):.2f} "
        f"service_p50_ms={pct(service, 50):.2f} service_p99_ms={pct(service, 99):.2f} "
        f"status_202={statuses.get(202, 0)} status_200={statuses.get(200, 0)} "
        f"status_other={other} socket_errors={errors[0]} target_rps={rate:g}"
    )


if __name__ == "__main__":
    main()
