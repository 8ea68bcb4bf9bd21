/**
 * `pipeline map --on kubernetes`: the target (src/map/kubernetes.ts) made from the command's flags: the kubeconfig and
 * namespace as `pipeline run --on kubernetes` reads them, the image by digest in a registry the cluster pulls from,
 * the pods' resources from --cpu/--memory/--gpu/--machine-type (runSpec: the same checks and the same pod settings as
 * a run, Pod Security restricted included), the task checked in the image before the Job is created.
 */
import { resolve } from "node:path";
import type { MapTarget } from "../../map/target";
import { usageError as usage } from "../args";
import type { CliIo } from "../io";
import type { MapArgs } from "./map";

const DEFAULT_POD_TIMEOUT_S = 300;

export async function kubernetesTargetOf(a: MapArgs, io: CliIo, storeEnv: Record<string, string>): Promise<MapTarget> {
  const image = a.image;
  const [{ containerFromReference }, { imageSpec, runSpec }] = await Promise.all([
    import("../../deploy/constructors.js"),
    import("../../k8s/run-job.js"),
  ]);
  if (!image)
    throw usage("--on kubernetes: name the pipeline's pushed image with --image HOST/REPO@sha256:… (the pods pull it)");
  const interp = containerFromReference(image, "--image", io.cwd);
  if (interp.kind !== "ContainerAtDigest")
    throw usage(
      `--image ${image}: --on kubernetes needs the image in a registry by digest (HOST/REPO@sha256:…): a cluster cannot pull ${interp.kind === "ContainerInLayout" ? "an OCI layout on this machine (push it: bazel run //pkg:NAME_push)" : "a tag and know it runs the bytes the results are keyed by"}`,
    );
  const podTimeout = a["pod-timeout"] ?? DEFAULT_POD_TIMEOUT_S;
  if (!(podTimeout > 0)) throw usage(`--pod-timeout: expected seconds > 0, got ${JSON.stringify(a["pod-timeout"])}`);
  const loaded = (await import("../../k8s/kubeconfig.js")).loadKubeconfig({
    env: io.env,
    kubeconfig: a.kubeconfig && resolve(io.cwd, a.kubeconfig),
    context: a.context,
  });
  const name = interp.repository.split("/").pop()!;
  const spec = runSpec(imageSpec(name, interp), {
    cpu: a.cpu,
    memory: a.memory,
    gpu: a.gpu,
    machineType: a["machine-type"],
  });
  const [
    { KubeHttp },
    { kubernetesTarget },
    { checkImageHolds },
    { MAP_WORKER_IN_IMAGE },
    { cacheRoot },
    { limitsFromFlags },
  ] = await Promise.all([
    import("../../k8s/run-api.js"),
    import("../../map/kubernetes.js"),
    import("../../map/image-check.js"),
    import("../../runtime/map-cluster.js"),
    import("../../cache/layout.js"),
    import("../../layer/limits.js"),
  ]);
  const { parseReference } = await import("../../oci/reference.js");
  const { keychainFor } = await import("../auth-flags.js");
  const keychain = await keychainFor(a, parseReference(image, "--image").registry, io);
  return kubernetesTarget({
    api: new KubeHttp(loaded),
    namespace: a.namespace ?? loaded.namespace ?? "default",
    deployment: { spec, image: `${interp.repository}@${interp.digest}`, warnings: [] },
    name,
    storeEnv,
    serviceAccount: a["service-account"],
    keepJob: a["keep-job"],
    queue: a.queue,
    podTimeoutMs: podTimeout * 1000,
    intervalMs: a["poll-interval"] ?? 1000,
    checkImage: (module, what) =>
      checkImageHolds(module, what, {
        image,
        keychain,
        insecure: a.insecure,
        cacheDir: cacheRoot(io.env, a["cache-dir"]),
        limits: limitsFromFlags({}, io.env),
        worker: MAP_WORKER_IN_IMAGE,
      }),
    log: (line) => io.stderr(line),
  });
}
