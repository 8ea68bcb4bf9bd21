/**
 * Issue #11's image config attributes and stamping, through real Bazel on a consumer workspace: `user`,
 * `exposed_ports`, `volumes`, `workdir` reach the image config (read by skopeo), bad values fail the analysis
 * naming the attribute; a `--stamp` push expands `{KEY}` in `tags_to_push` and labels and adds the OCI annotations,
 * while an unstamped build keeps its digest and skips the tags it cannot resolve, saying so.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, QUIET, discard } from "../fixtures/bazel";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-stamp-"));
let reg: RunningRegistry;
let ws: string;
let statusScript: string;

function skopeo(args: string[]): string {
  const r = spawnSync("skopeo", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const digestOf = () => readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8").trim();

beforeAll(async () => {
  reg = await startRegistry();
  ws = makeConsumerWorkspace(join(tmp, "a"), "", { diskCache: false });
  statusScript = join(tmp, "status.sh");
  writeFileSync(statusScript, "#!/bin/sh\necho STABLE_GIT_COMMIT abc123\necho BUILD_EMBED_LABEL v1.2.3\n");
  chmodSync(statusScript, 0o755);
  const build = join(ws, "examples/hello/BUILD.bazel");
  const text = readFileSync(build, "utf8");
  const edited = text.replace(
    '    env = {"GREETING_STYLE": "shout"},\n',
    '    env = {"GREETING_STYLE": "shout"},\n    tags_to_push = ["{BUILD_EMBED_LABEL}", "git-{STABLE_GIT_COMMIT}", "stable"],\n    labels = {"commit": "{STABLE_GIT_COMMIT}"},\n',
  );
  expect(edited).not.toBe(text);
  writeFileSync(build, edited);

  mkdirSync(join(ws, "examples/attrs"));
  writeFileSync(join(ws, "examples/attrs/main.ts"), 'console.log("attrs");\n');
  writeFileSync(
    join(ws, "examples/attrs/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(
    name = "attrs",
    entry = "main.ts",
    registry = "${reg.host}",
    repository = "examples/attrs",
    base = "@pipeline-host-node//image",
    user = "node",
    exposed_ports = ["8080/tcp", "53/udp"],
    volumes = ["/data", "/cache"],
    workdir = "/srv",
)
`,
  );
  mkdirSync(join(ws, "examples/bad"));
  writeFileSync(join(ws, "examples/bad/main.ts"), "");
  const bad = (name: string, attr: string) =>
    `pipeline(name = "${name}", entry = "main.ts", registry = "${reg.host}", repository = "examples/bad", base = "@pipeline-host-node//image", ${attr})\n`;
  writeFileSync(
    join(ws, "examples/bad/BUILD.bazel"),
    'load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")\n' +
      bad("port", 'exposed_ports = ["http"]') +
      bad("volume", 'volumes = ["data"]') +
      bad("workdir", 'workdir = "srv"') +
      bad("user", 'user = "a:b:c"') +
      bad("tag", 'tags_to_push = ["v-{oops"]') +
      bad("label", 'labels = {"x": "{1X}"}'),
  );
});

afterAll(async () => {
  if (ws) await discard(ws);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("image config attributes", () => {
  test("user, exposed_ports, volumes and workdir show up in the image config", async () => {
    const r = await bazel(ws, ["build", "//examples/attrs:attrs_image"]);
    expect(r.code, r.stderr).toBe(0);
    const config = JSON.parse(
      skopeo(["inspect", "--config", `oci:${join(ws, "bazel-bin/examples/attrs/attrs_image")}:latest`]),
    ).config;
    expect(config.User).toBe("node");
    expect(config.ExposedPorts).toEqual({ "8080/tcp": {}, "53/udp": {} });
    expect(config.Volumes).toEqual({ "/data": {}, "/cache": {} });
    expect(config.WorkingDir).toBe("/srv");
    expect(config.Entrypoint).toEqual(["node", "/app/examples/attrs/main.js"]);
  });

  test("bad values fail the analysis naming the attribute and the value", async () => {
    const r = await bazel(ws, ["build", "--keep_going", "//examples/bad:all"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('`exposed_ports` entry "http" is not a port');
    expect(r.stderr).toContain('`volumes` must be an absolute path (like "/data"), got "data"');
    expect(r.stderr).toContain('`workdir` must be an absolute path (like "/data"), got "srv"');
    expect(r.stderr).toContain(
      '`user` must be USER or USER:GROUP, each a name or a numeric id (e.g. "1000:1000", "node"), got "a:b:c"',
    );
    expect(r.stderr).toContain('`tags_to_push` entry "v-{oops": "{" at offset 2 is not closed');
    expect(r.stderr).toContain('`labels` value of "x": "{1X}" is not a placeholder');
  });
});

describe("stamping", () => {
  test("a stamped push creates the stamped tag and the annotations while an unstamped build's digest is unchanged", async () => {
    const env = { PIPELINE_REPOSITORY: `${reg.host}/examples/hello` };
    let r = await bazel(ws, ["build", "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const unstamped = digestOf();

    r = await bazel(
      ws,
      ["run", ...QUIET, "--stamp", `--workspace_status_command=${statusScript}`, "//examples/hello:hello_push"],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const stamped = digestOf();
    expect(stamped).not.toBe(unstamped);
    expect(r.stdout.trim().split("\n").pop()).toBe(`${reg.host}/examples/hello@${stamped}`);
    expect(r.stderr).not.toContain("skipping tag");
    const tags = JSON.parse(skopeo(["list-tags", "--tls-verify=false", `docker://${reg.host}/examples/hello`])).Tags;
    // The SBOM referrer's fallback tag (docker-registry 2.8 has no referrers API) is named for the pushed digest.
    const fallbackTag = (digest: string) => digest.replace("sha256:", "sha256-");
    expect(tags.sort()).toEqual(["git-abc123", fallbackTag(stamped), "stable", "v1.2.3"]);
    const manifest = JSON.parse(
      skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/examples/hello:v1.2.3`]),
    );
    expect(manifest.annotations).toMatchObject({
      "org.opencontainers.image.revision": "abc123",
      "org.opencontainers.image.version": "v1.2.3",
    });
    expect(manifest.annotations["org.opencontainers.image.created"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(manifest.annotations["org.opencontainers.image.source"]).toBeUndefined(); // no STABLE_SOURCE_URL in the status
    const config = JSON.parse(
      skopeo(["inspect", "--config", "--tls-verify=false", `docker://${reg.host}/examples/hello:git-abc123`]),
    );
    expect(config.config.Labels.commit).toBe("abc123");

    // Unstamped again: the same digest as before the stamped build, and the templated tags are skipped, named.
    r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], {
      PIPELINE_REPOSITORY: `${reg.host}/examples/unstamped`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(digestOf()).toBe(unstamped);
    expect(r.stdout.trim().split("\n").pop()).toBe(`${reg.host}/examples/unstamped@${unstamped}`);
    expect(r.stderr).toContain(
      'skipping tag "{BUILD_EMBED_LABEL}": not stamped (build with --stamp and a --workspace_status_command that sets {BUILD_EMBED_LABEL})',
    );
    expect(r.stderr).toContain('skipping tag "git-{STABLE_GIT_COMMIT}": not stamped');
    expect(
      JSON.parse(skopeo(["list-tags", "--tls-verify=false", `docker://${reg.host}/examples/unstamped`])).Tags.sort(),
    ).toEqual([fallbackTag(unstamped), "stable"]);
    const plain = JSON.parse(
      skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/examples/unstamped:stable`]),
    );
    expect(Object.keys(plain.annotations ?? {}).filter((k) => !k.startsWith("org.opencontainers.image.base."))).toEqual(
      [],
    );
  });
});
