/**
 * `pipeline image --config`: the image rule's settings file (bazel/private/image/image_config.bzl writes it) has exactly
 * ImageSettings' keys; a key this CLI does not know (a rule from another version, a misspelled field) is an error
 * naming it, not a setting silently dropped from the image.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { runCli } from "../run-cli";
import type { CliIo } from "../io";

const tmp = mkdtempSync(join(tmpdir(), "cli-image-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function image(settings: object): Promise<{ code: number; stderr: string[] }> {
  const config = join(tmp, "config.json");
  writeFileSync(config, JSON.stringify(settings));
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: () => {},
    stderr: (l) => stderr.push(l),
    env: {},
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  const code = await runCli(
    ["image", "--config", config, "--out-layout", join(tmp, "out"), "--out-digest", join(tmp, "digest")],
    io,
  );
  return { code, stderr };
}

test("an unknown setting is refused, naming it (the old rule's workingDir)", async () => {
  const r = await image({ entrypoint: ["node", "/app/main.js"], workingDir: "/srv", exposedPorts: ["8080"] });
  expect(r.code).toBe(1);
  expect(r.stderr.join("\n")).toContain(
    "error[E_BAD_INPUT]: --config " +
      join(tmp, "config.json") +
      ': workingDir: unknown field (did you mean "workdir"?)',
  );
});

test("the settings the rule writes are accepted", async () => {
  const r = await image({
    entrypoint: ["node", "/app/main.js"],
    cmd: [],
    env: {},
    workdir: "/srv",
    labels: {},
    annotations: {},
    user: "",
    exposedPorts: ["8080"],
    volumes: [],
    os: "linux",
    architecture: "amd64",
  });
  expect(r.stderr).toEqual([]);
  expect(r.code).toBe(0);
});
