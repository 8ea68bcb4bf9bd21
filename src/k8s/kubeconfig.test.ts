import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { loadKubeconfig } from "./kubeconfig";

let tmp: string;
const cfg = (clusters: string, contexts: string, current?: string) =>
  `apiVersion: v1\nkind: Config\nclusters: [${clusters}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [${contexts}]\n${current ? `current-context: ${current}\n` : ""}`;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  writeFileSync(
    join(tmp, "a"),
    cfg(
      `{name: one, cluster: {server: "https://one.example:6443"}}`,
      `{name: one, context: {cluster: one, user: u, namespace: team}}`,
      "one",
    ),
  );
  writeFileSync(
    join(tmp, "b"),
    cfg(
      `{name: two, cluster: {server: "https://two.example:6443"}}`,
      `{name: two, context: {cluster: two, user: u}}, {name: ghost, context: {cluster: nowhere, user: u}}`,
      "two",
    ),
  );
  writeFileSync(
    join(tmp, "none"),
    cfg(`{name: one, cluster: {server: "https://one.example:6443"}}`, `{name: one, context: {cluster: one, user: u}}`),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("loadKubeconfig", () => {
  it("merges $KUBECONFIG files like kubectl: the first file's current context wins", () => {
    const k = loadKubeconfig({ env: { KUBECONFIG: `${join(tmp, "a")}:${join(tmp, "missing")}:${join(tmp, "b")}` } });
    expect(k).toMatchObject({
      context: "one",
      server: "https://one.example:6443",
      namespace: "team",
      files: [join(tmp, "a"), join(tmp, "b")],
    });
    const two = loadKubeconfig({ env: { KUBECONFIG: `${join(tmp, "a")}:${join(tmp, "b")}` }, context: "two" });
    expect(two).toMatchObject({ context: "two", server: "https://two.example:6443", namespace: undefined });
  });

  it("--kubeconfig wins over $KUBECONFIG; ~/.kube/config is the default", () => {
    expect(loadKubeconfig({ env: { KUBECONFIG: join(tmp, "a") }, kubeconfig: join(tmp, "b") }).context).toBe("two");
    expect(() => loadKubeconfig({ env: { HOME: tmp } })).toThrow(
      `no kubeconfig: ${join(tmp, ".kube", "config")} does not exist`,
    );
  });

  it("a context whose cluster is missing, and no current context, are named", async () => {
    const ghost = await pipelineErrorOf(
      Promise.resolve().then(() => loadKubeconfig({ env: {}, kubeconfig: join(tmp, "b"), context: "ghost" })),
    );
    expect(ghost.message).toBe(
      `context "ghost" in ${join(tmp, "b")} refers to cluster "nowhere", which is not defined or has no server`,
    );
    const none = await pipelineErrorOf(
      Promise.resolve().then(() => loadKubeconfig({ env: {}, kubeconfig: join(tmp, "none") })),
    );
    expect(none).toMatchObject({
      code: "E_KUBE_CONTEXT",
      message: `${join(tmp, "none")} has no current context: pass --context (contexts: one)`,
    });
  });
});
