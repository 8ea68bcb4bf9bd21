/**
 * The TsCompile action's program, what the rules bundle into `tsc_worker.js` (`@rules_pipeline//:tsc_worker`) and run:
 * one-shot (`@ARGS_FILE`) or as a persistent worker (`--persistent_worker`); src/tsc/worker.ts says how. A process
 * started from the compiler snapshot (src/tsc/snapshot.ts) requires this file and calls `main` itself.
 */
import { main } from "../src/tsc/worker";

if (require.main === module) main();

export { main };
