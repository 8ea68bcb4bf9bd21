/**
 * Multi-platform layouts against the real CNCF registry, checked with skopeo: `pipeline push` of an index layout
 * sends every manifest and then the index and reports the index digest (it used to push the amd64 manifest alone,
 * silently); `--platform` keeps only the platforms named and says which it dropped; `pipeline pull
 * --all-platforms` / `--platforms` bring an index back whole into a layout skopeo reads; the default pull still
 * picks one platform.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageIndex } from "../../src/oci/model";
import { readLayout, readLayoutIndex } from "../../src/layout/read";
import { readLocalLayout } from "../../src/container/image-cache";
import type { Index } from "../../src/oci/types";
import { runCli } from "../fixtures/cli";
import { writeTwoPlatformLayout } from "../fixtures/multi-platform";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-multiplatform-"));
let reg: RunningRegistry;
let idx: ImageIndex;
const layout = join(tmp, "layout");

async function skopeoRaw(
  ref: string,
): Promise<{ mediaType?: string; manifests?: { digest: string; platform?: { architecture: string } }[] }> {
  const { stdout } = await run("skopeo", ["inspect", "--tls-verify=false", "--raw", ref], { timeout: 120_000 });
  return JSON.parse(stdout);
}

beforeAll(async () => {
  reg = await startRegistry();
  idx = await writeTwoPlatformLayout(layout, join(tmp, "blobs"));
});

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("push of a multi-platform layout", () => {
  it("pushes every manifest, then the index; reports the index digest; skopeo sees both platforms", async () => {
    const r = await runCli(["push", layout, "--repository", `${reg.host}/team/multi`, "--tag", "v1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.digest).toBe(idx.digest);
    expect(out.reference).toBe(`${reg.host}/team/multi@${idx.digest}`);
    expect(out.platforms).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(out.manifests.map((m: { digest: string }) => m.digest)).toEqual(idx.images.map((i) => i.digest));
    expect(out.dropped).toEqual([]);
    // The shared layers went up once: 2 layers + 2 configs.
    expect(out.uploaded.blobs).toBe(4);
    const raw = await skopeoRaw(`docker://${reg.host}/team/multi:v1`);
    expect(raw.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(raw.manifests!.map((m) => m.digest)).toEqual(idx.images.map((i) => i.digest));
    expect(raw.manifests!.map((m) => m.platform!.architecture)).toEqual(["amd64", "arm64"]);
    // Each manifest is there, by digest.
    for (const i of idx.images)
      expect((await skopeoRaw(`docker://${reg.host}/team/multi@${i.digest}`)).mediaType).toBe(
        "application/vnd.oci.image.manifest.v1+json",
      );
    // Again: the tag names the index already; nothing is uploaded.
    const again = JSON.parse(
      (await runCli(["push", layout, "--repository", `${reg.host}/team/multi`, "--tag", "v1", "--json"])).stdout,
    );
    expect(again.digest).toBe(idx.digest);
    expect(again.uploaded.blobs).toBe(0);
  });

  it("--platform linux/amd64 pushes an index of that platform alone and names the platform it dropped", async () => {
    const r = await runCli([
      "push",
      `oci:${layout}:latest`,
      "--repository",
      `${reg.host}/team/amd`,
      "--tag",
      "v1",
      "--platform",
      "linux/amd64",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("platform linux/arm64/v8 of the image: not pushed (--platform named linux/amd64)");
    const out = JSON.parse(r.stdout);
    expect(out.platforms).toEqual(["linux/amd64"]);
    expect(out.dropped).toEqual(["linux/arm64/v8"]);
    const raw = await skopeoRaw(`docker://${reg.host}/team/amd:v1`);
    expect(raw.manifests!.map((m) => m.digest)).toEqual([idx.images[0].digest]);
    expect(out.digest).not.toBe(idx.digest);
  });

  it("onto a repository that has one platform already: the other's blobs alone are checked and sent, then its manifest and the index", async () => {
    const repo = `${reg.host}/team/grow`;
    const first = await runCli(["push", layout, "--repository", repo, "--platform", "linux/amd64", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const before = reg.requests().length;
    const r = await runCli(["push", layout, "--repository", repo, "--tag", "v2", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.digest).toBe(idx.digest);
    const [amd64, arm64] = idx.images;
    // The layers are shared: arm64's config is the one blob the registry lacks.
    expect(out.uploaded.blobs).toBe(1);
    expect(out.skipped).toBe(3);
    const sent = reg.requests().slice(before);
    const of = (method: string, what: string) =>
      sent.filter((q) => q.method === method && q.path.includes(what)).map((q) => q.path.split("/").pop());
    expect(of("HEAD", "/blobs/").sort()).toEqual(
      [...arm64.layers.map((l) => l.digest), arm64.configBlob.digest].sort(),
    );
    expect(sent.some((q) => q.path.includes(amd64.configBlob.digest))).toBe(false);
    expect(of("PUT", "/manifests/")).toEqual([arm64.digest, idx.digest, "v2"]);
    expect((await skopeoRaw(`docker://${repo}:v2`)).manifests!.map((m) => m.digest)).toEqual(
      idx.images.map((i) => i.digest),
    );
  });

  it("a platform the layout lacks is E_PLATFORM listing the platforms it has; a bad one E_BAD_PLATFORM", async () => {
    const r = await runCli(["push", layout, "--repository", `${reg.host}/team/none`, "--platform", "linux/s390x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[E_PLATFORM]");
    expect(r.stderr).toContain(`no manifest for linux/s390x in index ${idx.digest} (has: linux/amd64, linux/arm64/v8)`);
    const b = await runCli(["push", layout, "--repository", `${reg.host}/team/none`, "--platform", "arm64"]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("error[E_BAD_PLATFORM]: --platform: expected os/arch[/variant]");
    expect(b.stderr).toContain('got "arm64"');
  });
});

describe("running from a multi-platform layout", () => {
  it("oci:DIR@<index digest> (what NAME_binary hands `pipeline run`) is this machine's image; a platform's digest that one", () => {
    expect(readLocalLayout(layout, idx.digest).digest).toBe(idx.images[0].digest);
    expect(readLocalLayout(layout, idx.images[1].digest).digest).toBe(idx.images[1].digest);
    expect(readLocalLayout(layout).digest).toBe(idx.images[0].digest);
  });
});

describe("pull of a multi-platform image", () => {
  it("--all-platforms brings the index back whole: same index and manifests, a layout skopeo reads", async () => {
    const out = join(tmp, "pulled-all");
    const r = await runCli(["pull", `${reg.host}/team/multi:v1`, "--output", out, "--all-platforms", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.digest).toBe(idx.digest);
    expect(j.platforms).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const back = readLayoutIndex(out, { refName: "v1" })!;
    expect(back.digest).toBe(idx.digest);
    expect(back.bytes.equals(idx.bytes)).toBe(true);
    expect(back.manifests.map((m) => m.image.digest)).toEqual(idx.images.map((i) => i.digest));
    const top = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as Index;
    expect(top.manifests[0].mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect((await skopeoRaw(`oci:${out}:v1`)).manifests!.length).toBe(2);
    // skopeo copies it on, whole, from our layout.
    await run(
      "skopeo",
      ["copy", "--all", "--dest-tls-verify=false", `oci:${out}:v1`, `docker://${reg.host}/team/copied:v1`],
      { timeout: 120_000 },
    );
    expect((await skopeoRaw(`docker://${reg.host}/team/copied:v1`)).manifests!.map((m) => m.digest)).toEqual(
      idx.images.map((i) => i.digest),
    );
    // Readers of one image pick this machine's platform from it.
    expect(readLayout(out).digest).toBe(idx.images[0].digest);
    expect(readLayout(out, { platform: { os: "linux", architecture: "arm64" } }).digest).toBe(idx.images[1].digest);
  });

  it("--platforms linux/arm64 keeps that one, in an index; the default pull picks one image", async () => {
    const out = join(tmp, "pulled-arm");
    const r = await runCli(["pull", `${reg.host}/team/multi:v1`, "--output", out, "--platforms", "linux/arm64"]);
    expect(r.code, r.stderr).toBe(0);
    const back = readLayoutIndex(out)!;
    expect(back.manifests.map((m) => m.image.digest)).toEqual([idx.images[1].digest]);
    const one = join(tmp, "pulled-one");
    const d = await runCli(["pull", `${reg.host}/team/multi:v1`, "--output", one, "--json"]);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).digest).toBe(idx.images[0].digest);
    expect(readLayoutIndex(one)).toBeUndefined();
    const bad = await runCli([
      "pull",
      `${reg.host}/team/multi:v1`,
      "--output",
      join(tmp, "x"),
      "--platforms",
      "linux/ppc64le",
    ]);
    expect(bad.stderr).toContain("error[E_PLATFORM]");
    expect(bad.stderr).toContain("(has: linux/amd64, linux/arm64/v8)");
  });
});
