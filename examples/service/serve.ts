// An HTTP service run by `pipeline run service.yaml` (the local container runner) or on Kubernetes
// (`pipeline deploy service.yaml --render`). Everything it serves comes from its deployment:
//   PORT                 the port from the spec (`port:`)
//   GREETING, SERVICE_NAME  env from the spec and from the BUILD file
//   $MODEL_BASE_PATH     the model artifact the runner synced and mounted (`models:`)
//   /opt/repos/private   the private git repository the runner cloned (`repositories:`)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const port = Number(process.env.PORT ?? "8080");
const modelDir = process.env.MODEL_BASE_PATH ?? "/opt/models";
const repoDir = process.env.REPO_DIR ?? "/opt/repos/private";

function readIfPresent(path: string): string | null {
  return existsSync(path) ? readFileSync(path, "utf8").trim() : null;
}

function status(): Record<string, unknown> {
  return {
    service: process.env.SERVICE_NAME ?? null,
    greeting: process.env.GREETING ?? null,
    model: existsSync(modelDir) ? readdirSync(modelDir).sort() : null,
    modelVersion: readIfPresent(join(modelDir, "VERSION")),
    repoReadme: readIfPresent(join(repoDir, "README.md")),
  };
}

const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(status()) + "\n");
});

server.listen(port, "0.0.0.0", () => console.log(`example-service listening on port ${port}`));

// Node as PID 1 ignores SIGTERM unless it handles it.
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    console.log(`example-service: ${sig}, closing`);
    server.close(() => process.exit(0));
  });
}
