/**
 * The publishable npm packages, as a user gets them (issue #11):
 *  - `node scripts/pack.js cli` → a tarball that `npm install -g --prefix DIR` installs; DIR/bin/pipeline prints the
 *    version and pushes a layout to a real registry (checked with skopeo), run from outside the checkout so nothing
 *    resolves from the repository's node_modules; and `pipeline build --lockfile` finds the runtime library it puts
 *    into images (shipped beside the bundle).
 *  - `node scripts/pack.js runtime` → @rules_pipeline/runtime, installed into a fresh project whose launch script
 *    type-checks with tsc outside Bazel (and a misuse of the API does not).
 *
 * npm runs with --prefer-offline: the run-time dependencies come from the npm cache. A cold cache still needs the npm
 * registry for their packuments (npm ignores a tarball's npm-shrinkwrap.json on `install -g`), see docs/cli.md; the
 * `--bundle-deps` tarball, with its dependencies inside, installs with `npm install -g --offline`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { blobPath, readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { sha256 } from "../../src/oci/digest";
import { VERSION } from "../../src/version";
import { REPO_ROOT } from "../fixtures/repo";
import { execProgram } from "../fixtures/cli";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-cli-install-"));
const NPM_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];
// Outside the checkout, with no NODE_PATH: only the installed package's own node_modules can resolve.
const ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmp };
let reg: RunningRegistry | undefined;

async function pack(name: "cli" | "runtime", ...flags: string[]): Promise<string> {
  const r = await execProgram(process.execPath, [
    join(REPO_ROOT, "scripts", "pack.js"),
    name,
    ...flags,
    "--out",
    join(tmp, "dist"),
  ]);
  expect(r.code, r.stderr).toBe(0);
  const tgz = r.stdout.trim().split("\n").pop()!;
  expect(existsSync(tgz), tgz).toBe(true);
  return tgz;
}

async function npm(args: string[], cwd: string, flags = NPM_FLAGS): Promise<void> {
  const r = await execProgram("npm", [...args, ...flags], { cwd, env: { ...process.env, HOME: process.env.HOME } });
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

beforeAll(async () => {
  reg = await startRegistry();
});

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("the packed CLI installed in a temp prefix prints its version, pushes to a registry, and builds from a lockfile", async () => {
  const tgz = await pack("cli");
  const prefix = join(tmp, "prefix");
  await npm(["install", "-g", "--prefix", prefix, tgz], tmp);
  const bin = join(prefix, "bin", "pipeline");
  // The lazily loaded SDKs were installed as the package's dependencies (normal node resolution finds them).
  expect(
    existsSync(
      join(prefix, "lib", "node_modules", "@rules_pipeline", "cli", "node_modules", "@kubernetes", "client-node"),
    ),
  ).toBe(true);

  const version = await execProgram(bin, ["--version"], { env: ENV, cwd: tmp });
  expect(version.code, version.stderr).toBe(0);
  expect(version.stdout).toMatch(new RegExp(`^pipeline ${VERSION.replace(/\./g, "\\.")} `));

  const layout = join(tmp, "layout");
  await writeLayout(layout, randomImage({ layers: 2 }));
  const push = await execProgram(bin, ["push", layout, "--repository", `${reg!.host}/installed/cli`, "--tag", "v1"], {
    env: ENV,
    cwd: tmp,
  });
  expect(push.code, push.stderr).toBe(0);
  const ref = push.stdout.trim().split("\n").pop()!;
  expect(ref).toMatch(new RegExp(`^${reg!.host.replace(/\./g, "\\.")}/installed/cli@sha256:[0-9a-f]{64}$`));
  const raw = execFileSync(
    "/usr/bin/skopeo",
    ["inspect", "--tls-verify=false", "--raw", `docker://${reg!.host}/installed/cli:v1`],
    {
      timeout: 120_000,
    },
  );
  expect(`${reg!.host}/installed/cli@${sha256(raw)}`).toBe(ref);
  // The push loaded the bundle's commands through the loader, which left its V8 code cache in HOME's cache root for
  // the next command (`--version` loads none of them).
  const hit = await execProgram(bin, ["-v", "completion", "bash"], { env: ENV, cwd: tmp });
  expect(hit.stderr).toMatch(
    new RegExp(`^debug: code cache: hit ${tmp.replace(/[.]/g, "\\.")}/\\.cache/rules_pipeline/code-cache/pipeline-`),
  );

  // A lockfile build (no dependencies, the random image as base) carries @rules_pipeline/runtime in its app layer.
  const project = join(tmp, "lock-project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "p", version: "1.0.0", main: "main.js" }));
  writeFileSync(
    join(project, "package-lock.json"),
    JSON.stringify({
      name: "p",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: { "": { name: "p", version: "1.0.0" } },
    }),
  );
  writeFileSync(join(project, "main.js"), "console.log(1);\n");
  const built = await execProgram(
    bin,
    ["build", "--lockfile", "lock-project", "--output", "built", "--base", "oci:layout"],
    { env: ENV, cwd: tmp },
  );
  expect(built.code, built.stderr).toBe(0);
  const image = readLayout(join(tmp, "built"));
  const files = image.manifest.layers.flatMap((l) =>
    execFileSync("tar", ["-tzf", blobPath(join(tmp, "built"), l.digest)], { encoding: "utf8" }).split("\n"),
  );
  expect(files).toContain("app/node_modules/@rules_pipeline/runtime/index.js");
});

test("pack.js cli --bundle-deps: a tarball with the dependencies inside installs with npm --offline", async () => {
  const tgz = await pack("cli", "--bundle-deps");
  expect(tgz).toMatch(/-bundled\.tgz$/);
  const prefix = join(tmp, "prefix-bundled");
  await npm(["install", "-g", "--prefix", prefix, tgz], tmp, ["--offline", ...NPM_FLAGS.slice(1)]);
  const version = await execProgram(join(prefix, "bin", "pipeline"), ["--version"], { env: ENV, cwd: tmp });
  expect(version.code, version.stderr).toBe(0);
  const pkg = join(prefix, "lib", "node_modules", "@rules_pipeline", "cli");
  for (const dep of ["@kubernetes/client-node", "@aws-sdk/client-secrets-manager"]) {
    expect(require.resolve(dep, { paths: [pkg] }).startsWith(join(pkg, "node_modules")), dep).toBe(true);
  }
});

test("@rules_pipeline/runtime packs, installs into a fresh project, and a launch script importing it type-checks with tsc", async () => {
  const tgz = await pack("runtime");
  const project = join(tmp, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "launch-project", version: "1.0.0", private: true }),
  );
  await npm(["install", tgz], project);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "commonjs", target: "ES2022", types: [] },
      files: ["good.ts", "bad.ts", "typo.ts"],
    }),
  );
  // One tsc run over three files: good.ts must have no diagnostic, the two misuses theirs.
  writeFileSync(
    join(project, "good.ts"),
    [
      'import { containerImageUri, containerImageUris, hasContainerImage, ContainerImageError } from "@rules_pipeline/runtime";',
      "const uri: string | undefined = hasContainerImage() ? containerImageUri() : undefined;",
      "const all: Readonly<Record<string, string>> = containerImageUris({});",
      'const e: Error = new ContainerImageError("E_NO_CONTAINER_IMAGE", "x");',
      "export { uri, all, e };",
      "",
    ].join("\n"),
  );
  // The types are real: a wrong use is an error naming the package's declaration.
  writeFileSync(
    join(project, "bad.ts"),
    'import { containerImageUri } from "@rules_pipeline/runtime";\nexport const n: number = containerImageUri();\n',
  );
  // Its error codes are the catalogue's runtime codes (RuntimeErrorCode): a misspelled one does not compile.
  writeFileSync(
    join(project, "typo.ts"),
    'import { ContainerImageError } from "@rules_pipeline/runtime";\nexport const e = new ContainerImageError("E_NO_CONTAINER_IMAGES", "x");\n',
  );
  const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const check = await execProgram(process.execPath, [tsc, "-p", join(project, "tsconfig.json")], {
    cwd: project,
    env: ENV,
  });
  expect(check.code).not.toBe(0);
  const diagnostics = check.stdout.split("\n").filter((l) => /^\S+\.ts\(\d+,\d+\): error/.test(l));
  expect(
    diagnostics.filter((l) => l.startsWith("good.ts")),
    check.stdout,
  ).toEqual([]);
  expect(diagnostics.filter((l) => l.startsWith("bad.ts")).join("\n")).toMatch(
    /Type 'string' is not assignable to type 'number'/,
  );
  expect(diagnostics.filter((l) => l.startsWith("typo.ts")).join("\n")).toContain('"E_NO_CONTAINER_IMAGES"');
});
