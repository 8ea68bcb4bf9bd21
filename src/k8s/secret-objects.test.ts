import { describe, expect, it } from "vitest";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { leaksIn } from "../credentials/testing";
import { namedSecretObjectName, registrySecretObjectName } from "./names";
import { fillSecrets, namedSecretPlaceholder, registryHosts, registrySecretPlaceholder, scrub } from "./secret-objects";

const PASSWORD = "hub-Pa55-word-Q1";
const TOKEN = "tok-Named-Secret-42";

describe("Secret objects", () => {
  it("folds secret names to valid, distinct object names", () => {
    expect(namedSecretObjectName("db-password")).toBe("rp-secret-db-password");
    expect(namedSecretObjectName("DB_PASSWORD")).toMatch(/^rp-secret-db-password-[0-9a-f]{8}$/);
    expect(namedSecretObjectName("db_password")).not.toBe(namedSecretObjectName("DB_PASSWORD"));
    expect(registrySecretObjectName("hub")).toBe("rp-registry-hub");
  });

  it("registry credentials are for the image's registry only (Docker Hub under its historical key)", () => {
    expect(registryHosts("ghcr.io/a/b@sha256:" + "1".repeat(64))).toEqual(["ghcr.io"]);
    expect(registryHosts("library/node@sha256:" + "1".repeat(64))).toEqual(["https://index.docker.io/v1/"]);
  });

  it("fills placeholders from local secrets and lists every sensitive form", () => {
    const env = {
      PIPELINE_SECRET_HUB: `robot\n${PASSWORD}`,
      PIPELINE_SECRET_API: TOKEN,
      PIPELINE_SECRETS_DIR: "/nonexistent",
    };
    const objects = [
      namedSecretPlaceholder("api", "ml", "app"),
      registrySecretPlaceholder("hub", ["https://index.docker.io/v1/"], "ml", "app"),
      { kind: "Service", metadata: {} },
    ];
    const { objects: filled, sensitive } = fillSecrets(objects, { env });
    expect(objects[0]).not.toHaveProperty("data"); // the rendered objects are not changed
    expect(Buffer.from((filled[0] as { data: Record<string, string> }).data.value, "base64").toString()).toBe(TOKEN);
    const config = JSON.parse(
      Buffer.from((filled[1] as { data: Record<string, string> }).data[".dockerconfigjson"], "base64").toString(),
    );
    expect(config).toEqual({
      auths: {
        "https://index.docker.io/v1/": {
          username: "robot",
          password: PASSWORD,
          auth: Buffer.from(`robot:${PASSWORD}`).toString("base64"),
        },
      },
    });
    expect(filled[2]).toBe(objects[2]);
    const message = `bad ${PASSWORD} ${encodeURIComponent(PASSWORD)} ${Buffer.from(`robot:${PASSWORD}`).toString("base64")} ${TOKEN} ${(filled[1] as { data: Record<string, string> }).data[".dockerconfigjson"]}`;
    expect(leaksIn(message, [PASSWORD, TOKEN], ["robot"]).length).toBeGreaterThan(0);
    expect(leaksIn(scrub(message, sensitive), [PASSWORD, TOKEN], ["robot"])).toEqual([]);
  });

  it("a missing local secret names the secret", async () => {
    const e = await pipelineErrorOf(
      Promise.resolve().then(() =>
        fillSecrets([namedSecretPlaceholder("api", "ml", "app")], { env: { PIPELINE_SECRETS_DIR: "/nonexistent" } }),
      ),
    );
    expect(e.code).toBe("E_SECRET_NOT_FOUND");
    expect(e.message).toBe('secret "api" not found: set PIPELINE_SECRET_API or create /nonexistent/api');
  });
});
