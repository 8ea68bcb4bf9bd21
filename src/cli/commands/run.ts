/**
 * `pipeline run`: run an image or a deployment spec on this machine (src/container/).
 *
 *   pipeline run SPEC [--env K=V]... [--mount SRC:DST[:ro]]... [--runtime R] [--network host|none] [-- ARGS]
 *   pipeline run --image REF [--env K=V]... [--mount SRC:DST[:ro]]... [--runtime R] [--network host|none]
 *                [--workdir D] [--entrypoint PROG] [--replicas N] [-- ARGS]
 *
 * REF is HOST/REPO@sha256:... (a tag is pinned first, with a warning), oci:DIR or oci:DIR@sha256:..., the same
 * forms with or without a spec (deploy/constructors.ts containerFromReference; an oci: digest must be the layout's image, else
 * E_DIGEST_MISMATCH, deploy/layout-image.ts). ARGS replace the image's Cmd (or the spec's args). A --mount's
 * container path gets the spec's mount path check (deploy/path-checks.ts). The exit code is the container's (the
 * first non-zero one of several replicas). The launch-script runtime (src/runtime) spawns
 * `pipeline run --image URI -- ARGS`. `--on kubernetes` runs the same as a Job on a cluster instead
 * (run-kubernetes.ts); the flags of one target are usage errors with the other.
 *
 * Ctrl-C / SIGTERM / SIGHUP: the containers get SIGTERM, then SIGKILL after --stop-timeout seconds; a second
 * signal kills them at once. Either way the containers are deleted and their bundles removed before the
 * command returns.
 *
 * Only this table and types load at start-up; the runner is imported when the command runs.
 */
import { resolve } from "node:path";
import { PipelineError } from "../../errors";
import type { InterpreterDeployment } from "../../deploy/types";
import type { Keychain } from "../../registry-auth/keychain";
import { onTermination } from "../../process/signals";
import { usageError as usage } from "../args";
import type { CliIo } from "../io";
import { parseEnvFlags, parseMountFlags, type RunArgs } from "./run-flags";

export type { RunArgs };
export { parseEnvFlags, parseMountFlags };

export { RUN_OPTIONS } from "../deploy-options";

/**
 * `--image REF` as an interpreter, the same with or without a spec: one grammar, and `oci:DIR[@DIGEST]` pinned to
 * (or checked against) the layout's image here, so both paths say the same about a wrong digest.
 */
async function imageFlag(ref: string, cwd: string): Promise<InterpreterDeployment> {
  const { containerFromReference } = await import("../../deploy/constructors.js");
  const interp = containerFromReference(ref, "--image", cwd);
  if (interp.kind !== "ContainerInLayout") return interp;
  const { pinLayoutImage } = await import("../../deploy/layout-image.js");
  return { ...interp, digest: pinLayoutImage({ dir: interp.layout, digest: interp.digest }, { what: "--image" }) };
}

export async function run(a: RunArgs, io: CliIo): Promise<{ exitCode: number }> {
  // `--on kubernetes`: a Job on a cluster (run-kubernetes.ts); its flags are refused here without it.
  const onKubernetes = await import("./run-kubernetes.js");
  if ((a as { on?: string }).on === "kubernetes") return onKubernetes.runKubernetes(a, io);
  onKubernetes.checkTarget(a);
  if (!a.spec && !a.image) throw usage("pipeline run: name a deployment spec file, or an image with --image REF");
  if (a.spec && (a.workdir || a.entrypoint || (a.replicas ?? 1) !== 1))
    throw usage(
      "--workdir, --entrypoint and --replicas go with --image (a spec says workingDir, command and resources.replicas)",
    );
  const replicas = a.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1)
    throw usage(`--replicas: expected a positive integer, got ${JSON.stringify(a.replicas)}`);
  const stopTimeout = a["stop-timeout"] ?? 5;
  if (!(stopTimeout >= 0))
    throw usage(`--stop-timeout: expected seconds >= 0, got ${JSON.stringify(a["stop-timeout"])}`);
  const extraEnv = parseEnvFlags(a.env ?? [], io.env);
  const mounts = parseMountFlags(a.mount ?? [], io.cwd);
  const args = a["--"]?.length ? a["--"].map(String) : undefined;
  const limits = (await import("../../layer/limits.js")).limitsFromFlags(a, io.env);
  const policy = await import("../../sign/policy.js");
  let signatureKey = policy.requiredKeyOf(a["require-signature"], io.env);
  // The key a flag names is read before anything else (a device or a FIFO is refused at once, src/named-file.ts).
  await policy.checkRequiredKey(signatureKey);
  // Before anything runs: the image's signature must verify; what runs is the digest that was verified.
  const verified = async (image: string, keychain: Keychain | undefined): Promise<string> => {
    if (!signatureKey) return image;
    const transfer = (await import("../../registry/transfer-rate.js")).transferRateOf(limits);
    const v = await policy.requireSignature(image, signatureKey, {
      keychain,
      insecure: a.insecure,
      log: io.debug,
      transfer,
    });
    io.stderr(`signature ${v.signature} of ${v.pinned}: verifies with ${signatureKey.path}`);
    return v.pinned;
  };

  const { lineWriter } = await import("../../lines.js");
  const { cacheRoot } = await import("../../container/paths.js");
  const { keychainFor } = await import("../auth-flags.js");
  const { progressFor } = await import("../../registry/progress.js");
  const stdout = lineWriter(io.stdout);
  const stderr = lineWriter(io.stderr);
  const stop = new AbortController();
  const kill = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      io.stderr(`${sig}: stopping the container(s) (SIGTERM, SIGKILL after ${stopTimeout}s; again to kill now)`);
      stop.abort();
    } else kill.abort();
  };
  const offSignals = onTermination(onSignal);
  const common = {
    network: (a.network ?? "host") as "host" | "none",
    runtime: (a.runtime ?? "auto") as "auto",
    cacheDir: cacheRoot(io.env, a["cache-dir"]),
    rootfs: (a.rootfs ?? "auto") as "auto",
    insecure: a.insecure,
    progress: progressFor(io),
    stdout,
    stderr,
    signal: stop.signal,
    kill: kill.signal,
    stopTimeoutMs: stopTimeout * 1000,
    limits,
    log: (line: string) => io.stderr(line),
    warn: (line: string) => io.stderr(`warning: ${line}`),
  };
  try {
    if (a.image && !a.spec) {
      const interp = await imageFlag(a.image, io.cwd);
      const { runContainer } = await import("../../container/container.js");
      const { formatLayoutReference } = await import("../../deploy/layout-image.js");
      const image =
        interp.kind === "ContainerInLayout"
          ? formatLayoutReference({ dir: interp.layout, digest: interp.digest })
          : a.image;
      const registry =
        interp.kind === "ContainerInLayout"
          ? undefined
          : (await import("../../oci/reference.js")).parseReference(a.image, "--image").registry;
      const keychain = registry ? await keychainFor(a, registry, io) : undefined;
      return await runContainer({
        ...common,
        image: await verified(interp.kind === "ContainerInLayout" ? `oci:${interp.layout}` : image, keychain),
        keychain,
        args,
        command: a.entrypoint ? [a.entrypoint] : undefined,
        env: extraEnv,
        workingDir: a.workdir,
        mounts,
        name: a.name,
        replicas,
      });
    }
    const { dirname } = await import("node:path");
    const [{ loadDeploymentSpec }, { resolveDeployment }, { runDeployment }] = await Promise.all([
      import("../../deploy/spec.js"),
      import("../../deploy/resolve.js"),
      import("../../container/deployment.js"),
    ]);
    const specPath = resolve(io.cwd, a.spec!);
    const spec = loadDeploymentSpec(specPath, { warn: common.warn });
    signatureKey = policy.requiredKeyOf(a["require-signature"], io.env, {
      file: specPath,
      requireSignature: spec.requireSignature,
    });
    // So is the key the spec names, before any registry is asked about its image.
    await policy.checkRequiredKey(signatureKey);
    if (a.name) spec.name = a.name;
    // --image with a spec: the spec runs that image (e.g. the one `bazel run //pkg:NAME_push` just pushed).
    if (a.image) spec.interpreter = await imageFlag(a.image, io.cwd);
    const image =
      spec.interpreter.kind === "ContainerAtTag" || spec.interpreter.kind === "ContainerAtDigest"
        ? spec.interpreter.repository
        : undefined;
    const keychain = image
      ? await keychainFor(a, (await import("../../oci/reference.js")).parseReference(image, "image").registry, io)
      : undefined;
    const resolved = await resolveDeployment(spec, { keychain, insecure: a.insecure, env: io.env, warn: common.warn });
    if (signatureKey) {
      const pinned = resolved.spec.interpreter;
      if (pinned.kind === "ContainerAtDigest") await verified(`${pinned.repository}@${pinned.digest}`, keychain);
      else if (pinned.kind === "ContainerInLayout") await verified(`oci:${pinned.layout}`, keychain);
      else
        throw new PipelineError(
          "E_SIGNATURE",
          `${specPath}: a signature is required (--require-signature ${signatureKey.path}) and the spec's interpreter is ${pinned.kind}, not an image`,
        );
    }
    return await runDeployment(resolved, {
      ...common,
      keychain,
      env: io.env,
      baseDir: dirname(specPath),
      args,
      extraEnv,
      extraMounts: mounts,
      allowHostPaths: (a["allow-host-path"] ?? []).map((p) => resolve(io.cwd, p)),
    });
  } finally {
    offSignals();
    await Promise.all([stdout, stderr].map((s) => new Promise<void>((res) => s.end(res))));
  }
}
