#!/usr/bin/env node
/** The `pipeline` CLI entry point, also what the Bazel rules run. */

// Under Bazel the CLI's own npm packages (the AWS SDK, loaded only by commands that use it) sit outside any parent
// node_modules of this file: the launcher names their directory, which is added to the module search path without
// leaking NODE_PATH to child processes. Start-up loads no npm package: a no-op push must stay close to `node -e 0`.
const toolsModules = process.env.PIPELINE_TOOLS_NODE_MODULES;
if (toolsModules) {
  const Module = require("node:module");
  const saved = process.env.NODE_PATH;
  process.env.NODE_PATH = [toolsModules, saved].filter(Boolean).join(require("node:path").delimiter);
  Module._initPaths();
  if (saved === undefined) delete process.env.NODE_PATH;
  else process.env.NODE_PATH = saved;
  delete process.env.PIPELINE_TOOLS_NODE_MODULES;
}

const { runCli } = require("../src/cli/run-cli") as typeof import("../src/cli/run-cli");
const { bazelAction } = require("../src/cli/worker") as typeof import("../src/cli/worker");

(bazelAction(process.argv.slice(2)) ?? runCli(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
