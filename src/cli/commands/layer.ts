/** `pipeline layer`: one reproducible layer from `dest<TAB>src` lines (run by the image rule). */
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { posix } from "node:path";
import { PipelineError } from "../../errors";
import { buildLayer, type LayerInput } from "../../layer/build";
import { normalizeDest } from "../../layer/collect";
import { absoluteUnder, judgeKeptLink } from "../../layer/kept-link";
import type { Node, TreeView } from "../../layer/safety";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { LAYER } from "../command-specs";

/**
 * `dest<TAB>src<TAB>link`: `src` may be a package link of rules_js (an unresolved symlink Bazel made). A symlink with a
 * relative target is a candidate to be kept as that symlink; anything else (a file or directory, the sandbox's
 * absolute links to inputs) is read as `dest<TAB>src` is.
 */
function linkOrFile(dest: string, src: string): Line {
  const st = lstatSync(src, { throwIfNoEntry: false });
  if (!st?.isSymbolicLink()) return { dest, src };
  const target = readlinkSync(src);
  if (posix.isAbsolute(target)) return { dest, src };
  normalizeDest(dest); // the layer's own check: no "..", no empty component
  return { dest, src, candidate: target };
}

/** A line read: a layer input, or a link that is kept only if keepLinksInside says so. */
type Line = LayerInput | { dest: string; src: string; candidate: string };

/**
 * Keeps a candidate link (linkOrFile) only when, resolved as the kernel would in the app tree being layered (`dest`'s
 * first directory, with every link of the layer: src/layer/kept-link.ts), it stays inside that tree; the others are
 * read as files. A link read as a file changes what the links through it resolve to, so this runs until nothing
 * changes.
 */
function keepLinksInside(lines: Line[]): LayerInput[] {
  const kept = new Set<{ dest: string; src: string; candidate: string }>();
  const links = new Map<string, string>();
  for (const l of lines) {
    if ("candidate" in l) {
      kept.add(l);
      links.set(normalizeDest(l.dest), l.candidate);
    } else if (l.symlink !== undefined) links.set(normalizeDest(l.dest), l.symlink);
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const l of kept) {
      const [root, ...link] = normalizeDest(l.dest).split("/");
      const view: TreeView = { node: (parts) => nodeAt(links, [root, ...parts].join("/")) };
      if (link.length && judgeKeptLink(view, link, l.candidate, absoluteUnder(`/${root}`)).ok) continue;
      kept.delete(l);
      links.delete(normalizeDest(l.dest));
      changed = true;
    }
  }
  return lines.map((l) =>
    !("candidate" in l) ? l : kept.has(l) ? { dest: l.dest, symlink: l.candidate } : { dest: l.dest, src: l.src },
  );
}

/** What the layer holds at `path` as far as links go: a link, else a directory (a file ends a chain there too). */
function nodeAt(links: Map<string, string>, path: string): Node {
  const target = links.get(path);
  return target === undefined ? { type: "dir" } : { type: "symlink", target };
}

/**
 * The layer's entries from file lists the image rule writes: `dest<TAB>src` (a file), `dest<TAB>src<TAB>mode<TAB>0644`
 * (a file with that mode, e.g. compiled JavaScript, which Bazel leaves executable), `dest<TAB>symlink<TAB>target`
 * (a symlink, e.g. `node_modules/.bin/tsc` -> `../typescript/bin/tsc`) or `dest<TAB>src<TAB>link` (a rules_js package
 * link: linkOrFile).
 */
export function readFileList(paths: string[]): LayerInput[] {
  const inputs: Line[] = [];
  for (const p of paths) {
    const text = readFileSync(p, "utf8");
    text.split("\n").forEach((line, i) => {
      if (!line) return;
      const fields = line.split("\t");
      if (fields.length === 2 && fields[0] && fields[1]) inputs.push({ dest: fields[0], src: fields[1] });
      else if (fields.length === 3 && fields[0] && fields[1] === "symlink" && fields[2])
        inputs.push({ dest: fields[0], symlink: fields[2] });
      else if (fields.length === 3 && fields[0] && fields[1] && fields[2] === "link")
        inputs.push(linkOrFile(fields[0], fields[1]));
      else if (fields.length === 4 && fields[0] && fields[1] && fields[2] === "mode" && /^0[0-7]{3}$/.test(fields[3])) {
        inputs.push({ dest: fields[0], src: fields[1], mode: parseInt(fields[3], 8) });
      } else {
        throw new PipelineError(
          "E_BAD_INPUT",
          `${p}:${i + 1}: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got ${JSON.stringify(line)}`,
        );
      }
    });
  }
  return keepLinksInside(inputs);
}

export async function layer(a: CommandArgs<typeof LAYER>, io: CliIo): Promise<void> {
  const inputs = readFileList(a.files);
  const desc = await buildLayer(inputs, a.out, { annotations: {}, linkDuplicates: true });
  writeFileSync(a.descriptor, JSON.stringify({ ...desc, name: a.name, files: inputs.length }) + "\n");
  void io;
}
