// The launch script of the hello pipeline, and the program its image runs.
// - `bazel run //examples/hello:hello` pushes the image, then this script starts the pipeline in a local container
//   from the pushed reference (`pipeline run` under the hood); inside the container the same file does the work.
// - `:hello_binary` does the same from the built, unpushed image; `:hello_local` runs everything in-process.
// - PIPELINE_TARGET chooses where the pipeline runs, as Sematic's `CloudResolver() if has_container_image() else None`:
//     inprocess    right here, in this process (the default without an image, i.e. under :hello_local)
//     container    a local container from the image (the default with one)
//     kubernetes   a Job on the cluster of the current kubeconfig context, from the pushed image
//                  (`PIPELINE_TARGET=kubernetes bazel run //examples/hello:hello -- 1 2 3`; HELLO_NAMESPACE picks the namespace)
//   Inside the container or the pod, the target is always inprocess: the work happens there.
import { containerImageUri, inContainer, launchTarget, runInContainer, runOnKubernetes } from "@rules_pipeline/runtime";
import { sum } from "lodash";
import { greeting } from "./greeting";

// The work: sums its arguments. An argument that is not a number fails the pipeline with exit code 2, which
// every target hands back to the caller (`bazel run //examples/hello:hello -- 1 x` exits 2).
function work(argv: string[]): void {
  console.log(greeting());
  console.log(inContainer() ? "running inside the container" : "no container image: running in-process");
  const bad = argv.find((a) => Number.isNaN(Number(a)));
  if (bad !== undefined) {
    console.error(`hello: not a number: ${JSON.stringify(bad)}`);
    process.exitCode = 2;
    return;
  }
  console.log(`args: ${JSON.stringify(argv)} sum: ${sum(argv.map(Number))}`);
}

async function main(argv: string[]): Promise<void> {
  const target = launchTarget();
  if (target === "container") {
    console.log(`container image: ${containerImageUri()}`);
    // Streams the container's output and hands back its exit code.
    process.exitCode = await runInContainer({ args: argv });
    return;
  }
  if (target === "kubernetes") {
    console.log(`container image: ${containerImageUri()} (on Kubernetes)`);
    // A Job from the pushed image: streams the pod's log, hands back its exit code, deletes the Job (Ctrl-C too).
    process.exitCode = await runOnKubernetes({ args: argv, cpu: "250m", memory: "256Mi", namespace: process.env.HELLO_NAMESPACE });
    return;
  }
  work(argv);
}

main(process.argv.slice(2)).catch((e: Error) => {
  console.error(`hello: ${e.message}`);
  process.exitCode = 1;
});
