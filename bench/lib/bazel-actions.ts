/**
 * Reading Bazel's own accounts of a build: `bazel aquery --output=jsonproto` (each action's mnemonic, owner and
 * expanded inputs) and `--profile` traces (Chrome trace JSON, Bazel 4.2: build phase markers, one "action
 * processing" event per executed action, and inside it sandbox.createFileSystem / subprocess.run / sandbox.delete
 * for sandboxed spawns). We parse both ourselves rather than `bazel analyze-profile`, whose text output is made
 * for people and changes between versions.
 */

export interface ActionInputs {
  mnemonic: string;
  /** Label of the target that owns the action. */
  owner: string;
  /** Execroot-relative paths of every input, depsets expanded (a tree artifact counts once, as its directory). */
  inputs: string[];
}

interface AqueryJson {
  artifacts?: { id: number; pathFragmentId: number }[];
  actions?: { targetId: number; mnemonic: string; inputDepSetIds?: number[] }[];
  targets?: { id: number; label: string }[];
  depSetOfFiles?: { id: number; directArtifactIds?: number[]; transitiveDepSetIds?: number[] }[];
  pathFragments?: { id: number; label: string; parentId?: number }[];
}

/** The actions of an `aquery --output=jsonproto` answer with their inputs. */
export function parseAquery(text: string): ActionInputs[] {
  const j = JSON.parse(text) as AqueryJson;
  const frags = new Map((j.pathFragments ?? []).map((f) => [f.id, f]));
  const pathCache = new Map<number, string>();
  const pathOf = (id: number): string => {
    const hit = pathCache.get(id);
    if (hit !== undefined) return hit;
    const f = frags.get(id);
    if (!f) throw new Error(`aquery: no path fragment ${id}`);
    const p = f.parentId ? `${pathOf(f.parentId)}/${f.label}` : f.label;
    pathCache.set(id, p);
    return p;
  };
  const artifacts = new Map((j.artifacts ?? []).map((a) => [a.id, a.pathFragmentId]));
  const depsets = new Map((j.depSetOfFiles ?? []).map((d) => [d.id, d]));
  const expanded = new Map<number, Set<number>>();
  const expand = (id: number): Set<number> => {
    const hit = expanded.get(id);
    if (hit) return hit;
    const d = depsets.get(id);
    const out = new Set<number>(d?.directArtifactIds ?? []);
    for (const t of d?.transitiveDepSetIds ?? []) for (const a of expand(t)) out.add(a);
    expanded.set(id, out);
    return out;
  };
  const targets = new Map((j.targets ?? []).map((t) => [t.id, t.label]));
  return (j.actions ?? []).map((a) => {
    const ids = new Set<number>();
    for (const d of a.inputDepSetIds ?? []) for (const x of expand(d)) ids.add(x);
    return {
      mnemonic: a.mnemonic,
      owner: targets.get(a.targetId) ?? "?",
      inputs: [...ids].map((x) => pathOf(artifacts.get(x)!)).sort(),
    };
  });
}

/** The rules' npm trees: the compiler's (@rules_pipeline_npm) and the tools' (@rules_pipeline_tools_npm, checkouts). */
export const RULES_NPM = /^external\/rules_pipeline_(tools_)?npm\//;
/** Runfiles plumbing of the launchers (no process runs): their trees carry the tools' npm packages on purpose. */
export const RUNFILES_ONLY = new Set(["Middleman", "SymlinkTree"]);
/** What TsCompile may read of the rules' npm tree: the compiler and Node's types. */
export const TSC_ALLOWED = /^external\/rules_pipeline_npm\/node_modules\/(typescript|@types\/node|undici-types)\//;

/** Whether an action is the rules' own (it builds the rules' tools, once per workspace, not per change). */
export function rulesOwn(a: ActionInputs): boolean {
  return a.owner.startsWith("@rules_pipeline//");
}

/** The app's actions: all but the rules' own. */
export function appActions(actions: ActionInputs[]): ActionInputs[] {
  return actions.filter((a) => !rulesOwn(a));
}

/**
 * Where the app's build actions read the rules' own npm trees beyond what they may (TsCompile: the compiler and
 * Node's types; the launchers' runfiles plumbing carries the tools' packages on purpose): `MNEMONIC OWNER: PATH` each.
 * bench P11 and test/e2e/bazel-monorepo.test.ts hold the app's actions to none.
 */
export function rulesNpmOffenders(actions: ActionInputs[]): string[] {
  return appActions(actions)
    .filter((a) => !RUNFILES_ONLY.has(a.mnemonic))
    .flatMap((a) =>
      a.inputs
        .filter((p) => RULES_NPM.test(p) && !(a.mnemonic === "TsCompile" && TSC_ALLOWED.test(p)))
        .map((p) => `${a.mnemonic} ${a.owner}: ${p}`),
    );
}

export interface MnemonicInputs {
  mnemonic: string;
  actions: number;
  max: number;
  total: number;
  /** The owner of the action with the most inputs. */
  largest: string;
}

/** Input counts per mnemonic, largest first. */
export function inputsByMnemonic(actions: ActionInputs[]): MnemonicInputs[] {
  const m = new Map<string, MnemonicInputs>();
  for (const a of actions) {
    const e = m.get(a.mnemonic) ?? { mnemonic: a.mnemonic, actions: 0, max: 0, total: 0, largest: "" };
    e.actions++;
    e.total += a.inputs.length;
    if (a.inputs.length >= e.max) {
      e.max = a.inputs.length;
      e.largest = a.owner;
    }
    m.set(a.mnemonic, e);
  }
  return [...m.values()].sort((a, b) => b.max - a.max);
}

export interface ProfileSummary {
  /** From the client's launch to the end of the build, ms. */
  buildMs: number;
  phases: { name: string; ms: number }[];
  /** Checking the file system for changes (the server's diff of every known file), ms. */
  diffMs: number;
  actions: { name: string; ms: number; parts: Record<string, number> }[];
  criticalPath: { name: string; ms: number }[];
  /**
   * Repository rules that ran (a cold build's fetch), longest first: `//external:NAME`, its wall time (restarts summed)
   * and when it started and ended (its first run's start, its last run's end), ms after the client's launch.
   */
  repositories: { name: string; ms: number; startMs: number; endMs: number }[];
}

interface TraceEvent {
  cat?: string;
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  tid: number;
}

const SPAWN_PARTS = [
  "sandbox.createFileSystem",
  "subprocess.run",
  "sandbox.delete",
  "sandbox.copyOutputs",
  "worker.working",
];

/** Phases, the diff check, each executed action (with its sandbox parts) and the critical path of a --profile trace. */
export function summarizeProfile(text: string): ProfileSummary {
  const events = (JSON.parse(text) as { traceEvents: TraceEvent[] }).traceEvents;
  const ms = (us: number) => us / 1000;
  const markers = events.filter((e) => e.cat === "build phase marker").sort((a, b) => a.ts - b.ts);
  const launch = markers.find((e) => e.name === "Launch Blaze");
  const points = markers.filter((e) => e.ph === "i");
  const end = Math.max(...events.filter((e) => typeof e.ts === "number").map((e) => e.ts + (e.dur ?? 0)));
  const phases: { name: string; ms: number }[] = [];
  if (launch?.dur) phases.push({ name: "launch", ms: ms(launch.dur) });
  points.forEach((p, i) => {
    phases.push({ name: p.name, ms: ms((points[i + 1]?.ts ?? end) - p.ts) });
  });
  const diff = events.find((e) => e.name === "handleDiffs");
  const actions = events
    .filter((e) => e.cat === "action processing" && e.ph === "X")
    .map((a) => {
      const parts: Record<string, number> = {};
      for (const e of events) {
        if (e.tid !== a.tid || e.ts < a.ts || e.ts > a.ts + (a.dur ?? 0) || !e.dur) continue;
        // Bazel 7 names its wait for a worker "Worker #N working" (category "waiting for response from worker").
        const key = SPAWN_PARTS.includes(e.name)
          ? e.name
          : e.cat === "waiting for response from worker"
            ? "worker.working"
            : e.cat === "local action execution"
              ? "local"
              : undefined;
        if (key) parts[key] = (parts[key] ?? 0) + ms(e.dur);
      }
      return { name: a.name, ms: ms(a.dur ?? 0), parts };
    })
    .sort((a, b) => b.ms - a.ms);
  const criticalPath = events
    .filter((e) => e.cat === "critical path component")
    .map((e) => ({ name: e.name.replace(/^action '(.*)'$/, "$1"), ms: ms(e.dur ?? 0) }));
  // A repository function that asks for a repository not fetched yet is restarted from the top: one entry per name.
  const t0 = launch?.ts ?? 0;
  const repos = new Map<string, { name: string; ms: number; startMs: number; endMs: number }>();
  for (const e of events) {
    if (e.cat !== "Starlark repository function call" || !e.name.startsWith("//external:")) continue;
    const name = e.name.slice("//external:".length);
    const [from, to] = [ms(e.ts - t0), ms(e.ts + (e.dur ?? 0) - t0)];
    const r = repos.get(name) ?? { name, ms: 0, startMs: from, endMs: to };
    repos.set(name, {
      name,
      ms: r.ms + ms(e.dur ?? 0),
      startMs: Math.min(r.startMs, from),
      endMs: Math.max(r.endMs, to),
    });
  }
  const repositories = [...repos.values()].sort((a, b) => b.ms - a.ms);
  return { buildMs: ms(end - t0), phases, diffMs: diff?.dur ? ms(diff.dur) : 0, actions, criticalPath, repositories };
}

/** One line for the notes: "build 1.1 s: file-system diff 350 ms, analysis 12 ms; Compiling TypeScript //lib:lib 373 ms (worker) ...". */
export function describeProfile(p: ProfileSummary): string {
  const f = (x: number) => `${Math.round(x)} ms`;
  const phase = (name: string) => p.phases.find((x) => x.name === name)?.ms ?? 0;
  const acts = p.actions
    .filter((a) => a.ms >= 1)
    .map((a) => {
      const parts = Object.entries(a.parts)
        .filter(([, v]) => v >= 0.5)
        .map(
          ([k, v]) =>
            `${k.replace("sandbox.createFileSystem", "sandbox setup").replace("subprocess.run", "run").replace("sandbox.delete", "sandbox teardown").replace("sandbox.copyOutputs", "copy outputs")} ${f(v)}`,
        );
      const how = parts.length ? parts.join(" + ") : "no subprocess: persistent worker or in-process";
      return `${a.name} ${f(a.ms)} (${how})`;
    });
  const fetched = p.repositories
    .filter((r) => r.ms >= 100)
    .map((r) => `@${r.name} ${f(r.ms)} (${f(r.startMs)}-${f(r.endMs)})`);
  return (
    (fetched.length
      ? `repository rules (run time, restarts summed; from-to after the launch): ${fetched.join(", ")}; `
      : "") +
    `build part ${f(p.buildMs)}: launch ${f(phase("launch"))}, checking files for changes ${f(p.diffMs)}, ` +
    `analysis ${f(phase("Load and analyze dependencies"))}, execution ${f(phase("Build artifacts"))}: ${acts.join("; ") || "no action ran"}`
  );
}

/** A phase of a profile (from its marker to the next one), ms; throws naming the profile and its phases when absent. */
export function phaseMs(p: ProfileSummary, name: string, file: string): number {
  const phase = p.phases.find((x) => x.name === name);
  if (!phase) throw new Error(`${file}: no "${name}" phase (phases: ${p.phases.map((x) => x.name).join(", ")})`);
  return phase.ms;
}

/** Bazel 4.2.3's build phase ("Build artifacts" to "Complete build"). */
export const BUILD_PHASE = "Build artifacts";
/** Bazel 7's one phase of analysis and execution (Skymeld), which has no build phase of its own. */
export const MERGED_PHASE = "Load, analyze dependencies and build artifacts";
