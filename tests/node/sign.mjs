// Signs a webhook body the way GitHub does, with GitHub's own library.
// Usage: node sign.mjs SECRET < body   → prints sha256=<hex>
import { sign } from "@octokit/webhooks-methods";

const secret = process.argv[2];
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
// The library signs a string; decode as UTF-8, exactly as the bytes were sent.
const body = Buffer.concat(chunks).toString("utf8");
process.stdout.write(await sign(secret, body));
