import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hostPathInputs, parseLdd } from "./host-node";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "host-node-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("parseLdd", () => {
  it("reads glibc ldd output, skipping the vDSO", () => {
    const out = [
      "\tlinux-vdso.so.1 (0x00007ffd1a5e2000)",
      "\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f0b9d2f3000)",
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0b9d000000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b9ce1e000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b9d30b000)",
      "",
    ].join("\n");
    expect(parseLdd(out)).toEqual([
      "/lib/x86_64-linux-gnu/libdl.so.2",
      "/lib/x86_64-linux-gnu/libstdc++.so.6",
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/lib64/ld-linux-x86-64.so.2",
    ]);
  });

  it("reads musl ldd output and statically linked binaries", () => {
    expect(
      parseLdd(
        "\t/lib/ld-musl-x86_64.so.1 (0x7f1c5a5d4000)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f1c5a5d4000)\n",
      ),
    ).toEqual(["/lib/ld-musl-x86_64.so.1"]);
    expect(parseLdd("\tstatically linked\n")).toEqual([]);
  });

  it("fails naming a library that is not found", () => {
    expect(() => parseLdd("\tlibfoo.so.1 => not found\n")).toThrow(/libfoo\.so\.1.*not found/);
  });
});

describe("hostPathInputs", () => {
  it("recreates the symlinks the loader goes through (merged /usr, absolute and relative links)", async () => {
    const root = tmp();
    // a merged-/usr host: /lib -> usr/lib, /lib64 -> usr/lib64,
    // /lib64/ld.so -> /lib/x86_64-linux-gnu/ld.so (absolute), libstdc++.so.6 -> libstdc++.so.6.0.30
    mkdirSync(join(root, "usr/lib/x86_64-linux-gnu"), { recursive: true });
    mkdirSync(join(root, "usr/lib64"), { recursive: true });
    symlinkSync("usr/lib", join(root, "lib"));
    symlinkSync("usr/lib64", join(root, "lib64"));
    writeFileSync(join(root, "usr/lib/x86_64-linux-gnu/ld.so"), "LD");
    symlinkSync("/lib/x86_64-linux-gnu/ld.so", join(root, "usr/lib64/ld.so"));
    writeFileSync(join(root, "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"), "STD");
    symlinkSync("libstdc++.so.6.0.30", join(root, "usr/lib/x86_64-linux-gnu/libstdc++.so.6"));

    expect(await hostPathInputs("/lib64/ld.so", root)).toEqual([
      { dest: "/lib64", symlink: "usr/lib64" },
      { dest: "/usr/lib64/ld.so", symlink: "/lib/x86_64-linux-gnu/ld.so" },
      { dest: "/lib", symlink: "usr/lib" },
      { dest: "/usr/lib/x86_64-linux-gnu/ld.so", src: join(root, "usr/lib/x86_64-linux-gnu/ld.so") },
    ]);
    expect(await hostPathInputs("/lib/x86_64-linux-gnu/libstdc++.so.6", root)).toEqual([
      { dest: "/lib", symlink: "usr/lib" },
      { dest: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", symlink: "libstdc++.so.6.0.30" },
      {
        dest: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
        src: join(root, "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"),
      },
    ]);
    // ".." components resolve lexically once the symlinks before them are followed
    expect(await hostPathInputs("/usr/lib/x86_64-linux-gnu/../x86_64-linux-gnu/ld.so", root)).toEqual([
      { dest: "/usr/lib/x86_64-linux-gnu/ld.so", src: join(root, "usr/lib/x86_64-linux-gnu/ld.so") },
    ]);
  });

  it("fails clearly on loops and missing files", async () => {
    const root = tmp();
    symlinkSync("b", join(root, "a"));
    symlinkSync("a", join(root, "b"));
    await expect(hostPathInputs("/a", root)).rejects.toThrow(/too many levels of symlinks/);
    await expect(hostPathInputs("/missing.so", root)).rejects.toThrow(/cannot read/);
  });
});
