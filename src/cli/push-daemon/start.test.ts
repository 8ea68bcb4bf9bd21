import { expect, test } from "vitest";
import { noDaemonReason } from "./start";

test("a push leaves a daemon behind unless PIPELINE_PUSH_DAEMON=0, or in a CI job unless PIPELINE_PUSH_DAEMON=1", () => {
  const cases: [Record<string, string>, boolean][] = [
    [{}, true],
    [{ PIPELINE_PUSH_DAEMON: "0" }, false],
    [{ PIPELINE_PUSH_DAEMON: "1" }, true],
    [{ CI: "true" }, false],
    [{ CI: "1" }, false],
    [{ CI: "woodpecker" }, false],
    [{ CI: "true", PIPELINE_PUSH_DAEMON: "1" }, true],
    [{ CI: "true", PIPELINE_PUSH_DAEMON: "0" }, false],
    [{ CI: "false" }, true],
    [{ CI: "0" }, true],
    [{ CI: "" }, true],
    [{ CI: "false", PIPELINE_PUSH_DAEMON: "0" }, false],
  ];
  for (const [env, wanted] of cases) expect([env, noDaemonReason(env) === undefined]).toEqual([env, wanted]);
});
