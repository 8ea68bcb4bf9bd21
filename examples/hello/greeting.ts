import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startCase } from "lodash";

/** The greeting, from message.txt (a `data` file) styled by $GREETING_STYLE. */
export function greeting(): string {
  const text = readFileSync(join(__dirname, "message.txt"), "utf8").trim();
  return process.env.GREETING_STYLE === "shout" ? startCase(text).toUpperCase() : text;
}
