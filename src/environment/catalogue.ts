/**
 * The environment contract: every PIPELINE_* variable, who sets it, who reads it, its format. Starlark takes the
 * names from bazel/private/common/environment.bzl and docs/environment.md is the reference, both generated from here by
 * test/unit/environment.test.ts, which also fails when a PIPELINE_* name used in the checkout is not listed here.
 * To add a variable: one entry in the part it belongs to (user.ts, internal.ts, development.ts).
 */
import { DEVELOPMENT_VARIABLES } from "./development";
import type { EnvVarDoc } from "./entry";
import { INTERNAL_VARIABLES } from "./internal";
import { USER_VARIABLES } from "./user";

/** The parts, in the order docs/environment.md lists them; `starlark`: the names bazel/private/common/environment.bzl holds. */
export const ENVIRONMENT_SECTIONS = [
  { title: "Set by users", variables: USER_VARIABLES, starlark: true },
  { title: "Set by the rules and the CLI for the processes they start", variables: INTERNAL_VARIABLES, starlark: true },
  { title: "Development and tests", variables: DEVELOPMENT_VARIABLES, starlark: false },
] as const;

export const ENVIRONMENT_VARIABLES = {
  ...USER_VARIABLES,
  ...INTERNAL_VARIABLES,
  ...DEVELOPMENT_VARIABLES,
} satisfies Record<`PIPELINE_${string}`, EnvVarDoc>;

export type EnvironmentVariable = keyof typeof ENVIRONMENT_VARIABLES;

/** A name written `PREFIX_<NAME>` stands for a family: every variable starting with PREFIX_. */
export const FAMILY = "<NAME>";
