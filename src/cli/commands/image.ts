/** `pipeline image`: base layout + new layers + config → an OCI layout and its digest (run by the image rule). */
import { readFileSync, writeFileSync } from "node:fs";
import { PipelineError } from "../../errors";
import { composeImage } from "../../image/compose";
import { fileLayer } from "../../layer/blob";
import type { LayerDescriptor } from "../../layer/build";
import { readLayout } from "../../layout/read";
import { writeLayout } from "../../layout/write";
import { sourceOfLayout } from "../../layout/source";
import type { CliIo } from "../io";

interface ImageRuleConfig {
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  workingDir: string;
  labels: Record<string, string>;
  user: string;
  exposedPorts: string[];
  annotations: Record<string, string>;
  os: string;
  architecture: string;
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === "") return 0;
  if (!/^\d+$/.test(raw)) throw new PipelineError("E_BAD_INPUT", `SOURCE_DATE_EPOCH must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** A JSON file named by a flag; bad input (missing, not JSON) is E_BAD_INPUT naming the flag and the file. */
function readJsonFile<T>(path: string, flag: string): T {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new PipelineError("E_BAD_INPUT", `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new PipelineError("E_BAD_INPUT", `${flag} ${path}: not valid JSON (${(e as Error).message})`);
  }
}

export async function image(
  a: { config: string; base?: string; layer: string[]; "out-layout": string; "out-digest": string; "ref-name"?: string },
  io: CliIo,
): Promise<void> {
  const cfg = readJsonFile<ImageRuleConfig>(a.config, "--config");
  const base = a.base ? readLayout(a.base) : undefined;
  const layers = a.layer.map((spec) => {
    const i = spec.lastIndexOf(":");
    if (i <= 0 || i === spec.length - 1) throw new PipelineError("E_BAD_INPUT", `--layer: expected LAYER.tar.gz:DESCRIPTOR.json, got ${JSON.stringify(spec)}`);
    const [tgz, descPath] = [spec.slice(0, i), spec.slice(i + 1)];
    const desc = readJsonFile<LayerDescriptor & { name: string; files: number }>(descPath, "--layer descriptor");
    return { layer: fileLayer(tgz, desc), createdBy: `rules_pipeline: ${desc.name} layer (${desc.files} files)` };
  });
  const img = composeImage({
    base,
    baseName: a.base ? sourceOfLayout(a.base) : undefined,
    layers,
    entrypoint: cfg.entrypoint,
    cmd: cfg.cmd,
    env: cfg.env,
    workingDir: cfg.workingDir,
    labels: cfg.labels,
    user: cfg.user || undefined,
    exposedPorts: cfg.exposedPorts,
    annotations: cfg.annotations,
    created: sourceDateEpoch(io.env),
    os: cfg.os,
    architecture: cfg.architecture,
  });
  await writeLayout(a["out-layout"], img, { refName: a["ref-name"] });
  writeFileSync(a["out-digest"], img.digest);
}
