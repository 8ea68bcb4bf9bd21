/**
 * An image that asks for privileges a tar can carry (issue #24, item 4): `User 1000:1000` in its config, and a
 * layer with a setuid-root copy of the host's node (mode 04755, owner 0:0), a setgid file, a character device
 * (`/probe/null`, 1:3) and a file owned by 1234:1234 in the tar. An engine that extracts the layers itself
 * applies all of that (the setuid node runs with euid 0 whatever the user); the runner's unpacker drops the
 * bits, skips the device and applies no owner. The entrypoint is the setuid node printing PROBE_JS's JSON.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { composeImage } from "../../src/image/compose";
import type { Image } from "../../src/oci/model";
import { layerFromDescriptor } from "../../src/layer/build";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { gzipSync } from "node:zlib";
import { rawTar } from "./raw-tar";

export const SETUID_NODE = "/usr/local/bin/node-suid";

/** Prints what the process is and what the privileged entries became, as one JSON line. */
export const PROBE_JS = `
const fs = require("fs");
const kind = (p) => { try { const s = fs.lstatSync(p); return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, type: s.isCharacterDevice() ? "char" : s.isFile() ? "file" : "other" }; } catch (e) { return e.code; } };
console.log(JSON.stringify({ uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), egid: process.getegid(),
  node: kind("${SETUID_NODE}"), sgid: kind("/probe/sgid"), dev: kind("/probe/null"), owned: kind("/probe/owned") }));
`;

/** The image on `base`, its layer written under `dir`. */
export function privilegedImage(base: Image, dir: string): Image {
  const tar = rawTar([
    { name: "usr/", type: "5" },
    { name: "usr/local/", type: "5" },
    { name: "usr/local/bin/", type: "5" },
    { name: SETUID_NODE.slice(1), mode: 0o4755, data: readFileSync(process.execPath) },
    { name: "probe/", type: "5", mode: 0o755 },
    { name: "probe/sgid", mode: 0o2755, data: "#!/bin/sh\n", gid: 0 },
    { name: "probe/null", type: "3", mode: 0o666, devmajor: 1, devminor: 3 },
    { name: "probe/owned", data: "mine\n", uid: 1234, gid: 1234 },
  ]);
  const blob = gzipSync(tar, { level: 1 });
  const path = join(dir, "privileged.tar.gz");
  writeFileSync(path, blob);
  const layer = layerFromDescriptor(path, {
    mediaType: MediaType.OCI_LAYER_GZIP,
    digest: sha256(blob),
    size: blob.length,
    diffId: sha256(tar),
  });
  return composeImage({
    base,
    layers: [{ layer, createdBy: "privileged entries" }],
    user: "1000:1000",
    entrypoint: [SETUID_NODE, "-e", PROBE_JS],
    workdir: "/",
  });
}
