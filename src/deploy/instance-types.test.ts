import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { INSTANCE_TYPES, instanceTypeProblem } from "./instance-types";

/** The rows of the table under "### Instance types" in docs/deployments.md. */
function docsTable(): Record<string, { cpu: string; memory: string; gpu: number }> {
  const text = readFileSync(join(__dirname, "../../docs/deployments.md"), "utf8");
  const section = text.slice(text.indexOf("### Instance types"));
  const rows = section.split("\n").filter((l) => /^\| [A-Z]/.test(l) && !l.startsWith("| name"));
  return Object.fromEntries(
    rows.map((l) => {
      const [name, cpu, memory, gpu] = l
        .split("|")
        .slice(1, 5)
        .map((c) => c.trim());
      return [name, { cpu, memory, gpu: Number(gpu) }];
    }),
  );
}

describe("instance types", () => {
  it("the docs table and the code table agree", () => {
    expect(docsTable()).toEqual(INSTANCE_TYPES);
  });

  it("has the Gradient names the spec documents, with multi-GPU variants", () => {
    for (const n of [
      "C3",
      "C4",
      "C10",
      "P4000",
      "P5000",
      "P6000",
      "V100",
      "V100-32G",
      "A4000",
      "A5000",
      "A6000",
      "A100",
      "A100-80G",
      "A6000x4",
      "A100-80Gx8",
    ])
      expect(INSTANCE_TYPES[n], n).toBeDefined();
    expect(INSTANCE_TYPES["A100-80Gx8"]).toEqual({ cpu: "96", memory: "720Gi", gpu: 8 });
  });

  it("unknown names get a did-you-mean", () => {
    expect(instanceTypeProblem("a6000")).toMatch(/^unknown machine type \(did you mean "A6000"\?\)/);
    expect(instanceTypeProblem("V100-32")).toMatch(/did you mean "V100-32G"/);
    expect(instanceTypeProblem("C4")).toBeUndefined();
  });
});
