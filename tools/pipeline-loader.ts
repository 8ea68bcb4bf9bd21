#!/usr/bin/env node
/**
 * The `pipeline` command of the npm package (scripts/pack.js: pipeline.js): runs the CLI's bundle beside it
 * (pipeline-main.js, tools/pipeline.ts bundled in two files: src/cli/lazy-bundle.ts) and has its second file, the
 * commands, loaded with a V8 code cache, which makes a command's start-up a deserialization instead of a compile of
 * 1.2 MB (src/cli/code-cache.ts). `--version` and `--help` load only the first file (~60 KB).
 */
import { join } from "node:path";
import { BUNDLE_CODE_CACHE_VAR } from "../src/cli/lazy-bundle";

process.env[BUNDLE_CODE_CACHE_VAR] = "1";
// A path esbuild does not follow: the bundle stays its own file.
require(join(__dirname, "pipeline-main.js"));
