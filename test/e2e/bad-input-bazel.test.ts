/**
 * Bad BUILD attributes under real Bazel, in one consumer workspace: each case must fail the build with a message
 * naming the attribute and the value it got (Starlark `fail()` of our rules and macro, Bazel's own for a label
 * that does not exist, tsc's for a type error). bazel-hello.test.ts already covers a repository with a tag, a
 * registry with https://, a missing entry file and a type error in the entry; these are other ones.
 *
 * Cases (17, and 18-20: the repository and registry grammars are the CLI's, generated into grammar.bzl):
 *   1 repository with a digest             2 repository with uppercase        3 registry with a path
 *   4 registry with another scheme         5 registry empty                   6 tags_to_push entry with ":"
 *   7 base that is a plain file            8 base label that does not exist   9 entry that is not .ts/.js
 *  10 entry from another package          11 env key with "="                12 type error in a `srcs` file
 *  13 two images with the same name       14 env value that is not a string  15 base and bases both set
 *  16 bases an empty dict                 17 entry that is a list            18 repository component "-app"
 *  19 registry with "_"                   20 the grammars' edges pass analysis ([::1]:5000, a__b.c--d)
 * (Macro failures stop the whole package from loading, so 14-17 each get a package of their own.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bad-bazel-"));
let ws: string;
let borrowed: Borrowed | undefined;

const LOAD = 'load("@rules_pipeline//bazel:pipeline.bzl", "pipeline", "pipeline_push")\n';
const DIGEST = "sha256:" + "a".repeat(64);

/** `pipeline(...)` with good defaults and `attrs` (Starlark source) on top. */
function pipelineCall(name: string, attrs: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    entry: '"main.ts"',
    registry: '"localhost:5000"',
    repository: '"team/app"',
    ...attrs,
  };
  return `pipeline(\n    name = "${name}",\n${Object.entries(all)
    .map(([k, v]) => `    ${k} = ${v},`)
    .join("\n")}\n)\n`;
}

function writePackage(pkg: string, build: string, files: Record<string, string> = {}): void {
  const dir = join(ws, pkg);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "BUILD.bazel"), LOAD + build);
  writeFileSync(
    join(dir, "main.ts"),
    'import { hasContainerImage } from "@rules_pipeline/runtime";\nconsole.log(hasContainerImage());\n',
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

beforeAll(() => {
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
  writePackage(
    "bad/rules",
    [
      pipelineCall("repo_digest", { repository: `"team/app@${DIGEST}"` }),
      pipelineCall("repo_upper", { repository: '"Team/App"' }),
      pipelineCall("repo_dash", { repository: '"team/-app"' }),
      pipelineCall("registry_underscore", { registry: '"my_registry:5000"' }),
      pipelineCall("grammar_edges", { registry: '"[::1]:5000"', repository: '"team/a__b.c--d/e_f"' }),
      pipelineCall("registry_path", { registry: '"localhost:5000/v2"' }),
      pipelineCall("registry_scheme", { registry: '"docker://ghcr.io"' }),
      pipelineCall("registry_empty", { registry: '""' }),
      pipelineCall("tag_colon", { tags_to_push: '["v1:latest"]' }),
      pipelineCall("base_file", { base: '"plain.txt"' }),
      pipelineCall("base_unknown", { base: '"//no/such/package:image"' }),
      pipelineCall("entry_txt", { entry: '"notes.txt"' }),
      pipelineCall("entry_elsewhere", { entry: '"//bad/other:other.ts"' }),
      pipelineCall("env_key", { env: '{"A=B": "x"}' }),
      pipelineCall("ts_error", { entry: '"uses_lib.ts"', srcs: '["lib.ts"]' }),
      pipelineCall("dup_a"),
      pipelineCall("dup_b"),
      `pipeline_push(
    name = "dup_names_push",
    images = {":dup_a_image": "default", ":dup_b_image": "default"},
    registry = "localhost:5000",
    repository = "team/app",
)
`,
    ].join("\n"),
    {
      "plain.txt": "not an image\n",
      "notes.txt": "not a script\n",
      "lib.ts": "export function twice(n: number): number {\n  return 2 * n;\n}\n",
      "uses_lib.ts": 'import { twice } from "./lib";\nconsole.log(twice("three"));\n',
    },
  );
  mkdirSync(join(ws, "bad/other"), { recursive: true });
  writeFileSync(join(ws, "bad/other/BUILD.bazel"), 'exports_files(["other.ts"])\n');
  writeFileSync(join(ws, "bad/other/other.ts"), "console.log('other');\n");
  writePackage("bad/env_type", pipelineCall("env_type", { env: '{"N": 1}' }));
  writePackage("bad/both_bases", pipelineCall("both", { base: '"//x:base"', bases: '{"cuda": "//x:cuda"}' }));
  writePackage("bad/bases_empty", pipelineCall("no_bases", { bases: "{}" }));
  writePackage("bad/entry_list", pipelineCall("entry_list", { entry: '["main.ts"]' }));
});

afterAll(async () => {
  await borrowed?.release();
  rmSync(tmp, { recursive: true, force: true });
});

/** Builds `target`, which must fail; returns Bazel's whole output. */
async function buildFails(target: string): Promise<string> {
  const r = await bazel(ws, ["build", "--noshow_progress", target]);
  const out = r.stdout + r.stderr;
  expect(r.code, out).not.toBe(0);
  return out;
}

describe("bad BUILD attributes fail the build naming the attribute and the value", () => {
  test("1 repository with a digest", async () => {
    expect(await buildFails("//bad/rules:repo_digest_push")).toContain(
      `//bad/rules:repo_digest_push: \`repository\` attribute should not contain digest or tag. got: "team/app@${DIGEST}"`,
    );
  });
  test("2 repository with uppercase", async () => {
    expect(await buildFails("//bad/rules:repo_upper_push")).toContain(
      '`repository` must be lowercase path components separated by "/". got: "Team/App"',
    );
  });
  test("3 registry with a path", async () => {
    expect(await buildFails("//bad/rules:registry_path_push")).toContain(
      '`registry` should be a host[:port] without scheme or path. got: "localhost:5000/v2"',
    );
  });
  test("4 registry with another scheme (the run target fails too)", async () => {
    expect(await buildFails("//bad/rules:registry_scheme")).toContain(
      '`registry` should be a host[:port] without scheme or path. got: "docker://ghcr.io"',
    );
  });
  test("5 registry empty", async () => {
    expect(await buildFails("//bad/rules:registry_empty_binary")).toContain(
      '//bad/rules:registry_empty_binary: `registry` must be set (e.g. "localhost:5000" or "ghcr.io")',
    );
  });
  test("6 tags_to_push entry with a colon", async () => {
    expect(await buildFails("//bad/rules:tag_colon_push")).toContain(
      '`tags_to_push` entry "v1:latest" is not a valid tag',
    );
  });
  test("7 base that is a plain file", async () => {
    expect(await buildFails("//bad/rules:base_file_image")).toContain(
      "`base`: //bad/rules:plain.txt is not an OCI image layout (expected a directory, or files including `oci-layout`), got 1 file(s): bad/rules/plain.txt",
    );
  });
  test("8 base label that does not exist (Bazel's message names the label and the target using it)", async () => {
    const out = await buildFails("//bad/rules:base_unknown_image");
    expect(out).toContain("no such package 'no/such/package'");
    expect(out).toContain("//bad/rules:base_unknown_image");
  });
  test("9 entry that is not a .ts or .js file", async () => {
    expect(await buildFails("//bad/rules:entry_txt_local")).toContain(
      '//bad/rules:entry_txt: `entry` must be a .ts or .js file, got "notes.txt"',
    );
  });
  test("10 entry from another package", async () => {
    expect(await buildFails("//bad/rules:entry_elsewhere_local")).toContain(
      "//bad/rules:entry_elsewhere: `entry` must be a file of package //bad/rules, got //bad/other:other.ts",
    );
  });
  test("11 env key with =", async () => {
    expect(await buildFails("//bad/rules:env_key_image")).toContain(
      '//bad/rules:env_key_image: `env` key "A=B" is not a valid variable name',
    );
  });
  test("12 a type error in a srcs file: tsc's message with file, line and code", async () => {
    expect(await buildFails("//bad/rules:ts_error_local")).toMatch(
      /bad\/rules\/uses_lib\.ts\(2,19\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/,
    );
  });
  test("13 two images with the same name", async () => {
    expect(await buildFails("//bad/rules:dup_names_push")).toContain(
      '//bad/rules:dup_names_push: `images`: two images are named "default"',
    );
  });
  test("18 a repository component starting with - (passed analysis and failed at bazel run before grammar.bzl)", async () => {
    expect(await buildFails("//bad/rules:repo_dash_push")).toContain(
      '//bad/rules:repo_dash_push: `repository` components are [a-z0-9] runs joined by ".", "_", "__" or "-"s, each starting and ending with a letter or digit. got: "team/-app"',
    );
  });
  test("19 a registry host with _", async () => {
    expect(await buildFails("//bad/rules:registry_underscore_push")).toContain(
      '//bad/rules:registry_underscore_push: `registry` should be a host[:port] (DNS labels of letters, digits and "-", or [IPv6]). got: "my_registry:5000"',
    );
  });
  test("20 what the CLI accepts passes analysis: an IPv6 registry, a repository with every separator", async () => {
    const r = await bazel(ws, [
      "build",
      "--nobuild",
      "--noshow_progress",
      "//bad/rules:grammar_edges_push",
      "//bad/rules:grammar_edges",
    ]);
    expect(r.code, r.stderr).toBe(0);
  });
  test("14 env value that is not a string", async () => {
    expect(await buildFails("//bad/env_type:env_type_local")).toContain(
      'pipeline env_type: `env` values must be strings; "N" is 1',
    );
  });
  test("15 base and bases both set", async () => {
    expect(await buildFails("//bad/both_bases:both_local")).toContain(
      'pipeline both: set `base` or `bases`, not both. got: base = "//x:base", bases = {"cuda": "//x:cuda"}',
    );
  });
  test("16 bases an empty dict", async () => {
    expect(await buildFails("//bad/bases_empty:no_bases_local")).toContain(
      "pipeline no_bases: `bases` must be a non-empty dict of image name to base image, got {}",
    );
  });
  test("17 entry that is a list", async () => {
    expect(await buildFails("//bad/entry_list:entry_list_local")).toContain(
      'pipeline entry_list: `entry` must be a file name, got ["main.ts"]',
    );
  });
});
