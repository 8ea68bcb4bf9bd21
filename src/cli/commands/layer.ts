/** `pipeline layer`: one reproducible layer from `dest<TAB>src` lines (run by the image rule). */
import { readFileSync, writeFileSync } from "node:fs";
import { PipelineError } from "../../errors";
import { buildLayer, LayerInput } from "../../layer/build";
import type { CliIo } from "../io";

export function readFileList(paths: string[]): LayerInput[] {
  const inputs: LayerInput[] = [];
  for (const p of paths) {
    const text = readFileSync(p, "utf8");
    text.split("\n").forEach((line, i) => {
      if (!line) return;
      const tab = line.indexOf("\t");
      if (tab <= 0) throw new PipelineError("E_BAD_INPUT", `${p}:${i + 1}: expected "dest<TAB>src", got ${JSON.stringify(line)}`);
      inputs.push({ dest: line.slice(0, tab), src: line.slice(tab + 1) });
    });
  }
  return inputs;
}

export async function layer(a: { out: string; descriptor: string; name: string; files: string[] }, io: CliIo): Promise<void> {
  const inputs = readFileList(a.files);
  const desc = await buildLayer(inputs, a.out, { annotations: {} });
  writeFileSync(a.descriptor, JSON.stringify({ ...desc, name: a.name, files: inputs.length }) + "\n");
  void io;
}
