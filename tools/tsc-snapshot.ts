/**
 * The TsSnapshot action's program, what the rules bundle into `tsc_snapshot.js` (`@rules_pipeline//:tsc_snapshot_builder`)
 * and run as `node --snapshot-blob OUT --build-snapshot tsc_snapshot.js --typescript PATH/typescript.js --types-root
 * DIR` (src/tsc/snapshot.ts). A bundle of its own: a snapshot's script may load only some of Node's built-in modules.
 */
import { buildSnapshot } from "../src/tsc/snapshot";

buildSnapshot(process.argv.slice(2));
