/**
 * LayerInput.within (build.ts, host-root.ts's followInside and openFileInside): a layer read from a tree takes nothing
 * from outside it. A link under a directory input is followed only when the kernel resolves it inside; a file is
 * opened without following a link and only when, opened, it is inside (a directory on its way swapped for a link
 * after the listing is caught at the open).
 */
import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { buildLayer } from "./build";
import { collectEntries } from "./collect";
import { listLayer } from "./tar-read";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-layer-within-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const outside = join(tmp, "outside");
mkdirSync(outside);
writeFileSync(join(outside, "secret"), "secret\n");

describe("within", () => {
  it("follows a link under a directory input when it resolves inside, reading the file where it really is", async () => {
    const root = join(tmp, "in");
    mkdirSync(join(root, "nm", "pkg", "bin"), { recursive: true });
    mkdirSync(join(root, "nm", ".bin"));
    writeFileSync(join(root, "nm", "pkg", "bin", "cli.js"), "cli\n");
    symlinkSync("../pkg/bin/cli.js", join(root, "nm", ".bin", "cli"));
    const entries = await collectEntries([{ dest: "app/node_modules", src: join(root, "nm"), within: root }]);
    expect(entries.find((e) => e.path === "app/node_modules/.bin/cli")).toMatchObject({
      type: "file",
      source: join(root, "nm", "pkg", "bin", "cli.js"),
      within: root,
    });
    const desc = await buildLayer(
      [{ dest: "app/node_modules", src: join(root, "nm"), within: root }],
      join(tmp, "in.tar.gz"),
    );
    expect((await listLayer(join(tmp, "in.tar.gz"))).map((e) => e.path)).toContain("app/node_modules/.bin/cli");
    expect(desc.size).toBeGreaterThan(0);
  });

  it("refuses a link under a directory input that leads out, directly or through a chain, naming it", async () => {
    const root = join(tmp, "out");
    mkdirSync(join(root, "nm", "a", "b"), { recursive: true });
    symlinkSync(outside, join(root, "nm", "x"));
    let e = await pipelineErrorOf(collectEntries([{ dest: "app/node_modules", src: join(root, "nm"), within: root }]));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`${join(root, "nm", "x")} is a symlink to ${JSON.stringify(outside)}`);
    rmSync(join(root, "nm", "x"));
    // One hop at a time y is nm/a/outside/secret; the kernel: nm/a/b/l is z, and ../.. from z is above the root.
    mkdirSync(join(root, "z"));
    symlinkSync("../../../z", join(root, "nm", "a", "b", "l"));
    symlinkSync("a/b/l/../../outside/secret", join(root, "nm", "y"));
    e = await pipelineErrorOf(collectEntries([{ dest: "app/node_modules", src: join(root, "nm"), within: root }]));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`(${join(outside, "secret")}), outside ${root}`);
    // Without `within` (Bazel's sandbox, whose inputs are links out), links are followed like find -L.
    await expect(collectEntries([{ dest: "app/node_modules", src: join(root, "nm") }])).resolves.toBeDefined();
  });

  it("reads a file input only as listed: not a link, and not through a directory swapped for a link", async () => {
    const root = join(tmp, "swap");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "sub", "secret"), "project\n");
    symlinkSync(join(outside, "secret"), join(root, "link"));
    let e = await pipelineErrorOf(collectEntries([{ dest: "app/link", src: join(root, "link"), within: root }]));
    expect(e.code).toBe("E_LAYER_INPUT");
    // Listed while sub is a directory; sub becomes a link to outside before the layer is written.
    const entries = [{ dest: "app/sub/secret", src: join(root, "sub", "secret"), within: root }];
    await collectEntries(entries);
    renameSync(join(root, "sub"), join(root, "sub-moved"));
    symlinkSync(outside, join(root, "sub"));
    e = await pipelineErrorOf(buildLayer(entries, join(tmp, "swap.tar.gz")));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`opened as ${join(outside, "secret")}, outside ${root}`);
  });
});
