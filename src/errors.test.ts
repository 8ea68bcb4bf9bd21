import { describe, expect, it } from "vitest";
import { outsideText, PipelineError, redactUrl, redactUrlsInText } from "./errors";

describe("redactUrl", () => {
  it("marks userinfo and credential-like query values in messages", () => {
    expect(redactUrl("https://u:p@reg.example/a/-/a-1.0.0.tgz?private_token=x&foo=1#f")).toBe(
      "https://REDACTED@reg.example/a/-/a-1.0.0.tgz?private_token=REDACTED&foo=1#f",
    );
    expect(redactUrl(new URL("https://h/x?X-Amz-Signature=abc"))).toBe("https://h/x?X-Amz-Signature=REDACTED");
  });

  it("strips them for artifacts, keeping everything else byte for byte", () => {
    const cases: [string, string][] = [
      ["git+https://tok:x-oauth-basic@github.com/o/r.git#abc", "git+https://github.com/o/r.git#abc"],
      ["https://ghp_abc@github.com/o/r", "https://github.com/o/r"],
      ["https://u:p@reg.example/a/-/a-1.0.0.tgz?private_token=x&foo=1", "https://reg.example/a/-/a-1.0.0.tgz?foo=1"],
      ["https://h/x.tgz?access_token=1", "https://h/x.tgz"],
      ["https://h/x.tgz?token=1&sig=2&se=3&X-Amz-Credential=4&apikey=5&password=6", "https://h/x.tgz?se=3"],
      ["https://h/x.tgz?client_secret=1&pwd=2&session_id=3&auth=4&v=5", "https://h/x.tgz?v=5"],
      ["https://reg.example/@s%2fa/-/a-1.tgz", "https://reg.example/@s%2fa/-/a-1.tgz"],
      ["https://ghcr.io", "https://ghcr.io"],
      ["git@github.com:o/r.git", "git@github.com:o/r.git"],
    ];
    for (const [url, stripped] of cases) expect(redactUrl(url, "strip")).toBe(stripped);
  });

  it("finds every URL in free text", () => {
    expect(redactUrlsInText("GET https://u:p@h/x?token=t 404 and https://h/y")).toBe(
      "GET https://REDACTED@h/x?token=REDACTED 404 and https://h/y",
    );
  });
});

describe("outsideText", () => {
  it("shows every control character as a visible escape, keeping lines and tabs unless on one line", () => {
    const raw = "a\u001b[2J\u001b]0;t\u0007\r\u009b2K\u007f\u202eb\nc\td";
    expect(outsideText(raw)).toBe("a\\x1b[2J\\x1b]0;t\\x07\\x0d\\x9b2K\\x7f\\u202eb\nc\td");
    expect(outsideText(raw, { oneLine: true })).toBe("a\\x1b[2J\\x1b]0;t\\x07 \\x9b2K\\x7f\\u202eb c d");
  });

  it("is applied to every PipelineError's message", () => {
    expect(new PipelineError("E_NPM", "npm: \u001b[31mred\u0007").message).toBe("npm: \\x1b[31mred\\x07");
  });
});
