/**
 * The one rule for a symlink that is kept as a symlink in what we store (a layer's app tree, a `--lockfile`
 * project's code layer, a model directory) and for a path a project names (a `file:` dependency): where it leads is
 * decided as the kernel resolves it, not one hop at a time.
 *
 * The whole chain: the target read from the link's directory (an absolute one from the tree's root, where
 * `absolute` maps it), every symlink met on the way followed (a `..` after a link climbs from where the link led,
 * not from where it stands), the last component too, at most MAX_SYMLINK_HOPS links (the kernel's ELOOP limit).
 * It must stay inside the tree at every step: a `..` above the tree's root, or an absolute target `absolute` does
 * not map into the tree, leaves it, even when a later component would come back, because outside the tree (the host
 * around a project, the base image around /app) is not what we store, and would resolve otherwise there. A missing
 * component is taken for a directory (what is not there cannot lead anywhere else in this tree: the link dangles).
 *
 * Used by `pipeline layer` (src/cli/commands/layer.ts: rules_js's package links), the `--lockfile` project reader
 * (src/lockfile/project.ts and local-deps.ts: links of the project, `file:`/`link:`/`portal:` dependencies) and model
 * directories (src/weights/collect.ts, src/weights/fetch.ts). Where the tree is on the host and only the final place
 * matters, realpath(3) is the same rule (`fs.realpathSync.native`; Node's `fs.realpathSync` reads a `..` after a link
 * lexically): LayerInput.within (host-root.ts's followInside), install.ts's workspace links, bootstrap/npm_tree.js.
 * The unpacker (safety.ts) needs no such judgement: it resolves every path through the links already in the root each
 * time it writes.
 */
import { MAX_SYMLINK_HOPS, type Node, type TreeView, walk } from "./safety";

/**
 * Where a kept link leads (the components of its final target inside the tree), or why it may not be kept: a
 * predicate to follow the link or path ("leads outside the project (through the link a -> \"../..\")").
 */
export type KeptLink = { ok: true; parts: string[] } | { ok: false; why: string };

/** Maps an absolute link target to components inside the tree (".." kept as written), or undefined: outside. */
export type AbsoluteMap = (target: string) => string[] | undefined;

function components(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/**
 * The AbsoluteMap of a tree that sits at each of `roots` (absolute paths naming the same directory: an image's
 * "/app", a project's path as given and its real path): a target under one of them, compared component by component
 * as written, is the rest of its components.
 */
export function absoluteUnder(...roots: string[]): AbsoluteMap {
  const prefixes = roots.map(components);
  return (target) => {
    const parts = components(target);
    for (const p of prefixes) if (p.every((c, i) => parts[i] === c)) return parts.slice(p.length);
    return undefined;
  };
}

/** Never inside: every absolute target leaves the tree (a model directory). */
export const ABSOLUTE_LEAVES: AbsoluteMap = () => undefined;

/** Marks an absolute target that `absolute` does not map: walking it climbs above the root, which is refused. */
const OUTSIDE = "/..";

/**
 * Judges the symlink at `link` (its components inside the tree, each but the last a directory there) with `target`,
 * in the tree `view`; `tree` names the tree in the reasons ("the project").
 */
export function judgeKeptLink(
  view: TreeView,
  link: readonly string[],
  target: string,
  absolute: AbsoluteMap,
  tree = "the tree",
): KeptLink {
  if (target === "") return { ok: false, why: "has an empty target" };
  if (target.includes("\0")) return { ok: false, why: "has a NUL byte in its target" };
  const mapped = (t: string): string => {
    if (!t.startsWith("/")) return t;
    const inside = absolute(t);
    return inside === undefined ? OUTSIDE : `/${inside.join("/")}`;
  };
  const key = link.join("/");
  const written = new Map<string, string>(); // what each link met says, before `mapped`
  const inTree: TreeView = {
    node(parts): Node | undefined {
      const n = parts.join("/") === key ? { type: "symlink" as const, target } : view.node(parts);
      if (n?.type !== "symlink") return n;
      written.set(parts.join("/"), n.target);
      return { type: "symlink", target: mapped(n.target) };
    },
  };
  // From the link itself, so that it counts among the hops as it does for the kernel.
  const w = walk(inTree, link, { aboveRoot: "refuse", followLast: true, create: () => {} });
  if (w.ok) return { ok: true, parts: w.parts };
  const last = w.via[w.via.length - 1]?.at.join("/");
  const hop =
    last === undefined || last === key ? "" : ` (through the link ${last} -> ${JSON.stringify(written.get(last))})`;
  switch (w.reason) {
    case "above-root":
      return { ok: false, why: `leads outside ${tree}${hop}` };
    case "loop":
      return { ok: false, why: `meets more than ${MAX_SYMLINK_HOPS} symlinks on its way (a loop?)` };
    case "not-dir":
      return { ok: false, why: `meets ${JSON.stringify(w.at.join("/"))} on its way, which is not a directory` };
    case "missing":
      return { ok: false, why: `meets ${JSON.stringify(w.at.join("/"))} on its way, which is missing` };
  }
}
