import { expect, test } from "vitest";
import { warmRegistryClient } from "./warm";

const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;

test("the warm-up's requests all succeed against its stand-in, and it leaves no server or connection open", async () => {
  const before = tcpHandles();
  // It rejects when an answer is not one the client takes (each request's own error), which the push thread ignores.
  await expect(warmRegistryClient()).resolves.toBeUndefined();
  // The client's kept-alive sockets (Node's global agent) close as they hear the stand-in close theirs.
  for (let i = 0; i < 100 && tcpHandles() > before; i++) await new Promise((r) => setTimeout(r, 20));
  expect(tcpHandles()).toBe(before);
});
