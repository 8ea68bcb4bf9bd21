import { writeFileSync } from "node:fs";
import { scratchDir } from "../test/fixtures/scratch";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PipelineError } from "./errors";
import {
  describeSkip,
  expand,
  expandDict,
  hasPlaceholder,
  parseStatus,
  readStatusFiles,
  stampAnnotations,
} from "./stamp";

const STABLE = "BUILD_EMBED_LABEL v1.2.3\nBUILD_HOST vm\nSTABLE_GIT_COMMIT abc123\nSTABLE_MSG hello world\n";
const VOLATILE = "BUILD_TIMESTAMP 1700000000\n";

describe("parseStatus", () => {
  it("reads KEY VALUE lines, values may hold spaces, empty values count as unset", () => {
    const v = parseStatus([STABLE, VOLATILE, "EMPTY \nBARE\r\n"]);
    expect(v.get("STABLE_GIT_COMMIT")).toBe("abc123");
    expect(v.get("STABLE_MSG")).toBe("hello world");
    expect(v.get("BUILD_TIMESTAMP")).toBe("1700000000");
    expect(v.has("EMPTY")).toBe(false);
    expect(v.has("BARE")).toBe(false);
  });

  it("a later file wins, and an empty value there unsets the key", () => {
    expect(parseStatus(["A 1\nB 2\n", "A 3\nB \n"])).toEqual(new Map([["A", "3"]]));
  });

  it("reads files and names the file it cannot read", () => {
    const dir = scratchDir("rp-stamp-");
    writeFileSync(join(dir, "stable-status.txt"), STABLE);
    expect(readStatusFiles([join(dir, "stable-status.txt")], "--stamp-file").get("BUILD_EMBED_LABEL")).toBe("v1.2.3");
    const missing = join(dir, "nope.txt");
    expect(() => readStatusFiles([missing], "--stamp-file")).toThrow(PipelineError);
    expect(() => readStatusFiles([missing], "--stamp-file")).toThrow(
      `--stamp-file ${missing}: cannot read the workspace status file (ENOENT)`,
    );
  });
});

describe("expand", () => {
  const values = parseStatus([STABLE, VOLATILE]);

  it("replaces every placeholder with its key's value", () => {
    expect(expand("{BUILD_EMBED_LABEL}", values)).toEqual({ ok: true, value: "v1.2.3" });
    expect(expand("git-{STABLE_GIT_COMMIT}-{BUILD_EMBED_LABEL}", values)).toEqual({
      ok: true,
      value: "git-abc123-v1.2.3",
    });
    expect(expand("latest", values)).toEqual({ ok: true, value: "latest" });
  });

  it("reports every missing key once and expands nothing half-way", () => {
    expect(expand("{NOPE}-{STABLE_GIT_COMMIT}-{NOPE}-{ALSO}", values)).toEqual({
      ok: false,
      missing: ["NOPE", "ALSO"],
    });
  });

  it("unstamped: every placeholder is missing, plain strings pass unchanged", () => {
    expect(expand("{STABLE_GIT_COMMIT}", undefined)).toEqual({ ok: false, missing: ["STABLE_GIT_COMMIT"] });
    expect(expand("v1", undefined)).toEqual({ ok: true, value: "v1" });
  });

  it("leaves braces that are not placeholders alone", () => {
    expect(hasPlaceholder("{}")).toBe(false);
    expect(hasPlaceholder("a{1X}")).toBe(false);
    expect(hasPlaceholder("a{X_1}")).toBe(true);
    expect(expand("{} {1X}", undefined)).toEqual({ ok: true, value: "{} {1X}" });
  });
});

describe("expandDict / describeSkip", () => {
  const values = parseStatus([STABLE]);

  it("drops dict entries whose value has a missing key", () => {
    expect(expandDict({ a: "{STABLE_GIT_COMMIT}", b: "{NOPE}", c: "plain" }, values)).toEqual({
      values: { a: "abc123", c: "plain" },
      skipped: [{ key: "b", template: "{NOPE}", missing: ["NOPE"] }],
    });
  });

  it("says why a template was skipped, stamped or not", () => {
    expect(describeSkip("tag", { template: "{X}-{Y}", missing: ["X", "Y"] }, true)).toBe(
      'skipping tag "{X}-{Y}": the workspace status has no value for {X}, {Y}',
    );
    expect(describeSkip("tag", { template: "{X}", missing: ["X"] }, false)).toBe(
      'skipping tag "{X}": not stamped (build with --stamp and a --workspace_status_command that sets {X})',
    );
  });
});

describe("stampAnnotations", () => {
  it("maps status keys to the OCI annotations, the timestamp as RFC 3339", () => {
    const v = parseStatus([STABLE, VOLATILE, "STABLE_SOURCE_URL https://example.com/repo\n"]);
    expect(stampAnnotations(v)).toEqual({
      "org.opencontainers.image.revision": "abc123",
      "org.opencontainers.image.source": "https://example.com/repo",
      "org.opencontainers.image.version": "v1.2.3",
      "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
    });
  });

  it("publishes the source URL without credentials", () => {
    const v = parseStatus(["STABLE_SOURCE_URL https://oauth2:glpat-SeCrEt@gitlab.example/team/app.git\n"]);
    expect(stampAnnotations(v)).toEqual({ "org.opencontainers.image.source": "https://gitlab.example/team/app.git" });
  });

  it("sets only the annotations whose key is there", () => {
    expect(stampAnnotations(parseStatus(["BUILD_HOST vm\n"]))).toEqual({});
  });
});
