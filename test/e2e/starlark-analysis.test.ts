/**
 * Starlark analysis tests of the rules' attribute validation (test/starlark/expect_failure.bzl): each case is a rule
 * target with one bad attribute, analysed with --allow_analysis_failures by an `expect_failure_test` that fails its own
 * analysis unless the target failed with the expected message (the attribute and the value received). One
 * `bazel build --nobuild` analyses every case at once, on fake images and apps (no image is built, no tsc runs): a few
 * seconds once the workspace's repositories are fetched, instead of one 40-80 s build per bad attribute.
 *
 * `bazel test` cannot run here (its test runner needs @remote_coverage_tools from mirror.bazel.build): an empty local
 * override satisfies the analysis of test rules, and nothing is run. Macro checks (`pipeline(...)`) fail while loading,
 * before analysis: bad-input-bazel.test.ts covers them.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-starlark-"));
let ws: string;
let borrowed: Borrowed | undefined;

const DIGEST = "sha256:" + "a".repeat(64);
const q = (s: string) => JSON.stringify(s); // a Starlark string literal (same escapes as JSON for these values)

interface Case {
  name: string;
  rule: "pipeline_push" | "pipeline_launch" | "pipeline_image" | "pipeline_load";
  /** Starlark source of the attributes. */
  attrs: string;
  /** What the failure message must contain. */
  contains: string[];
}

/** Starlark source of `attrs` (name → Starlark expression). */
const starlark = (attrs: Record<string, string>) =>
  Object.entries(attrs)
    .map(([k, v]) => `${k} = ${v}`)
    .join(", ");
const PUSH: Record<string, string> = { images: '{":img": "default"}', registry: '"ghcr.io"', repository: '"team/app"' };
/** A pipeline_push case: good attributes but `over`. */
const push = (name: string, over: Record<string, string>, contains: string[]): Case => ({
  name,
  rule: "pipeline_push",
  attrs: starlark({ ...PUSH, ...over }),
  contains,
});

const CASES: Case[] = [
  push("registry_empty", { registry: '""' }, ["//bad:registry_empty: `registry` must be set"]),
  push("registry_scheme", { registry: '"https://ghcr.io"' }, [
    '`registry` should be a host[:port] without scheme or path. got: "https://ghcr.io"',
  ]),
  push("registry_path", { registry: '"localhost:5000/v2"' }, [
    '`registry` should be a host[:port] without scheme or path. got: "localhost:5000/v2"',
  ]),
  push("repository_empty", { repository: '""' }, ["//bad:repository_empty: `repository` must be set"]),
  push("repository_tag", { repository: '"team/app:v1"' }, [
    '`repository` attribute should not contain digest or tag. got: "team/app:v1"',
  ]),
  push("repository_digest", { repository: q(`team/app@${DIGEST}`) }, [
    `\`repository\` attribute should not contain digest or tag. got: "team/app@${DIGEST}"`,
  ]),
  push("repository_upper", { repository: '"Team/App"' }, [
    '`repository` must be lowercase path components separated by "/". got: "Team/App"',
  ]),
  push("repository_slashes", { repository: '"team//app"' }, [
    '`repository` must be lowercase path components separated by "/". got: "team//app"',
  ]),
  push("tag_colon", { tags_to_push: '["v1:latest"]' }, ['`tags_to_push` entry "v1:latest" is not a valid tag']),
  push("tag_slash", { tags_to_push: '["a/b"]' }, ['`tags_to_push` entry "a/b" is not a valid tag']),
  push("images_same_name", { images: '{":img": "default", ":img2": "default"}' }, [
    '//bad:images_same_name: `images`: two images are named "default"',
  ]),
  push("images_not_image", { images: '{":not_image": "default"}' }, [
    "`images`: //bad:not_image is not a pipeline_image",
  ]),
  push("sign_key_generated", { sign_key: '":gen_key"' }, [
    "//bad:sign_key_generated: `sign_key` must be a source file (a generated key would be an action output",
    "got: //bad:gen_key",
  ]),
  {
    name: "launch_binary_sign_key",
    rule: "pipeline_launch",
    attrs:
      'app = ":app", mode = "binary", images = {":img": "default"}, registry = "ghcr.io", repository = "a/b", sign_key = "cosign.key"',
    contains: [
      '//bad:launch_binary_sign_key: `sign_key` applies to the targets that push (NAME_push and NAME), not mode "binary". got: //bad:cosign.key',
    ],
  },
  {
    name: "launch_mode",
    rule: "pipeline_launch",
    attrs: 'app = ":app", mode = "remote"',
    contains: ['//bad:launch_mode: `mode` must be "local", "binary" or "run", got "remote"'],
  },
  {
    name: "launch_run_without_images",
    rule: "pipeline_launch",
    attrs: 'app = ":app", mode = "run"',
    contains: ['//bad:launch_run_without_images: `images` is required in mode "run"'],
  },
  {
    name: "image_port_name",
    rule: "pipeline_image",
    attrs: 'app = ":app", exposed_ports = ["http"]',
    contains: ['`exposed_ports` entry "http" is not a port'],
  },
  {
    name: "image_port_range",
    rule: "pipeline_image",
    attrs: 'app = ":app", exposed_ports = ["70000/tcp"]',
    contains: ['`exposed_ports` entry "70000/tcp" is not a port'],
  },
  {
    name: "image_workdir",
    rule: "pipeline_image",
    attrs: 'app = ":app", workdir = "data"',
    contains: ['`workdir` must be an absolute path (like "/data"), got "data"'],
  },
  {
    name: "image_volume",
    rule: "pipeline_image",
    attrs: 'app = ":app", volumes = ["data"]',
    contains: ['`volumes` must be an absolute path (like "/data"), got "data"'],
  },
  {
    name: "image_user",
    rule: "pipeline_image",
    attrs: 'app = ":app", user = "a:b:c"',
    contains: ["`user` must be USER or USER:GROUP", 'got "a:b:c"'],
  },
  {
    name: "image_env_key",
    rule: "pipeline_image",
    attrs: 'app = ":app", env = {"A=B": "x"}',
    contains: ['//bad:image_env_key: `env` key "A=B" is not a valid variable name'],
  },
  {
    name: "image_platform",
    rule: "pipeline_image",
    attrs: 'app = ":app", platforms = ["amd64"]',
    contains: ["`platforms` entry should be os/arch[/variant]", 'got: "amd64"'],
  },
  {
    name: "image_platform_twice",
    rule: "pipeline_image",
    attrs: 'app = ":app", platforms = ["linux/amd64", "linux/amd64"]',
    contains: ['`platforms` lists "linux/amd64" twice'],
  },
  {
    name: "load_image_name",
    rule: "pipeline_load",
    attrs: 'images = {":img": "bad name"}, registry = "ghcr.io", repository = "team/app"',
    contains: ["`images`: image names become tag suffixes", 'got: "bad name"'],
  },
  {
    name: "load_same_name",
    rule: "pipeline_load",
    attrs: 'images = {":img": "default", ":img2": "default"}, registry = "ghcr.io", repository = "team/app"',
    contains: ['//bad:load_same_name: `images`: two images are named "default"'],
  },
  {
    name: "load_repo_tag_without_tag",
    rule: "pipeline_load",
    attrs: 'images = {":img": "default"}, repo_tags = ["localhost:5000/x"]',
    contains: ['`repo_tags` entry should be REGISTRY/REPOSITORY:TAG (a tag, no digest). got: "localhost:5000/x"'],
  },
  {
    name: "load_no_tag",
    rule: "pipeline_load",
    attrs: 'images = {":img": "default"}',
    contains: ["//bad:load_no_tag: set `repo_tags`, or `registry` and `repository`"],
  },
];

const HEADER = `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_image", "pipeline_launch", "pipeline_load", "pipeline_push")
load("@rules_pipeline//test/starlark:expect_failure.bzl", "expect_failure_test", "fake_app", "fake_image")

fake_image(name = "img")

fake_image(name = "img2")

fake_app(name = "app")

filegroup(name = "not_image", srcs = [])
`;

function writeBuild(pkg: string, body: string): void {
  mkdirSync(join(ws, pkg), { recursive: true });
  writeFileSync(join(ws, pkg, "BUILD.bazel"), HEADER + body);
}

beforeAll(() => {
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
  const coverage = join(tmp, "remote_coverage_tools");
  mkdirSync(coverage);
  writeFileSync(join(coverage, "WORKSPACE"), "");
  writeFileSync(
    join(coverage, "BUILD.bazel"),
    ["coverage_report_generator", "lcov_merger"]
      .map((n) => `filegroup(name = "${n}", srcs = [], visibility = ["//visibility:public"])\n`)
      .join(""),
  );
  appendFileSync(join(ws, ".bazelrc"), `build --override_repository=remote_coverage_tools=${coverage}\n`);
  // A key made by an action (sign_key_generated), and a source one: the files are never read by the analysis.
  for (const pkg of ["bad", "good"]) {
    mkdirSync(join(ws, pkg), { recursive: true });
    writeFileSync(join(ws, pkg, "cosign.key"), "not read\n");
  }
  writeBuild(
    "bad",
    'genrule(name = "gen_key", srcs = ["cosign.key"], outs = ["copied.key"], cmd = "cp $< $@")\n' +
      CASES.map(
        (c) =>
          `\n${c.rule}(name = ${q(c.name)}, ${c.attrs}, tags = ["manual"])\n\n` +
          `expect_failure_test(name = ${q(c.name + "_test")}, target_under_test = ${q(":" + c.name)}, contains = [${c.contains.map(q).join(", ")}])\n`,
      ).join(""),
  );
  // Good targets on the same fakes: they analyse, so each case above fails for its one bad attribute alone.
  writeBuild(
    "good",
    `
pipeline_push(name = "push", images = {":img": "default", ":img2": "cuda"}, registry = "localhost:5000", repository = "team/app", tags_to_push = ["v1"])

pipeline_launch(name = "launch", app = ":app", mode = "run", images = {":img": "default"}, registry = "[::1]:5000", repository = "a/b")

pipeline_push(name = "signed", images = {":img": "default"}, registry = "localhost:5000", repository = "team/app", sign_key = "cosign.key")

pipeline_image(name = "image", app = ":app", exposed_ports = ["8080", "53/udp"], workdir = "/app", volumes = ["/data"], user = "1000:node", env = {"A_1": "x"}, platforms = ["linux/amd64", "linux/arm64/v8"])

pipeline_load(name = "load", images = {":img": "default", ":img2": "cuda"}, repo_tags = ["localhost:5000/x:v1"])
`,
  );
  // The harness itself can fail: a good target, and a bad one with a message it does not give.
  writeBuild(
    "harness",
    `
pipeline_push(name = "fine", ${starlark(PUSH)}, tags = ["manual"])

expect_failure_test(name = "fine_test", target_under_test = ":fine", contains = ["anything"])

pipeline_push(name = "bad", images = {":img": "default"}, registry = "ghcr.io", repository = "Team/App", tags = ["manual"])

expect_failure_test(name = "wrong_message_test", target_under_test = ":bad", contains = ["a message nobody writes"])
`,
  );
});

afterAll(async () => {
  await borrowed?.release();
  rmSync(tmp, { recursive: true, force: true });
});

describe("attribute validation, by Starlark analysis tests", () => {
  test(`${CASES.length} bad attributes each fail analysis naming the attribute and the value; the same rules analyse with good ones`, async () => {
    const r = await bazel(ws, ["build", "--nobuild", "--keep_going", "--noshow_progress", "//bad:all", "//good:all"]);
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(0);
    // Every case's test, and the fakes of bad/ (4, and gen_key) and good/ (4) with good/'s 5 rule targets: none went missing.
    expect(out).toContain(`Analyzed ${CASES.length + 14} targets`);
  });

  test("--@rules_pipeline//bazel:remote_cache: NAME_push refuses a gRPC URL and one with credentials (the value shown, or the password not), and an image without a push layout", async () => {
    const push = (value: string) =>
      bazel(ws, [
        "build",
        "--nobuild",
        "--noshow_progress",
        `--@rules_pipeline//bazel:remote_cache=${value}`,
        "//good:push",
      ]);
    const grpc = await push("grpc://cache.example:9092");
    expect(grpc.code).not.toBe(0);
    expect(grpc.stderr).toContain(
      '//good:push: --@rules_pipeline//bazel:remote_cache must be the http:// or https:// URL of the HTTP cache `--remote_cache` names (the push reads no gRPC cache). got: "grpc://cache.example:9092"',
    );
    const creds = await push("https://me:s3cret-pw@cache.example/prefix");
    expect(creds.code).not.toBe(0);
    expect(creds.stderr).toContain("//good:push: --@rules_pipeline//bazel:remote_cache must not carry credentials");
    expect(creds.stderr).not.toContain("s3cret-pw");
    // A good URL: the fake images of good/ provide no push layout, and the error names the image.
    const fake = await push("http://127.0.0.1:8080/prefix");
    expect(fake.code).not.toBe(0);
    expect(fake.stderr).toContain(
      "`images`: //good:img has no push layout (PipelineImageInfo.push_layout), which --@rules_pipeline//bazel:remote_cache needs",
    );
  });

  test("the harness fails when a target analyses fine, or fails with another message", async () => {
    const r = await bazel(ws, ["build", "--nobuild", "--keep_going", "--noshow_progress", "//harness:all"]);
    const out = r.stdout + r.stderr;
    expect(r.code, out).not.toBe(0);
    expect(out).toContain(
      '//harness:fine_test: expected the analysis of //harness:fine to fail with ["anything"], but it succeeded',
    );
    expect(out).toContain(
      '//harness:wrong_message_test: the analysis of //harness:bad failed, but no message contains "a message nobody writes"; got:',
    );
    expect(out).toContain('`repository` must be lowercase path components separated by "/". got: "Team/App"');
  });
});
