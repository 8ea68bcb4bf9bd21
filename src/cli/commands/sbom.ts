/**
 * `pipeline sbom REF [--json]`: the SPDX SBOM attached to an image. REF is `HOST/REPO[:TAG][@DIGEST]` (the
 * referrers API, else the `sha256-<hex>` fallback tag) or `oci:DIR[:NAME]`. --json prints the document's bytes as
 * stored; otherwise a table of its packages.
 */
import { PipelineError } from "../../errors";
import { parseReference } from "../../oci/reference";
import { registryText } from "../../registry/registry-text";
import { findLayoutSbom, findRemoteSbom, type FoundSbom } from "../../sbom/find";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { SBOM } from "../command-specs";

interface SpdxPackage {
  name?: string;
  versionInfo?: string;
  licenseDeclared?: string;
  externalRefs?: { referenceType?: string; referenceLocator?: string }[];
}

/** One line per package: NAME VERSION LICENSE PURL, aligned. */
export function sbomTable(doc: { packages?: SpdxPackage[] }): string[] {
  const rows = [["NAME", "VERSION", "LICENSE", "PURL"]];
  for (const p of doc.packages ?? []) {
    const purl = p.externalRefs?.find((r) => r.referenceType === "purl")?.referenceLocator ?? "";
    rows.push([p.name ?? "", p.versionInfo ?? "", p.licenseDeclared ?? "", purl]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
}

export async function sbom(a: CommandArgs<typeof SBOM>, io: CliIo): Promise<void> {
  let found: FoundSbom;
  if (a.reference.startsWith("oci:")) {
    const m = /^oci:(.*?)(?::([^/:]+))?$/.exec(a.reference)!;
    found = findLayoutSbom(m[1], m[2]);
  } else {
    const ref = parseReference(a.reference, "reference");
    found = await findRemoteSbom(ref, {
      keychain: await keychainFor(a, ref.registry, io),
      insecure: a.insecure,
      log: io.debug,
    });
  }
  if (a.json) {
    io.stdout(found.bytes.toString("utf8").replace(/\n$/, ""));
    return;
  }
  let doc: { name?: string; packages?: SpdxPackage[] };
  try {
    doc = JSON.parse(found.bytes.toString("utf8")) as typeof doc;
  } catch (e) {
    throw new PipelineError(
      "E_BAD_SBOM",
      `${a.reference}: the SBOM ${found.source} is not JSON (${registryText((e as Error).message)})`,
    );
  }
  const via = { referrers: "referrers API", tag: "fallback tag", layout: "layout index.json", file: "file" }[found.via];
  io.stdout(
    `SBOM of ${a.reference} (${found.subject}), ${doc.packages?.length ?? 0} package(s), from ${via} ${found.source}`,
  );
  for (const line of sbomTable(doc)) io.stdout(line);
}
