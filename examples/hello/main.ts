// The launch script of the hello pipeline. Run by `bazel run //examples/hello:hello` (after the image is pushed),
// `:hello_binary`, `:hello_local`, and inside the container as its entrypoint.
import { containerImageUri, hasContainerImage } from "@rules_pipeline/runtime";
import { sum } from "lodash";
import { greeting } from "./greeting";

function main(argv: string[]): void {
  console.log(greeting());
  if (hasContainerImage()) {
    console.log(`container image: ${containerImageUri()}`);
  } else {
    console.log("no container image: running in-process");
  }
  const numbers = argv.map(Number).filter((n) => !Number.isNaN(n));
  console.log(`args: ${JSON.stringify(argv)} sum: ${sum(numbers)}`);
}

main(process.argv.slice(2));
