/**
 * `pipeline run SPEC` and `pipeline deploy SPEC --render` take the same container paths for mounts: each bad
 * one is refused by both while the spec is read (E_SPEC, `FILE:LINE: PATH: problem (got VALUE)`), with the
 * same message, before any registry, git or runtime is asked for anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { pipelineErrorOf } from "../../../test/fixtures/errors";
import type { CliIo } from "../io";
import { deploy } from "./deploy";
import { run } from "./run";

const D = "sha256:" + "0123456789abcdef".repeat(4);
// Port 1 on loopback: nothing listens, so a run that got past the spec would fail fast, not hang or go out.
const IMAGE = `127.0.0.1:1/team/app@${D}`;
const MODEL = `127.0.0.1:1/models/m@${D}`;

const tmp = mkdtempSync(join(tmpdir(), "rp-mount-paths-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const io: CliIo = {
  stdout: () => undefined,
  stderr: () => undefined,
  env: { HOME: tmp },
  cwd: tmp,
  isTTY: false,
  readStdin: async () => "",
};

/** A container path, and what the message says about it. */
const BAD: [string, RegExp][] = [
  ["/", /cannot mount over the container's root "\/"/],
  ["/proc", /cannot mount on or under \/proc/],
  ["/proc/sys/kernel", /cannot mount on or under \/proc/],
  ["/sys", /cannot mount on or under \/sys/],
  ["/sys/fs/cgroup", /cannot mount on or under \/sys/],
  ["/dev", /cannot mount on or under \/dev/],
  ["/dev/shm", /cannot mount on or under \/dev/],
  ["//proc/", /cannot mount on or under \/proc/],
  ["/x:y", /must not contain ':'/],
  ["/a,b", /must not contain ','/],
  ["/opt/../proc", /must not contain '\.\.'/],
  ["/opt/models/..", /must not contain '\.\.'/],
  ["opt/models", /expected an absolute path/],
  ["/opt/a\tb", /control character/],
];

/** Where the path goes in a spec: the spec text (line 2 holds the path) and the YAML path of the field. */
const FIELDS: [string, (p: string) => string][] = [
  ["models[0].path", (p) => `image: ${IMAGE}\nmodels: [{id: ${MODEL}, path: ${JSON.stringify(p)}}]\n`],
  [
    "repositories.mountPath",
    (p) =>
      `image: ${IMAGE}\nrepositories: {dataset: d, mountPath: ${JSON.stringify(p)}, repositories: [{url: "http://127.0.0.1:1/a.git", name: a}]}\n`,
  ],
];

describe("run and deploy --render refuse the same mount paths, while reading the spec", () => {
  const cases = FIELDS.flatMap(([field, text]) =>
    BAD.map(([path, problem]) => [field, JSON.stringify(path), text(path), path, problem] as const),
  );
  test.each(cases)("%s: %s", async (field, _, text, path, problem) => {
    const spec = join(tmp, `spec-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(spec, text);
    const ran = await pipelineErrorOf(run({ spec, "cache-dir": join(tmp, "cache") }, io));
    const rendered = await pipelineErrorOf(deploy({ spec, render: true }, io));
    for (const e of [ran, rendered]) {
      expect(e.code, e.message).toBe("E_SPEC");
      expect(e.message).toMatch(
        new RegExp(`^${spec.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2: ${field.replace(/[.[\]]/g, "\\$&")}: `),
      );
      expect(e.message).toMatch(problem);
      expect(e.message.endsWith(` (got ${JSON.stringify(path)})`)).toBe(true);
    }
    expect(rendered.message).toBe(ran.message);
  });
});
