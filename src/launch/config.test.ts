import { describe, expect, test } from "vitest";
import { pushTarget } from "./config";

const cfg = { registry: "localhost:5000", repository: "examples/hello", label: "//examples/hello:hello" };

describe("pushTarget", () => {
  test("the BUILD file's registry/repository by default", () => {
    expect(pushTarget(cfg, undefined, {})).toEqual({ registry: "localhost:5000", repository: "examples/hello" });
  });
  test("$PIPELINE_REPOSITORY overrides it, --repository overrides both", () => {
    const env = { PIPELINE_REPOSITORY: "127.0.0.1:5001/other/repo" };
    expect(pushTarget(cfg, undefined, env)).toEqual({ registry: "127.0.0.1:5001", repository: "other/repo" });
    expect(pushTarget(cfg, "ghcr.io/me/x", env)).toEqual({ registry: "ghcr.io", repository: "me/x" });
  });
  test.each([
    ["localhost:5000/a:v1", /--repository: should not contain a tag or digest, got "localhost:5000\/a:v1"/],
    ["justaname", /--repository: expected HOST\/REPOSITORY/],
    ["localhost:5000/UPPER", /lowercase/],
  ])("bad --repository %j is named with its value", (value, message) => {
    expect(() => pushTarget(cfg, value, {})).toThrow(message);
  });
});
