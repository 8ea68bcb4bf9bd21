/** `pipeline layer`: one reproducible layer from `dest<TAB>src` lines (run by the image rule). */
import { readFileSync, writeFileSync } from "node:fs";
import { PipelineError } from "../../errors";
import { buildLayer, type LayerInput } from "../../layer/build";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { LAYER } from "../command-specs";

/**
 * The layer's entries from file lists the image rule writes: `dest<TAB>src` (a file), `dest<TAB>src<TAB>mode<TAB>0644`
 * (a file with that mode, e.g. compiled JavaScript, which Bazel leaves executable), or `dest<TAB>symlink<TAB>target`
 * (a symlink, e.g. `node_modules/.bin/tsc` -> `../typescript/bin/tsc`).
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
      else if (fields.length === 4 && fields[0] && fields[1] && fields[2] === "mode" && /^0[0-7]{3}$/.test(fields[3])) {
        inputs.push({ dest: fields[0], src: fields[1], mode: parseInt(fields[3], 8) });
      } else {
        throw new PipelineError(
          "E_BAD_INPUT",
          `${p}:${i + 1}: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644" or "dest<TAB>symlink<TAB>target", got ${JSON.stringify(line)}`,
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
