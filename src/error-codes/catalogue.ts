/**
 * The error catalogue: every code a PipelineError can carry, what it means, what the user does next and an example
 * message. `ErrorCode` is derived from it, so a misspelled code does not compile; docs/errors.md is generated from it
 * (test/unit/error-codes.test.ts, which also fails when a code used in src/, tools/ or bazel/ is missing here).
 * To add a code: one entry in the part it belongs to (build.ts, registry.ts, run.ts, deploy.ts).
 */
import { BUILD_ERRORS } from "./build";
import { DEPLOY_ERRORS } from "./deploy";
import type { ErrorDoc } from "./entry";
import { REGISTRY_ERRORS } from "./registry";
import { RUN_ERRORS } from "./run";

/** The catalogue's parts, in the order docs/errors.md lists them, with their headings. */
export const ERROR_SECTIONS = [
  { title: "Building images", codes: BUILD_ERRORS },
  { title: "Registries, credentials, signatures", codes: REGISTRY_ERRORS },
  { title: "Command line, launchers and local runs", codes: RUN_ERRORS },
  { title: "Deployments, secrets, models, git and Kubernetes", codes: DEPLOY_ERRORS },
] as const;

export const ERROR_CODES = { ...BUILD_ERRORS, ...REGISTRY_ERRORS, ...RUN_ERRORS, ...DEPLOY_ERRORS } satisfies Record<
  `E_${string}`,
  ErrorDoc
>;

/** A stable error code: one of the catalogue's. */
export type ErrorCode = keyof typeof ERROR_CODES;
