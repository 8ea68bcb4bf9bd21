/**
 * The TsTranspile action's program, what the rules bundle into `ts_transpile.js` (`@rules_pipeline//:ts_transpiler`)
 * and run: `node ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS...` (src/tsc/transpile.ts).
 */
import { main } from "../src/tsc/transpile";

process.exitCode = main(process.argv.slice(2));
