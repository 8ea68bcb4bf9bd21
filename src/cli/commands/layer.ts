/** `pipeline layer`: one reproducible layer from `dest<TAB>src` lines (run by the image rule). */
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { posix } from "node:path";
import { PipelineError } from "../../errors";
import { buildLayer, type LayerInput, normalizeDest } from "../../layer/build";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { LAYER } from "../command-specs";

/**
 * `dest<TAB>src<TAB>link`: `src` may be a package link of rules_js (an unresolved symlink Bazel made). A symlink whose
 * target is relative and, read from `dest`'s directory, stays inside `dest`'s first directory (the app tree) is kept
 * as that symlink; anything else (a file or directory, the sandbox's absolute links to inputs, a link leaving the app
 * tree) is read as `dest<TAB>src` is.
 */
function linkOrFile(dest: string, src: string): LayerInput {
  const st = lstatSync(src, { throwIfNoEntry: false });
  if (!st?.isSymbolicLink()) return { dest, src };
  const target = readlinkSync(src);
  const path = normalizeDest(dest); // the layer's own check: no "..", no empty component
  const root = path.split("/")[0];
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (posix.isAbsolute(target) || !root || !resolved.startsWith(`${root}/`)) return { dest, src };
  return { dest, symlink: target };
}

/**
 * The layer's entries from file lists the image rule writes: `dest<TAB>src` (a file), `dest<TAB>src<TAB>mode<TAB>0644`
 * (a file with that mode, e.g. compiled JavaScript, which Bazel leaves executable), `dest<TAB>symlink<TAB>target`
 * (a symlink, e.g. `node_modules/.bin/tsc` -> `../typescript/bin/tsc`) or `dest<TAB>src<TAB>link` (a rules_js package
 * link: linkOrFile).
 */
export function readFileList(paths: string[]): LayerInput[] {
  const inputs: LayerInput[] = [];
  for (const p of paths) {
    const text = readFileSync(p, "utf8");
    text.split("\n").forEach((line, i) => {
      if (!line) return;
      const fields = line.split("\t");
      if (fields.length === 2 && fields[0] && fields[1]) inputs.push({ dest: fields[0], src: fields[1] });
      else if (fields.length === 3 && fields[0] && fields[1] === "symlink" && fields[2]) inputs.push({ dest: fields[0], symlink: fields[2] });
      else if (fields.length === 3 && fields[0] && fields[1] && fields[2] === "link") inputs.push(linkOrFile(fields[0], fields[1]));
      else if (fields.length === 4 && fields[0] && fields[1] && fields[2] === "mode" && /^0[0-7]{3}$/.test(fields[3])) {
        inputs.push({ dest: fields[0], src: fields[1], mode: parseInt(fields[3], 8) });
      } else {
        throw new PipelineError(
          "E_BAD_INPUT",
          `${p}:${i + 1}: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got ${JSON.stringify(line)}`,
        );
      }
    });
  }
  return inputs;
}

export async function layer(a: CommandArgs<typeof LAYER>, io: CliIo): Promise<void> {
  const inputs = readFileList(a.files);
  const desc = await buildLayer(inputs, a.out, { annotations: {}, linkDuplicates: true });
  writeFileSync(a.descriptor, JSON.stringify({ ...desc, name: a.name, files: inputs.length }) + "\n");
  void io;
}
