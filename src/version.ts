/** The version of rules_pipeline and its `pipeline` CLI (kept equal to package.json's by src/version.test.ts). */
export const VERSION = "0.1.0";
