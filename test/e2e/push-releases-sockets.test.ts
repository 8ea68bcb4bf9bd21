/**
 * Regression: a finished push or pull must leave no referenced socket behind. Responses nobody reads (HEAD, 201
 * with no body) used to pin keep-alive sockets with a 60 s timer, so every CLI run lingered a minute after
 * printing its result.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseReference } from "../../src/oci/reference";
import { pullToLayout } from "../../src/transfer/pull";
import { pushImage } from "../../src/registry/push";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

let reg: RunningRegistry;
const tmp = mkdtempSync(join(tmpdir(), "rp-sockets-"));

beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function referencedSocketsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => {
    const s = h as { remotePort?: number; _handle?: { hasRef?: () => boolean } };
    return s.remotePort === port && s._handle?.hasRef?.() === true;
  }).length;
}

test("push and pull leave no referenced socket to the registry", async () => {
  const image = randomImage({ layers: 3, layerSize: 64 * 1024 });
  const pushed = await pushImage(image, { registry: reg.host, repository: "sockets/test", tags: ["t"] });
  await new Promise((r) => setImmediate(r));
  expect(referencedSocketsTo(reg.port)).toBe(0);
  await pushImage(image, { registry: reg.host, repository: "sockets/test" }); // all HEADs, nothing uploaded
  await new Promise((r) => setImmediate(r));
  expect(referencedSocketsTo(reg.port)).toBe(0);
  await pullToLayout(parseReference(pushed.reference), join(tmp, "pulled"));
  await new Promise((r) => setImmediate(r));
  expect(referencedSocketsTo(reg.port)).toBe(0);
});
