#!/usr/bin/env python3
"""Writes signed, unique workflow_run deliveries for the ingress benchmark.

Each output line is `GUID<TAB>sha256=HEX<TAB>BODY`: one delivery with its own
X-GitHub-Delivery GUID, its own workflow_run.id (so Fixpoint's job dedupe does not
fold it into an earlier one) and the X-Hub-Signature-256 of exactly those body bytes.

The body is GitHub's own `workflow_run.completed` example from npm
@octokit/webhooks-examples, made into a failed run of an App installation:
`workflow_run.conclusion = "failure"` (and `status = "completed"`, which the example
leaves at "queued") and `installation: {"id": 1}`. The example's
run id is replaced everywhere it occurs (the id and the run URLs), so every body is
what GitHub would send for a different run. JSON is compact, as GitHub sends it.

Usage: gen_payloads.py EXAMPLES_INDEX_JSON SECRET FIRST_RUN_ID COUNT OUT [OUT ...]
Lines are dealt round-robin into the OUT files (one per load-generator thread).

Option --http (anywhere on the line): each delivery is written instead as the whole
HTTP request wrk sends (`POST /webhooks` with GitHub's headers), after its length as 9
digits and a newline.
deliveries.lua then only reads and sends: building a 17 kB request in Lua costs the
load generator about as much CPU as the request costs a server, and it shares the
server's cores.
"""
import hashlib
import hmac
import json
import sys
import uuid


def template(index_path):
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    entry = next(e for e in index if e.get("name") == "workflow_run")
    example = next(x for x in entry["examples"] if x.get("action") == "completed")
    example = json.loads(json.dumps(example))  # a private copy
    example["workflow_run"]["conclusion"] = "failure"
    example["workflow_run"]["status"] = "completed"  # the example says "queued"
    example["installation"] = {"id": 1}
    run_id = str(example["workflow_run"]["id"])
    body = json.dumps(example, separators=(",", ":"), ensure_ascii=False)
    if f'"id":{run_id},' not in body:
        sys.exit("gen_payloads: the example's run id is not where it was expected")
    return body, run_id


def http_request(guid, sig, body):
    head = (
        "POST /webhooks HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        "User-Agent: GitHub-Hookshot/bench\r\n"
        "X-GitHub-Event: workflow_run\r\n"
        f"X-GitHub-Delivery: {guid}\r\n"
        f"X-Hub-Signature-256: sha256={sig}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    return f"{len(request):09d}\n".encode() + request


def main():
    http = "--http" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--http"]
    if len(args) < 5:
        sys.exit(__doc__)
    index_path, secret, first, count = args[0], args[1], int(args[2]), int(args[3])
    outs = [open(p, "wb") for p in args[4:]]
    body, run_id = template(index_path)
    key = secret.encode()
    for i in range(count):
        b = body.replace(run_id, str(first + i)).encode()
        sig = hmac.new(key, b, hashlib.sha256).hexdigest()
        guid = uuid.uuid4()
        if http:
            record = http_request(guid, sig, b)
        else:
            record = f"{guid}\tsha256={sig}\t".encode() + b + b"\n"
        outs[i % len(outs)].write(record)
    for f in outs:
        f.close()


if __name__ == "__main__":
    main()
