/**
 * The image rule's --config JSON (bazel/private/image/image.bzl writes it) is checked field by field with the deployment
 * specs' schema machinery: each kind of bad field is E_BAD_INPUT naming the file, the field and the value received.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, expectTypeOf, it } from "vitest";
import { pipelineErrorOfSync } from "../../../test/fixtures/errors";
import { type ImageRuleConfig, readImageRuleConfig } from "./image";

const tmp = mkdtempSync(join(tmpdir(), "rp-image-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What image.bzl writes for a target with every attribute at its default. */
const GOOD = {
  entrypoint: ["node", "/app/main.js"],
  cmd: [],
  env: { NODE_ENV: "production" },
  workdir: "/app",
  labels: {},
  user: "",
  exposedPorts: ["8080/tcp"],
  volumes: [],
  annotations: {},
  os: "linux",
  architecture: "amd64",
};

let n = 0;
function configFile(value: unknown): string {
  const path = join(tmp, `config-${n++}.json`);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

describe("readImageRuleConfig", () => {
  it("returns the config as written, typed from the schema", () => {
    const cfg = readImageRuleConfig(configFile(GOOD));
    expect(cfg).toEqual(GOOD);
    expectTypeOf(cfg.entrypoint).toEqualTypeOf<string[]>();
    expectTypeOf(cfg.env).toEqualTypeOf<Record<string, string>>();
    expectTypeOf<ImageRuleConfig["volumes"]>().toEqualTypeOf<string[] | undefined>();
  });

  it.each([
    ["a field of the wrong type", { ...GOOD, cmd: "node main.js" }, 'cmd: expected a list (got "node main.js")'],
    [
      "a list item of the wrong type",
      { ...GOOD, exposedPorts: ["8080/tcp", 8081] },
      'exposedPorts[1]: expected a string (quote it: "8081") (got 8081)',
    ],
    [
      "a mapping value of the wrong type",
      { ...GOOD, env: { PORT: 8080 } },
      'env.PORT: expected a string (quote it: "8080") (got 8080)',
    ],
    [
      "an unknown field",
      { ...GOOD, workDir: "/srv" },
      'workDir: unknown field (did you mean "workdir"?); known fields: entrypoint, cmd, env, workdir, labels, user, exposedPorts, volumes, annotations, os, architecture',
    ],
    ["a missing required field", (({ os: _os, ...rest }) => rest)(GOOD), 'os: missing required field "os"'],
    ["not a mapping", ["linux"], "expected a mapping of image config fields (entrypoint, cmd, env, ...) (got a list)"],
  ])("%s: E_BAD_INPUT naming the file, the field and the value", (_what, value, message) => {
    const path = configFile(value);
    const e = pipelineErrorOfSync(() => readImageRuleConfig(path));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toBe(`--config ${path}: ${message}`);
  });

  it("every problem at once, one a line", () => {
    const path = configFile({ ...GOOD, user: 0, labels: [] });
    const e = pipelineErrorOfSync(() => readImageRuleConfig(path));
    expect(e.message.split("\n")).toEqual([
      `--config ${path}: labels: expected a mapping of names to values (got a list)`,
      `--config ${path}: user: expected a string (quote it: "0") (got 0)`,
    ]);
  });
});
