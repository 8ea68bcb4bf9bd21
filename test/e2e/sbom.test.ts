/**
 * Issue #11's SBOM: the image rule writes an SPDX 2.3 document (npm packages with version, integrity, license and
 * purl; the base image's digest), reproducibly; `_push` attaches it as an OCI 1.1 referrer: through the spec's
 * `sha256-<hex>` fallback tag on docker-registry (distribution 2.8 has no referrers API, found by skopeo too) and
 * through the referrers API on the dev registry; `pipeline sbom REF` prints it, and names the reference when
 * there is none. The lockfile the SBOM's integrity and resolved URLs come from is a declared input of the image
 * action alone (not of compiling or the layers), so a lockfile-only change rebuilds the SBOM and nothing else.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type TempRegistry, tempRegistry } from "../../src/devregistry/testing";
import { writeLayout } from "../../src/layout/write";
import { bazel, QUIET } from "../fixtures/bazel";
import { execProgram, runCli } from "../fixtures/cli";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-sbom-"));
let reg: RunningRegistry;
let dev: TempRegistry;
let ws: string;
let borrowed: Borrowed | undefined;

const sha256 = (b: Buffer | string) => "sha256:" + createHash("sha256").update(b).digest("hex");
const sbomPath = () => join(ws, "bazel-bin/examples/hello/hello_image.spdx.json");
const digestOf = () => readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8").trim();

/** Async: the dev registry answers from this very process, so a synchronous spawn would never get its answer. */
async function skopeo(args: string[]): Promise<string> {
  const r = await execProgram("skopeo", args);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

type Spdx = {
  spdxVersion: string;
  packages: {
    name: string;
    versionInfo: string;
    licenseDeclared: string;
    downloadLocation: string;
    checksums?: { algorithm: string; checksumValue: string }[];
    externalRefs?: { referenceLocator: string }[];
  }[];
};

/** Each action's mnemonic and inputs (exec paths), from `bazel aquery --output=text`. */
function aqueryInputs(text: string): { mnemonic: string; inputs: string[] }[] {
  const out: { mnemonic: string; inputs: string[] }[] = [];
  let mnemonic = "";
  for (const line of text.split("\n")) {
    const m = /^\s+Mnemonic: (\S+)/.exec(line);
    if (m) mnemonic = m[1];
    const inputs = /^\s+Inputs: \[(.*)\]$/.exec(line);
    if (inputs) out.push({ mnemonic, inputs: inputs[1] ? inputs[1].split(", ") : [] });
  }
  return out;
}

beforeAll(async () => {
  reg = await startRegistry();
  dev = await tempRegistry();
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  await dev?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe("SBOM", () => {
  test("NAME_sbom builds NAME_image.spdx.json: npm packages with version, integrity, license and purl, and the base image digest; the same bytes when rebuilt", async () => {
    let r = await bazel(ws, ["build", "//examples/hello:hello_sbom", "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const first = readFileSync(sbomPath());
    const doc = JSON.parse(first.toString()) as Spdx;
    expect(doc.spdxVersion).toBe("SPDX-2.3");
    const lock = JSON.parse(readFileSync(join(ws, "examples/package-lock.json"), "utf8")) as {
      packages: Record<string, { version: string; integrity: string }>;
    };
    const lodash = doc.packages.find((p) => p.name === "lodash")!;
    expect(lodash.versionInfo).toBe(lock.packages["node_modules/lodash"].version);
    expect(lodash.licenseDeclared).toBe("MIT");
    expect(lodash.externalRefs![0].referenceLocator).toBe(`pkg:npm/lodash@${lodash.versionInfo}`);
    const [algo, b64] = lock.packages["node_modules/lodash"].integrity.split("-");
    expect(lodash.checksums).toEqual([
      { algorithm: algo.toUpperCase(), checksumValue: Buffer.from(b64, "base64").toString("hex") },
    ]);
    // @types/lodash is a dep, but only the compiler reads it: not in the image (include_declarations), not in its SBOM.
    expect(doc.packages.find((p) => p.name === "@types/lodash")).toBeUndefined();
    const manifest = JSON.parse(
      await skopeo(["inspect", "--raw", `oci:${join(ws, "bazel-bin/examples/hello/hello_image")}:latest`]),
    );
    const baseDigest = manifest.annotations["org.opencontainers.image.base.digest"];
    expect(baseDigest).toMatch(/^sha256:/);
    expect(doc.packages.find((p) => p.versionInfo === baseDigest)).toBeDefined();
    expect(first.toString()).not.toContain(ws);
    expect(first.toString()).not.toContain(tmp);

    // From scratch (bazel clean keeps the external repositories): the same image, the same SBOM bytes.
    r = await bazel(ws, ["clean"]);
    expect(r.code, r.stderr).toBe(0);
    r = await bazel(ws, ["build", "//examples/hello:hello_sbom"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(sbomPath()).equals(first)).toBe(true);
  });

  test("_push to docker-registry (no referrers API) attaches it under the fallback tag; pipeline sbom prints it and skopeo finds it by the tag", async () => {
    const repo = `${reg.host}/examples/hello`;
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], { PIPELINE_REPOSITORY: repo });
    expect(r.code, r.stderr).toBe(0);
    const digest = digestOf();
    const fallback = `sha256-${digest.slice("sha256:".length)}`;
    expect(r.stderr).toContain(`(fallback tag ${fallback})`);
    const sbom = readFileSync(sbomPath());

    const started = Date.now();
    const printed = await runCli(["sbom", `${repo}@${digest}`, "--json"]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(sbom.toString());
    // Every response it does not need is drained: the process ends at once, not after a keep-alive timeout.
    expect(Date.now() - started).toBeLessThan(20_000);

    const index = JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${repo}:${fallback}`]));
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].artifactType).toBe("application/spdx+json");
    const referrer = JSON.parse(
      await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${repo}@${index.manifests[0].digest}`]),
    );
    expect(referrer.artifactType).toBe("application/spdx+json");
    expect(referrer.subject.digest).toBe(digest);
    expect(referrer.config.mediaType).toBe("application/vnd.oci.empty.v1+json");
    expect(referrer.layers).toEqual([
      expect.objectContaining({ mediaType: "application/spdx+json", digest: sha256(sbom), size: sbom.length }),
    ]);

    // Pushing again changes nothing: still one referrer in the fallback index.
    const again = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], { PIPELINE_REPOSITORY: repo });
    expect(again.code, again.stderr).toBe(0);
    expect(
      JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${repo}:${fallback}`])).manifests,
    ).toHaveLength(1);

    const table = await runCli(["sbom", `${repo}@${digest}`]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`from fallback tag ${index.manifests[0].digest}`);
    expect(table.stdout).toMatch(/^lodash\s+4\.\S+\s+MIT\s+pkg:npm\/lodash@4\./m);
  });

  test("_push to the dev registry uses the referrers API: no fallback tag, and pipeline sbom finds it there", async () => {
    const repo = `${dev.address}/examples/hello`;
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], { PIPELINE_REPOSITORY: repo });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("attached (referrers API)");
    const tags = JSON.parse(await skopeo(["list-tags", "--tls-verify=false", `docker://${repo}`])).Tags as string[];
    expect(tags.filter((t) => t.startsWith("sha256-"))).toEqual([]);
    const printed = await runCli(["sbom", `${repo}@${digestOf()}`, "--json"]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(readFileSync(sbomPath()).toString());
    const table = await runCli(["sbom", `${repo}@${digestOf()}`]);
    expect(table.stdout).toContain("from referrers API");
  });

  test("an image without one is E_NO_SBOM naming the reference and digest, at once (the registry's 404s are drained)", async () => {
    const layout = join(tmp, "bare");
    const img = randomImage();
    await writeLayout(layout, img);
    const bare = `${reg.host}/examples/bare`;
    let r = await runCli(["push", layout, "--repository", bare, "--tag", "v1"]);
    expect(r.code, r.stderr).toBe(0);
    const started = Date.now();
    r = await runCli(["sbom", `${bare}:v1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error[E_NO_SBOM]: ${bare}:v1: no SBOM`);
    expect(r.stderr).toContain(img.digest);
    // A 404 body left unread would keep the process alive until the keep-alive socket times out.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test("pipeline push --sbom FILE attaches a file; a file that is not SPDX JSON is E_BAD_INPUT naming it", async () => {
    const layout = join(ws, "bazel-bin/examples/hello/hello_image");
    let r = await runCli([
      "push",
      layout,
      "--repository",
      `${reg.host}/examples/withsbom`,
      "--tag",
      "v1",
      "--sbom",
      sbomPath(),
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).sbom).toMatchObject({ via: "tag", tag: `sha256-${digestOf().slice(7)}` });
    r = await runCli(["sbom", `${reg.host}/examples/withsbom:v1`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(sbomPath()).toString());

    r = await runCli([
      "push",
      layout,
      "--repository",
      `${reg.host}/examples/badsbom`,
      "--sbom",
      join(ws, "examples/hello/main.ts"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_BAD_INPUT]: --sbom ${join(ws, "examples/hello/main.ts")}: not an SPDX JSON document`,
    );
    // The file is read before anything goes up: the image did not reach the repository.
    r = await runCli(["inspect", `${reg.host}/examples/badsbom@${digestOf()}`]);
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain("E_NOT_FOUND");

    // The layout itself: the SBOM the rule wrote beside it.
    r = await runCli(["sbom", `oci:${layout}`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(sbomPath()).toString());
  });

  test("the npm lockfile is an input of the image action and of no compile or layer action (aquery)", async () => {
    const r = await bazel(ws, [
      "aquery",
      "--output=text",
      'mnemonic("PipelineImage|PipelineLayer|TsCompile", deps(//examples/hello:hello_image))',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const actions = aqueryInputs(r.stdout);
    const lockfile = "external/npm/package-lock.json";
    const image = actions.filter((a) => a.mnemonic === "PipelineImage");
    expect(image).toHaveLength(1);
    expect(image[0].inputs).toContain(lockfile);
    // Of the npm tree, the image action reads only the packages' own package.json files (the SBOM's); the rest of the
    // tree is in the node_modules layer, an input of its own.
    const npmInputs = image[0].inputs.filter((p) => p.startsWith("external/npm/node_modules/"));
    expect(npmInputs).toContain("external/npm/node_modules/lodash/package.json");
    expect(
      npmInputs.filter((p) => !/^external\/npm\/node_modules\/(?:@[^/]+\/)?[^/]+\/package\.json$/.test(p)),
    ).toEqual([]);
    // npm's own record of the tree is no input of anything (the SBOM must not depend on the machine's npm config).
    expect(actions.flatMap((a) => a.inputs).filter((p) => p.endsWith("/.package-lock.json"))).toEqual([]);
    const others = actions.filter((a) => a.mnemonic !== "PipelineImage");
    expect(others.map((a) => a.mnemonic).sort()).toEqual(
      expect.arrayContaining(["PipelineLayer", "PipelineLayer", "TsCompile"]),
    );
    expect(others.filter((a) => a.inputs.includes(lockfile)).map((a) => a.mnemonic)).toEqual([]);
  });

  test("through a ts_library: a program that uses lodash only via //lib gets lodash's integrity from the lockfile", async () => {
    mkdirSync(join(ws, "lib"));
    writeFileSync(
      join(ws, "lib/index.ts"),
      'import { camelCase } from "lodash";\nexport const shout = (s: string): string => camelCase(s).toUpperCase();\n',
    );
    writeFileSync(
      join(ws, "lib/BUILD.bazel"),
      `load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")
ts_library(name = "lib", srcs = ["index.ts"], deps = ["@npm//:node_modules/lodash", "@npm//:node_modules/@types/lodash"], visibility = ["//visibility:public"])
`,
    );
    mkdirSync(join(ws, "vialib"));
    writeFileSync(join(ws, "vialib/main.ts"), 'import { shout } from "../lib";\nconsole.log(shout("via lib"));\n');
    writeFileSync(
      join(ws, "vialib/BUILD.bazel"),
      `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(name = "vialib", entry = "main.ts", deps = ["//lib"], base = "@pipeline-host-node//image", registry = "localhost:5000", repository = "vialib")
`,
    );
    const r = await bazel(ws, ["build", "//vialib:vialib_sbom"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(join(ws, "bazel-bin/vialib/vialib_image.spdx.json"), "utf8")) as Spdx;
    const lock = JSON.parse(readFileSync(join(ws, "examples/package-lock.json"), "utf8")) as {
      packages: Record<string, { integrity: string }>;
    };
    const [algo, b64] = lock.packages["node_modules/lodash"].integrity.split("-");
    expect(doc.packages.find((p) => p.name === "lodash")!.checksums).toEqual([
      { algorithm: algo.toUpperCase(), checksumValue: Buffer.from(b64, "base64").toString("hex") },
    ]);
  });

  test("a lockfile-only change (a resolved URL added, the same package bytes) rebuilds the SBOM, not the image", async () => {
    let r = await bazel(ws, ["build", "//examples/hello:hello_sbom", "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const digest = digestOf();
    const before = JSON.parse(readFileSync(sbomPath(), "utf8")) as Spdx;
    expect(before.packages.find((p) => p.name === "lodash")!.downloadLocation).toBe("NOASSERTION");

    // What a user's lockfile looks like once written by an npm that records registry URLs: same version and
    // integrity, so `npm ci` installs the same bytes; only the lockfile knows the difference.
    const lockPath = join(ws, "examples/package-lock.json");
    const lock = JSON.parse(readFileSync(lockPath, "utf8")) as {
      packages: Record<string, { version: string; resolved?: string }>;
    };
    const entry = lock.packages["node_modules/lodash"];
    const url = `https://registry.npmjs.org/lodash/-/lodash-${entry.version}.tgz`;
    entry.resolved = url;
    writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n");

    r = await bazel(ws, ["build", "//examples/hello:hello_sbom", "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(readFileSync(sbomPath(), "utf8")) as Spdx;
    expect(after.packages.find((p) => p.name === "lodash")!.downloadLocation).toBe(url);
    expect(after.packages.find((p) => p.name === "lodash")!.checksums).toEqual(
      before.packages.find((p) => p.name === "lodash")!.checksums,
    );
    // The image is the same: the lockfile reached the SBOM, not the layers.
    expect(digestOf()).toBe(digest);
  });
});
