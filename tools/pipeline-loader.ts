#!/usr/bin/env node
/**
 * The `pipeline` command of the npm package (scripts/pack.js: pipeline.js): runs the CLI's bundle beside it
 * (pipeline-main.js, tools/pipeline.ts bundled) with a V8 code cache, which makes start-up a deserialization
 * instead of a compile of 1.2 MB (src/cli/code-cache.ts).
 */
import { join } from "node:path";
import { runBundle } from "../src/cli/code-cache";

runBundle(join(__dirname, "pipeline-main.js"));
