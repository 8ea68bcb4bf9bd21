/**
 * The spec is read through the schema's inferred type (spec-fields.ts): these checks run in the typecheck
 * (`tsc -p tsconfig.test.json`), where an unused `@ts-expect-error` or a type mismatch fails.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { parseDeploymentSpec } from "./spec";
import type { CheckedSpec } from "./spec-fields";
import type { CheckedClusterFields } from "./spec-fields-cluster";
import type { DeploymentSpec, SecretRef } from "./types";

describe("the checked spec's type is the schema's", () => {
  it("gives each field the type its validator returns", () => {
    expectTypeOf<CheckedSpec["port"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf<CheckedSpec["command"]>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<NonNullable<CheckedSpec["repositories"]>["repositories"][number]["password"]>().toEqualTypeOf<
      SecretRef | undefined
    >();
    expectTypeOf<NonNullable<CheckedClusterFields["resources"]>["gpu"]>().toEqualTypeOf<number | undefined>();
    // A tagged field is the union of its variants: `type` narrows it.
    expectTypeOf<
      Extract<NonNullable<CheckedSpec["interpreter"]>, { type: "ContainerAtDigest" }>["digest"]
    >().toEqualTypeOf<string>();
    expectTypeOf<NonNullable<CheckedSpec["code"]>["type"]>().toEqualTypeOf<
      "GitRepoBranch" | "GitRepoCommit" | "ServerAvailableFolder" | "None"
    >();
  });

  it("has a DeploymentSpec field of the same name for each schema field (image and port are read into interpreter and ports)", () => {
    expectTypeOf<
      Exclude<keyof CheckedSpec, keyof DeploymentSpec | "image" | "port" | "__valid" | "__keys">
    >().toEqualTypeOf<never>();
  });

  it("refuses a field the schema does not declare", () => {
    const read = (c: CheckedSpec) =>
      // @ts-expect-error a misspelled field is no property of the checked spec
      c.imagee;
    expect(read).toBeTypeOf("function");
    const spec = parseDeploymentSpec("image: registry.example.com/team/app:v1\nport: 8080\n", "deploy.yaml");
    expect(spec.ports).toEqual([8080]);
  });
});
