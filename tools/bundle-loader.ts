/**
 * How the rules' launchers run the `pipeline` CLI (bazel/private/pipeline/launcher.bzl, cli_binary.bzl):
 * `node pipeline_loader.js pipeline_cli.js <command> ...` runs the bundle and has its second file, the commands
 * (pipeline_cli.lazy.js, src/cli/lazy-bundle.ts), loaded with a V8 code cache (src/cli/code-cache.ts), as the npm
 * package's `pipeline` command does (tools/pipeline-loader.ts). The bundle then sees the command line
 * `node pipeline_cli.js <command> ...`, as if Node had run it directly.
 *
 * Build actions run the bundle without it: in a sandbox the cache root is not writable, and a worker compiles once.
 *
 * A push or run launcher whose Node (before 22) would build its whole CA store at start for `NODE_EXTRA_CA_CERTS`
 * starts it with `--use-openssl-ca` and that variable kept aside as PIPELINE_NODE_EXTRA_CA_CERTS (launcher.bzl,
 * `ca_swap`): it is put back here, so the programs the command starts (credential helpers, `bazel-run`'s launch
 * script) see the user's environment.
 */
import { resolve } from "node:path";
import { BUNDLE_CODE_CACHE_VAR } from "../src/cli/lazy-bundle";

const bundle = process.argv[2];
if (!bundle) {
  process.stderr.write("usage: node pipeline_loader.js BUNDLE [ARGUMENT...]\n");
  process.exit(2);
}
process.argv.splice(1, 2, bundle);
process.env[BUNDLE_CODE_CACHE_VAR] = "1";
const extraCa = process.env.PIPELINE_NODE_EXTRA_CA_CERTS;
if (extraCa !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = extraCa;
  delete process.env.PIPELINE_NODE_EXTRA_CA_CERTS;
}
require(resolve(bundle));
