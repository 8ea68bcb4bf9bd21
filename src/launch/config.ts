/** The launch config the Bazel launchers hand to Node: what to run, which images, where to push them. */
import { readFileSync } from "node:fs";
import { PipelineError } from "../errors";
import { readNamedFileSync } from "../named-file";
import { type Digest, parseDigest } from "../oci/digest";
import { bool, checkJson, choice, dict, type Infer, list, obj, str } from "../schema/validators";

/** A path relative to the runfiles root as bazel/private/common/tools.bzl `rlocation` writes it: `<repository>/<path>`. */
function runfilesPathProblem(s: string): string | undefined {
  const ok =
    s !== "" &&
    !s.startsWith("/") &&
    !s.includes("\0") &&
    s.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
  return ok ? undefined : "expected a runfiles-relative path (<repository>/<path>, no empty, '.' or '..' segment)";
}
const runfilesPath = str(runfilesPathProblem);

const LAUNCH_IMAGE = obj(
  {
    name: { v: str(), required: true },
    layout: { v: runfilesPath, required: true, doc: "the OCI layout directory" },
    digestFile: { v: runfilesPath, required: true, doc: "the `.digest` file" },
    sbomFile: { v: runfilesPath, doc: "the image's SPDX SBOM, attached to the pushed image as a referrer" },
  },
  "a mapping {name, layout, digestFile, sbomFile}",
);

/**
 * The launch config bazel/private/pipeline/launcher.bzl `launch_config` writes (paths runfiles-relative): every field checked,
 * none cast, an unknown one refused.
 */
const LAUNCH_CONFIG = obj(
  {
    label: { v: str(), required: true },
    mode: { v: choice(["push", "run", "binary", "local"]), required: true },
    workspace: { v: str(), required: true },
    registry: { v: str(), required: true },
    repository: { v: str(), required: true },
    tags: { v: list(str()), required: true },
    insecure: { v: bool, required: true },
    images: { v: list(LAUNCH_IMAGE), required: true },
    env: { v: dict(str()), required: true },
    entry: { v: runfilesPath, doc: "the compiled entry point" },
    preload: {
      v: runfilesPath,
      doc: "the preload (tools/preload.ts) the launch script runs with: `pipeline bazel-run` passes it to Node's --require",
    },
    stampFiles: {
      v: list(runfilesPath),
      doc: "the workspace status files (stable, then volatile): set only when built with stamping, for `{KEY}` in `tags`",
    },
    lockfiles: {
      v: list(
        obj(
          { name: { v: str(), required: true }, path: { v: runfilesPath, required: true } },
          "a mapping {name, path}",
        ),
      ),
      doc: "the lockfiles the images were built from (for the provenance): a label each and its path",
    },
    signKey: {
      v: runfilesPath,
      doc: "the `sign_key` attribute's cosign private key (a source file, linked in the runfiles)",
    },
    remoteCache: {
      v: str(),
      doc: "`--@rules_pipeline//bazel:remote_cache`: the HTTP cache the push reads the layers its layouts lack from",
    },
  },
  "a mapping of launch settings (label, mode, images, ...)",
);
export type LaunchConfig = Infer<typeof LAUNCH_CONFIG>;
export type LaunchImage = Infer<typeof LAUNCH_IMAGE>;

/** The launch config at `path`, validated: E_LAUNCH_CONFIG naming the file, the field and the value otherwise. */
export function readLaunchConfig(path: string): LaunchConfig {
  // The one reader of files a flag names (src/named-file.ts): a regular file of at most 4 MiB.
  const bytes = readNamedFileSync(path, { what: "launch config", bound: 4 * 1024 * 1024, code: "E_LAUNCH_CONFIG" });
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new PipelineError("E_LAUNCH_CONFIG", `cannot read launch config ${path}: ${(e as Error).message}`);
  }
  return checkJson(value, `launch config ${path} (malformed: rebuild the target)`, LAUNCH_CONFIG, "E_LAUNCH_CONFIG");
}

export function readDigestFile(path: string): Digest {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new PipelineError("E_RUNFILES", `cannot read image digest ${path}: ${(e as Error).message}`);
  }
  return parseDigest(text, path);
}
