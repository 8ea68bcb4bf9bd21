import { describe, expect, test } from "vitest";
import { launchTarget, runOnKubernetes, runOnKubernetesCommand } from "./index";

const REF = "localhost:5000/examples/hello@sha256:" + "b".repeat(64);
const CUDA = "localhost:5000/examples/hello-cuda@sha256:" + "c".repeat(64);

describe("launchTarget (PIPELINE_TARGET)", () => {
  test("unset: container with an image, inprocess without one; always inprocess inside a container", () => {
    expect(launchTarget({})).toBe("inprocess");
    expect(launchTarget({ PIPELINE_CONTAINER_IMAGE: REF })).toBe("container");
    expect(launchTarget({ PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_TARGET: "" })).toBe("container");
    expect(
      launchTarget({ PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_TARGET: "kubernetes", PIPELINE_IN_CONTAINER: "1" }),
    ).toBe("inprocess");
  });

  test("set: honoured; a bad value or a target needing an image without one names the variable and the value", () => {
    expect(launchTarget({ PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_TARGET: "kubernetes" })).toBe("kubernetes");
    expect(launchTarget({ PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_TARGET: "inprocess" })).toBe("inprocess");
    expect(() => launchTarget({ PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_TARGET: "k8s" })).toThrow(
      'PIPELINE_TARGET: expected one of inprocess, container, kubernetes, got "k8s"',
    );
    expect(() => launchTarget({ PIPELINE_TARGET: "kubernetes" })).toThrow(
      /^PIPELINE_TARGET=kubernetes needs a container image, and this run has none/,
    );
  });
});

describe("runOnKubernetes", () => {
  test("runs `pipeline run --on kubernetes` with the pushed image, resources, cluster options and args", () => {
    const env = { PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_CLI_NODE: "/r/node", PIPELINE_CLI: "/r/tools/pipeline.js" };
    const c = runOnKubernetesCommand({
      processEnv: env,
      args: ["1", "--x"],
      env: { A: "b" },
      cpu: "2",
      memory: "4Gi",
      gpu: 1,
      namespace: "ml",
      context: "prod",
      serviceAccount: "trainer",
      keepJob: true,
      timeoutSeconds: 60,
    });
    expect(c.command).toBe("/r/node");
    expect(c.args).toEqual([
      "/r/tools/pipeline.js",
      "run",
      "--on",
      "kubernetes",
      "--image",
      REF,
      "--env",
      "A=b",
      "--cpu",
      "2",
      "--memory",
      "4Gi",
      "--gpu",
      "1",
      "--namespace",
      "ml",
      "--context",
      "prod",
      "--service-account",
      "trainer",
      "--timeout",
      "60",
      "--keep-job",
      "--",
      "1",
      "--x",
    ]);
  });

  test("machineType (or the spec's older name instanceType, not both) and restricted, as the spec names them", () => {
    const processEnv = { PIPELINE_CONTAINER_IMAGE: REF };
    const flags = (o: Parameters<typeof runOnKubernetesCommand>[0]) =>
      runOnKubernetesCommand({ processEnv, ...o }).args.slice(5, -1);
    expect(flags({ machineType: "A100", restricted: false })).toEqual(["--machine-type", "A100", "--no-restricted"]);
    expect(flags({ instanceType: "C5", restricted: true })).toEqual(["--machine-type", "C5", "--restricted"]);
    expect(flags({})).toEqual([]);
    expect(() => runOnKubernetesCommand({ processEnv, machineType: "A100", instanceType: "C5" })).toThrow(
      'runOnKubernetes: give "instanceType" or its newer name "machineType", not both',
    );
  });

  test("image `name` of a multi-image pipeline; an unpushed image (:NAME_binary) is refused before anything starts", async () => {
    const uris = JSON.stringify({ default: REF, cuda: CUDA });
    expect(
      runOnKubernetesCommand({ processEnv: { PIPELINE_CONTAINER_IMAGE_URIS: uris }, name: "cuda", gpu: 1 }).args.slice(
        0,
        5,
      ),
    ).toEqual(["run", "--on", "kubernetes", "--image", CUDA]);
    const env = {
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CONTAINER_IMAGE_LAYOUTS: JSON.stringify({ default: "/r/img" }),
    };
    await expect(runOnKubernetes({ processEnv: env })).rejects.toThrow(
      /was built but not pushed \(`:NAME_binary`\): a cluster cannot pull it/,
    );
    await expect(runOnKubernetes({ processEnv: {} })).rejects.toThrow(/PIPELINE_CONTAINER_IMAGE is not set/);
  });
});
