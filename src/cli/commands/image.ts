/**
 * `pipeline image`: base layout + new layers + config → an OCI layout and its digest (run by the image rule).
 * With `--stamp-file` (the workspace status files, given only under `--stamp`), `{KEY}` in label and annotation
 * values is expanded and the OCI revision/source/version/created annotations are added (src/stamp.ts); without
 * it a value with a placeholder is left out, so unstamped builds stay reproducible.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { PipelineError } from "../../errors";
import { composeImage } from "../../image/compose";
import { fileLayer } from "../../layer/blob";
import type { LayerDescriptor } from "../../layer/build";
import { readLayout } from "../../layout/read";
import { writeLayout } from "../../layout/write";
import { sourceOfLayout } from "../../layout/source";
import { describeSkip, expandDict, readStatusFiles, stampAnnotations } from "../../stamp";
import type { CliIo } from "../io";

interface ImageRuleConfig {
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  workingDir: string;
  labels: Record<string, string>;
  user: string;
  exposedPorts: string[];
  volumes?: string[];
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
  a: { config: string; base?: string; layer: string[]; "out-layout": string; "out-digest": string; "ref-name"?: string; "stamp-file"?: string[] },
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
  const stampFiles = a["stamp-file"] ?? [];
  const status = stampFiles.length ? readStatusFiles(stampFiles, "--stamp-file") : undefined;
  const labels = expandDict(cfg.labels ?? {}, status);
  const annotations = expandDict(cfg.annotations ?? {}, status);
  for (const [kind, s] of [...labels.skipped.map((s) => ["label", s] as const), ...annotations.skipped.map((s) => ["annotation", s] as const)]) {
    io.stderr(describeSkip(`${kind} ${s.key} =`, s, status !== undefined));
  }
  const img = composeImage({
    base,
    baseName: a.base ? sourceOfLayout(a.base) : undefined,
    layers,
    entrypoint: cfg.entrypoint,
    cmd: cfg.cmd,
    env: cfg.env,
    workingDir: cfg.workingDir,
    labels: labels.values,
    user: cfg.user || undefined,
    exposedPorts: cfg.exposedPorts,
    volumes: cfg.volumes,
    // The stamp's annotations first: the BUILD file's `annotations` win for a key both set.
    annotations: { ...(status ? stampAnnotations(status) : {}), ...annotations.values },
    created: sourceDateEpoch(io.env),
    os: cfg.os,
    architecture: cfg.architecture,
  });
  await writeLayout(a["out-layout"], img, { refName: a["ref-name"] });
  writeFileSync(a["out-digest"], img.digest);
}
