/**
 * Text from outside reaches the terminal only through errors.ts's `outsideText` (#59 item 8): `build --lockfile`,
 * whose real yarn echoes a lockfile's bytes (ESC, BEL: an OSC sequence that would set the terminal's title) into its
 * output, fails with an error that shows them as visible escapes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { build } from "../../src/cli/commands/build";
import { pipelineErrorOf } from "../fixtures/errors";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-outside-text-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("text from outside", () => {
  it("yarn's output in an E_NPM error holds no control character, only its visible escape", async () => {
    const project = join(tmp, "project");
    mkdirSync(project);
    const deps = { x: "1.0.0" };
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "p", version: "1.0.0", main: "main.js", dependencies: deps }),
    );
    // yarn quotes the URL in its error as it is (npm and pnpm escape it): ESC ] 0 ; ... BEL sets a terminal's
    // title, ESC [ 2 J clears the screen.
    const url = "http://127.0.0.1:9/x\\u001b]0;pwned\\u0007\\u001b[2J-1.0.0.tgz";
    writeFileSync(
      join(project, "yarn.lock"),
      `# yarn lockfile v1\n\n\nx@1.0.0:\n  version "1.0.0"\n  resolved "${url}"\n`,
    );
    writeFileSync(join(project, "main.js"), "");
    const env = { ...process.env, npm_config_cache: join(tmp, "npm-cache"), npm_config_fetch_retries: "0" };
    const err: string[] = [];
    const io = {
      stdout: () => undefined,
      stderr: (l: string) => err.push(l),
      env,
      cwd: tmp,
      isTTY: false,
      readStdin: async () => "",
    };
    const e = await pipelineErrorOf(
      build({ lockfile: project, output: join(tmp, "out"), "cache-dir": join(tmp, "cache") }, io),
    );
    expect(e.code).toBe("E_NPM");
    expect(e.message).toContain("\\x1b]0;pwned\\x07\\x1b[2J");
    expect(e.message).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });
});
