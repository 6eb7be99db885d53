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


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    index_path, secret, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    outs = [open(p, "wb") for p in sys.argv[5:]]
    body, run_id = template(index_path)
    key = secret.encode()
    for i in range(count):
        b = body.replace(run_id, str(first + i)).encode()
        sig = hmac.new(key, b, hashlib.sha256).hexdigest()
        line = f"{uuid.uuid4()}\tsha256={sig}\t".encode() + b + b"\n"
        outs[i % len(outs)].write(line)
    for f in outs:
        f.close()


if __name__ == "__main__":
    main()
