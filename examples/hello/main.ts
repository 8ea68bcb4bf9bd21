// The launch script of the hello pipeline, and the program its image runs.
// - `bazel run //examples/hello:hello` pushes the image, then this script starts the pipeline in a local container
//   from the pushed reference (`pipeline run` under the hood); inside the container the same file does the work.
// - `:hello_binary` does the same from the built, unpushed image; `:hello_local` runs everything in-process.
import { containerImageUri, hasContainerImage, inContainer, runInContainer } from "@rules_pipeline/runtime";
import { sum } from "lodash";
import { greeting } from "./greeting";

function work(argv: string[]): void {
  console.log(greeting());
  console.log(inContainer() ? "running inside the container" : "no container image: running in-process");
  const numbers = argv.map(Number).filter((n) => !Number.isNaN(n));
  console.log(`args: ${JSON.stringify(argv)} sum: ${sum(numbers)}`);
}

async function main(argv: string[]): Promise<void> {
  if (hasContainerImage() && !inContainer()) {
    console.log(`container image: ${containerImageUri()}`);
    // Streams the container's output and hands back its exit code.
    process.exitCode = await runInContainer({ args: argv });
    return;
  }
  work(argv);
}

main(process.argv.slice(2)).catch((e: Error) => {
  console.error(`hello: ${e.message}`);
  process.exitCode = 1;
});
