/**
 * P13: a user's first build + push of the generated monorepo's `etl` pipeline (issue #43 item 1): rules_pipeline from
 * its release archive (scripts/release.sh: the tools prebuilt), a new output base, the repository cache off (a machine
 * that never fetched these repositories), npm's cache warm; against the routes users take without Bazel: `npm ci` +
 * tsc + `podman build` + `podman push`, the same with buildah, and `npm ci` + tsc + `pipeline build --lockfile` +
 * `pipeline push`. Each peer starts from a fresh copy of the plain npm project (no node_modules, no dist/), an empty
 * container storage or `--cache-dir`, and fetches the host-node base from the registry (where the fixture put the one
 * Bazel built), as `bazel run` fetches it into its new output base. Informational (full runs): the same cold build in
 * the fixture's workspace, whose rules are the checkout's (their tools built from source), with the repository cache
 * warm and off.
 *
 * Full runs: 3 rounds (each side once per round, the order reversed every other round), then one more cold run from
 * the archive with `--profile` for where the time goes. Smoke runs: each side once, the checkout's cold builds apart,
 * the repository cache warm.
 * Every cold build must push the image the fixture's workspace pushes (the same sources: a reproducibility check across
 * output bases, the archive's prebuilt tools and the checkout's).
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BAZEL, bazelEnv, bazelOk, QUIET } from "../lib/bazel";
import { describeProfile, summarizeProfile } from "../lib/bazel-actions";
import { check, cliEnv, type Ctx, versus } from "../lib/context";
import { runOk } from "../lib/measure";
import {
  lockfileBuild,
  type Mono,
  monorepo,
  NPM_CI,
  podmanFor,
  PROFILED,
  pushedDigest,
  timed,
  TSC,
} from "../lib/monorepo-sides";
import { TS7_PKG, writePeerProject, writeWorkspaceRoot } from "../lib/monorepo";
import { makeRelease, run } from "../../test/fixtures/release";
import { containerTool, type Driver, have } from "../lib/podman";
import type { Row } from "../lib/report";
import { rounds } from "../lib/rounds";
import { Parts } from "./monorepo";

interface Cold {
  ms: number;
  digest: string;
  parts?: Record<string, number>;
}

let serial = 0;

/** `bazel run //x:etl_push` in `ws` with a new output base (its own server; no bazel-* symlinks, so the fixture's stay). */
async function bazelCold(
  m: Mono,
  ws: string,
  extra: string[] = [],
  env?: NodeJS.ProcessEnv,
): Promise<Cold & { stderr: string }> {
  const ob = join(m.dir, `cold-output-base-${++serial}`);
  try {
    const r = await bazelOk(
      ws,
      [`--output_base=${ob}`, "run", ...PROFILED, "--symlink_prefix=/", ...extra, "//x:etl_push"],
      env,
    );
    return { ms: r.ms, digest: pushedDigest(r.stdout, `${m.reg.host}/mono/etl`), stderr: r.stderr };
  } finally {
    spawnSync(BAZEL, [`--output_base=${ob}`, "clean", "--expunge"], { cwd: ws, stdio: "ignore", timeout: 120_000 });
    spawnSync(BAZEL, [`--output_base=${ob}`, "shutdown"], { cwd: ws, stdio: "ignore", timeout: 60_000 });
    rmSync(ob, { recursive: true, force: true });
  }
}

/**
 * The fixture's workspace as a user of the release has it: the same files, rules_pipeline from the release archive
 * scripts/release.sh makes of this checkout (test/fixtures/release.ts, as the release test makes it), unpacked. A
 * `local_repository` of the unpacked archive rather than README's `http_archive`: the same files, without the
 * download a local file would not show anyway.
 */
function releaseWorkspace(m: Mono): string {
  const dist = join(m.dir, "release-dist");
  const name = /^# (\S+\.tar\.gz)$/m.exec(makeRelease(join(m.dir, "release-clone"), dist))?.[1];
  check(name !== undefined, "P13: scripts/release.sh names the archive it made");
  const rules = join(m.dir, "release-rules");
  mkdirSync(rules, { recursive: true });
  run("tar", ["-xzf", join(dist, name!), "-C", rules, "--strip-components=1"], m.dir);
  check(existsSync(join(rules, "prebuilt")), "P13: the release archive holds the prebuilt tools (prebuilt/)");
  const ws = join(m.dir, "release-ws");
  // Without the TypeScript 7 copy and its lockfile (monorepo-ts7.ts): the user's workspace of the issue, the npm
  // packages the peers install.
  const skip = new RegExp(`^(bazel-|${TS7_PKG}(/|$))`);
  cpSync(m.ws, ws, { recursive: true, filter: (src) => !skip.test(src.slice(m.ws.length + 1)) });
  cpSync(m.tree.packageJson, join(ws, "package.json"));
  cpSync(m.tree.lockfile, join(ws, "package-lock.json"));
  const addon = m.src.real.nativeAddon;
  writeWorkspaceRoot(ws, rules, "mono", addon ? [addon.name] : []);
  return ws;
}

/** A fresh copy of the plain npm project whose Dockerfile starts FROM the base in the registry. */
function freshProject(m: Mono, name: string): string {
  const dir = join(m.dir, `cold-${name}-${++serial}`);
  mkdirSync(dir, { recursive: true });
  writePeerProject(dir, m.src, m.tree, m.baseRef);
  return dir;
}

const npmCiAndTsc = async (dir: string, step: (name: string, fn: () => Promise<unknown>) => Promise<void>) => {
  await step("npm ci", () => runOk("npm", NPM_CI, { cwd: dir }));
  await step("tsc", () => runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: dir }));
};

/** npm ci, tsc, then `podman build` / `buildah build` in an empty storage (the base pulled from the registry) and push. */
async function containerCold(m: Mono, tool: "podman" | "buildah", driver: Driver): Promise<Cold> {
  const dir = freshProject(m, tool);
  // podman refuses a run root path longer than 50 characters: the storage gets a short name of its own.
  const c = containerTool(join(m.dir, `s${serial}`), driver, tool);
  const image = `localhost/mono/etl-${tool}-cold:latest`;
  const digestFile = join(dir, ".digest");
  try {
    const t = await timed(async (step) => {
      await npmCiAndTsc(dir, step);
      await step(`${tool} build`, () =>
        c.ok(["build", "--tls-verify=false", "--network", "none", "-q", "-t", image, "."], { cwd: dir }),
      );
      await step(`${tool} push`, () =>
        c.ok([
          "push",
          "-q",
          "--tls-verify=false",
          "--digestfile",
          digestFile,
          image,
          `docker://${m.reg.host}/mono/etl-${tool}-cold:latest`,
        ]),
      );
    });
    return { ...t, digest: readFileSync(digestFile, "utf8").trim() };
  } finally {
    c.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** npm ci, tsc, `pipeline build --lockfile` (an empty --cache-dir, the base from the registry) and `pipeline push`. */
async function lockfileCold(ctx: Ctx, m: Mono): Promise<Cold> {
  const dir = freshProject(m, "lockfile");
  let digest = "";
  try {
    const t = await timed(async (step) => {
      await npmCiAndTsc(dir, step);
      await step("pipeline build", () => lockfileBuild(ctx, m, dir, join(dir, ".out"), m.baseRef, join(dir, ".cache")));
      await step("pipeline push", async () => {
        const push = await runOk(
          process.execPath,
          [
            ctx.cli,
            "push",
            join(dir, ".out"),
            "--repository",
            `${m.reg.host}/mono/etl-lockfile-cold`,
            "--tag",
            "latest",
          ],
          { env: cliEnv() },
        );
        digest = /@(sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? "";
      });
    });
    check(digest !== "", "P13: pipeline push prints the pushed reference");
    return { ...t, digest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function p13(ctx: Ctx): Promise<Row[]> {
  if (!have("buildah"))
    throw new Error("buildah is not installed (scripts/install-deps.sh installs it): P13's peer cannot run");
  const m = await monorepo(ctx);
  const driver = (await podmanFor(ctx, m)).driver;
  const peers: { name: string; label: string; run: () => Promise<Cold> }[] = [
    {
      name: "podman",
      label:
        "`npm ci` + tsc + `podman build` (FROM the base in the registry; COPY node_modules; COPY dist) + `podman push`",
      run: () => containerCold(m, "podman", driver),
    },
    {
      name: "buildah",
      label: "the same with `buildah build` + `buildah push`",
      run: () => containerCold(m, "buildah", driver),
    },
    {
      name: "lockfile",
      label: "`npm ci` + tsc + `pipeline build --lockfile` (empty --cache-dir) + `pipeline push`",
      run: () => lockfileCold(ctx, m),
    },
  ];
  const digests: Record<string, string[]> = {};
  const parts: Record<string, Parts> = {};
  const side = (name: string, f: () => Promise<Cold>) => async () => {
    const r = await f();
    (digests[name] ??= []).push(r.digest);
    (parts[name] ??= new Parts()).add(r.parts);
    ctx.log(`P13: ${name} cold ${Math.round(r.ms)} ms`);
    return r.ms;
  };
  const reps = ctx.smoke ? 1 : 3;
  // What the fixture's workspace pushes of the sources as they are now (P9 and P10 changed them): every cold build
  // must push it.
  const expected = pushedDigest(
    (await bazelOk(m.ws, ["run", ...QUIET, "//x:etl_push"])).stdout,
    `${m.reg.host}/mono/etl`,
  );
  const release = releaseWorkspace(m);
  const off = () => bazelEnv({ PIPELINE_REPO_CACHE: "off" });
  // The issue's route: the release archive, the repository cache off (bazel/private/repositories/repo_cache.bzl), so npm ci of
  // the workspace's lockfile (the native addon compiled) and of the rules' own compiler runs, nothing of ours is
  // compiled or bundled. Smoke runs (in every test run) keep the cache: the same code path with one variable less
  // (test/e2e/bazel-repo-cache.test.ts checks what it turns off), and ~10 s of the test run's CPU less.
  const cacheOff = !ctx.smoke;
  const ours = side("ours", () => bazelCold(m, release, [], cacheOff ? off() : undefined));
  // The checkout's rules (tools built from source) with the repository cache warm, as a second clone on a machine
  // gets them; in full runs also with it off.
  const checkout = ctx.smoke
    ? []
    : [side("checkout", () => bazelCold(m, m.ws)), side("checkout-uncached", () => bazelCold(m, m.ws, [], off()))];
  const [o, ...rest] = await rounds(reps, 0, [ours, ...checkout, ...peers.map((x) => side(x.name, x.run))]);
  const [c, u] = rest.splice(0, checkout.length);
  const p = rest;
  const pushed = [...(digests.ours ?? []), ...(digests.checkout ?? []), ...(digests["checkout-uncached"] ?? [])];
  check(
    pushed.every((d) => d === expected),
    `P13: every cold Bazel build pushed what the fixture's workspace pushes (${expected}), from the release archive and from the checkout, with and without the repository cache: ${[...new Set(pushed)].join(", ")}`,
  );
  let where = "";
  if (!ctx.smoke) {
    const file = join(m.dir, "cold.profile.json");
    const r = await bazelCold(m, release, [`--profile=${file}`], off());
    const processes = /INFO: (\d+ process[^\n]*)/.exec(r.stderr)?.[1]?.replace(/\.$/, "") ?? "?";
    if (existsSync(file))
      where = `; profiled cold run from the archive (${Math.round(r.ms)} ms wall, ${processes}): ${describeProfile(summarizeProfile(readFileSync(file, "utf8")))}`;
  }
  const real = m.src.real;
  const what = (label: string) =>
    `a user's first build + push of //x:etl from the release archive (new output base, the repository cache ${cacheOff ? "off" : "warm (smoke run)"}, npm's cache warm; ${m.src.libFiles + 1}-file library on a 1-file util library, ${m.tree.packages.length} generated + ${real.paths.length} real npm packages${real.nativeAddon ? ` incl. the native addon ${real.nativeAddon.name}` : ""}) → \`bazel run //x:etl_push\` vs ${label}`;
  // The issue's target is against buildah; against the others, ours must at least not be behind.
  const limit = (name: string) => (name === "buildah" ? 0.7 : 1.0);
  const buildah = peers.findIndex((x) => x.name === "buildah");
  const info = (key: string, label: string, stat: typeof o | undefined, notes: string) =>
    stat === undefined
      ? []
      : [
          versus({
            id: "P13",
            key,
            what: `informational: ${label} vs ${peers[buildah].label}`,
            ours: stat,
            peer: p[buildah],
            notes,
          }),
        ];
  const rows = peers.map((peer, i) =>
    versus({
      id: "P13",
      key: `P13-${peer.name}`,
      what: what(peer.label),
      ours: o,
      peer: p[i],
      limit: limit(peer.name),
      notes:
        `${peer.name}'s steps (medians): ${parts[peer.name].describe()}` +
        (peer.name === "lockfile" && real.nativeAddon
          ? `; \`pipeline build --lockfile --allow-install-scripts ${real.nativeAddon.name}\` compiles the addon, as Bazel's route does`
          : "") +
        (i === 0
          ? `; ${reps} rounds of ${["ours", ...(checkout.length ? ["checkout", "checkout-uncached"] : []), ...peers.map((x) => x.name)].join(", ")}, the order reversed every other round${where}`
          : ""),
    }),
  );
  return [
    ...rows,
    ...info(
      "P13-checkout-buildah",
      "the same cold build with the checkout's rules (their tools built from source) and the repository cache warm (~/.cache/rules_pipeline/repos: npm_dependencies and the rules' tools copied, as a second clone on the machine gets them)",
      c,
      "",
    ),
    ...info(
      "P13-uncached-buildah",
      "the same cold build with the checkout's rules and the repository cache off (PIPELINE_REPO_CACHE=off)",
      u,
      "every repository fetched: npm ci of both of the rules' lockfiles and the workspace's (the addon compiled), the tools bundled",
    ),
  ];
}
