// The Probot side of the ingress benchmark: a no-op `workflow_run` handler served by
// Probot 14's own webhook middleware on a plain Node http server, on PORT at /webhooks.
//
// Probot verifies X-Hub-Signature-256 with WEBHOOK_SECRET, runs the handler, and answers
// 200 "ok" after the handler resolved; nothing is stored (Probot has no queue).
// It needs APP_ID and PRIVATE_KEY_PATH (or PRIVATE_KEY) like any Probot app.
//
//   PROBOT_NODE_MODULES=tests/node/node_modules APP_ID=1 PRIVATE_KEY_PATH=key.pem \
//     WEBHOOK_SECRET=... PORT=3001 node benches/ingress/probot-app.mjs
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const modules = resolve(process.env.PROBOT_NODE_MODULES ?? "tests/node/node_modules");
const { createNodeMiddleware, createProbot } = await import(
  pathToFileURL(join(modules, "probot", "lib", "index.js")).href
);

let handled = 0;
const app = (app) => {
  app.on("workflow_run", async () => {
    handled += 1;
  });
};

// createProbot reads APP_ID, PRIVATE_KEY(_PATH), WEBHOOK_SECRET and LOG_LEVEL (default warn).
const probot = createProbot();
const middleware = await createNodeMiddleware(app, { probot, webhooksPath: "/webhooks" });

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" }).end(`ok ${handled}\n`);
    return;
  }
  middleware(req, res, () => {
    res.writeHead(404).end();
  });
});
// Same as Node's default for keep-alive clients, stated so the comparison is explicit.
server.keepAliveTimeout = 5000;
const port = Number(process.env.PORT ?? 3001);
server.listen(port, "127.0.0.1", () => {
  console.error(`probot ingress bench app listening on 127.0.0.1:${port}/webhooks`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    console.error(`probot ingress bench app: handled ${handled} workflow_run deliveries`);
    server.close();
    process.exit(0);
  });
}
