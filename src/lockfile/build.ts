/**
 * `LockfileProject()` images without Bazel: base + a node_modules layer (`npm ci` of the project's lockfile,
 * plus the runtime library) + a code layer (the project's files), both at /app exactly as the Bazel rules lay
 * them out and built by the same reproducible layer writer. The node_modules layer is cached by the hash of
 * everything that determines its bytes (cache.ts), so a second build with the same lockfile runs no npm.
 * Same inputs, same image digest: paths, times and owners of the checkout do not matter.
 */
import { promises as fsp, readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { holdTemp } from "../process/temp";
import { formatPlatform, hostPlatform } from "../oci/platform";
import { platformOfImage } from "../image/image-index";
import { PipelineError } from "../errors";
import type { Keychain } from "../registry-auth/keychain";
import { composeImage } from "../image/compose";
import { buildLayer, type LayerInput, layerFromDescriptor, resolveMtime } from "../layer/build";
import { writeLayout } from "../layout/write";
import { type Digest, sha256 } from "../oci/digest";
import { loadBase } from "./base";
import { type CachedLayer, defaultCacheDir, lookupLayer, nodeModulesKey, storeLayer } from "./cache";
import {
  checkInstallScripts,
  type InstallScriptPolicy,
  installedPackages,
  runInstallScripts,
  scriptedPackages,
} from "./install-scripts";
import { installDependencies } from "./install";
import { npmCommand } from "./npm";
import { PACKAGE_MANAGERS } from "./package-managers";
import { readLockfileProject } from "./project";
import { RUNTIME_LAYER_DIR, type RuntimeFile, runtimeFiles } from "./runtime-lib";

export interface LockfileBuildOptions {
  /** Project directory (package.json + package-lock.json). */
  projectDir: string;
  /** OCI layout to write (replaced atomically; manifest named "latest"). */
  output: string;
  /** oci:DIR[:NAME], a layout directory, or a registry reference. Default: the host-node base, cached. */
  base?: string;
  /** Entry script relative to the project; default package.json "main". */
  entry?: string;
  /** Default $XDG_CACHE_HOME/rules_pipeline/lockfile (or ~/.cache/...). */
  cacheDir?: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  keychainFor: (registry: string) => Promise<Keychain>;
  insecure?: boolean;
  /** Packages whose install scripts run (allow) or are known not to be needed (ignore); see install-scripts.ts. */
  installScripts?: InstallScriptPolicy;
}

export interface LockfileBuildResult {
  digest: Digest;
  entrypoint: string[];
  lockfileSha256: string;
  nodeModules: { cached: boolean; key: string; digest: Digest };
  code: { digest: Digest; files: number };
  base: { digest: Digest; describe: string };
}

async function buildNodeModulesLayer(
  project: ReturnType<typeof readLockfileProject>,
  cacheDir: string,
  key: string,
  runtime: readonly RuntimeFile[],
  mtime: number,
  opts: LockfileBuildOptions,
): Promise<CachedLayer> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const work = await fsp.mkdtemp(join(cacheDir, "npm-"));
  const release = holdTemp(work);
  try {
    const started = Date.now();
    const policy = opts.installScripts ?? { allow: [], ignore: [] };
    const installOpts = { env: opts.env, cacheDir, allowScripts: policy.allow, log: opts.log };
    const { nodeModules, workspaceLinks, workspaceNodeModules } = await installDependencies(work, project, installOpts);
    if (nodeModules) {
      const { installed, scripted } = scriptedPackages(
        work,
        project.kind === "npm" ? project.packages : installedPackages(work),
      );
      checkInstallScripts(scripted, installed, policy, project.lockfilePath);
      const rebuilt = await runInstallScripts(work, npmCommand(opts.env), scripted, policy.allow, opts.env);
      if (rebuilt.length)
        opts.log(`node_modules layer: built ${rebuilt.join(", ")} from source (npm rebuild --offline)`);
    } else if (policy.allow.length || policy.ignore.length)
      checkInstallScripts([], new Set(), policy, project.lockfilePath);
    // pnpm's state file holds the install's time and the host's store path: not for the image (npm_build_file.bzl
    // leaves it out too), and it made two clean builds of a pnpm project differ.
    if (nodeModules) await fsp.rm(join(nodeModules, ".modules.yaml"), { force: true });
    // Nothing of the install is read from outside it: a link out of it (a `file:` dependency that escaped) is refused.
    const within = realpathSync.native(work);
    const inputs: LayerInput[] = [];
    if (nodeModules) inputs.push({ dest: "app/node_modules", src: nodeModules, within });
    for (const l of workspaceLinks) inputs.push({ dest: `app/node_modules/${l.path}`, symlink: l.target });
    for (const rel of workspaceNodeModules) inputs.push({ dest: `app/${rel}`, src: join(work, rel), within });
    const own = nodeModules
      ? await fsp.stat(join(nodeModules, "@rules_pipeline", "runtime")).then(
          () => true,
          () => false,
        )
      : false;
    if (!own) for (const f of runtime) inputs.push({ dest: `${RUNTIME_LAYER_DIR}/${f.name}`, content: f.content });
    const path = join(work, "node_modules.tar.gz");
    const desc = await buildLayer(inputs, path, { mtime, linkDuplicates: true });
    opts.log(
      `node_modules layer: ${project.manager === "npm" ? "npm ci" : `${project.manager} ${PACKAGE_MANAGERS[project.manager].version} install`} took ${((Date.now() - started) / 1000).toFixed(1)} s, layer ${desc.digest} (${desc.size} bytes)`,
    );
    return await storeLayer(cacheDir, key, { path, desc });
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
    release();
  }
}

export async function buildLockfileImage(opts: LockfileBuildOptions): Promise<LockfileBuildResult> {
  const project = readLockfileProject(opts.projectDir, opts.entry);
  const cacheDir = opts.cacheDir ?? defaultCacheDir(opts.env);
  const mtime = resolveMtime(undefined, opts.env);
  const base = await loadBase(opts.base, {
    cacheDir,
    mtime,
    keychainFor: opts.keychainFor,
    insecure: opts.insecure,
    log: opts.log,
  });
  const cfg = base.image.config;
  if (cfg.os !== "linux")
    throw new PipelineError(
      "E_BAD_INPUT",
      `--base ${opts.base}: the base is a ${cfg.os}/${cfg.architecture} image; images run linux`,
    );
  const platform = formatPlatform(platformOfImage(base.image));
  const hostArch = hostPlatform().architecture;
  if (cfg.architecture !== hostArch || process.platform !== "linux") {
    opts.log(
      `warning: npm installs for this host (${process.platform}/${hostArch}) but the image is ${platform}: packages with platform-specific binaries will not work`,
    );
  }

  const lockfileSha256 = sha256(project.lockfile);
  const runtime = runtimeFiles();
  const key = nodeModulesKey({
    lockfile: project.lockfile,
    packageJson: project.packageJson,
    nodeVersion: process.version,
    platform,
    runtime,
    mtime,
    installScripts: opts.installScripts,
    manager:
      project.manager === "npm" ? undefined : `${project.manager} ${PACKAGE_MANAGERS[project.manager].integrity}`,
    manifests: project.manifests.map((m) => ({ rel: m.rel, bytes: readFileSync(m.src) })),
    localPackages: project.installTree.files,
    links: project.installTree.links,
  });
  let nodeModules = await lookupLayer(cacheDir, key, (l) => opts.log(`warning: ${l}`));
  const cached = nodeModules !== undefined;
  if (nodeModules) opts.log(`node_modules layer: cached (lockfile ${lockfileSha256})`);
  else {
    const how =
      project.manager === "npm" ? "npm ci" : `${project.manager} ${PACKAGE_MANAGERS[project.manager].version} install`;
    opts.log(`node_modules layer: running ${how} (lockfile ${lockfileSha256})`);
    nodeModules = await buildNodeModulesLayer(project, cacheDir, key, runtime, mtime, opts);
  }

  const work = join(
    dirname(opts.output),
    `.${basename(opts.output)}.work-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  await fsp.mkdir(work, { recursive: true });
  try {
    const codePath = join(work, "app.tar.gz");
    const code: LayerInput[] = [
      ...project.files.map((f) => ({ dest: `app/${f.rel}`, src: f.src, within: project.root })),
      ...project.links.map((l) => ({ dest: `app/${l.rel}`, symlink: l.target })),
    ];
    const codeDesc = await buildLayer(code, codePath, { mtime, linkDuplicates: true });
    const entrypoint = ["node", `/app/${project.entry}`];
    const image = composeImage({
      base: base.image,
      baseName: base.name,
      layers: [
        {
          layer: layerFromDescriptor(nodeModules.path, nodeModules.desc),
          createdBy: `rules_pipeline: node_modules layer (${project.manager}, ${basename(project.lockfilePath)} ${lockfileSha256})`,
        },
        {
          layer: layerFromDescriptor(codePath, codeDesc),
          createdBy: `rules_pipeline: app layer (${project.files.length} files)`,
        },
      ],
      entrypoint,
      cmd: [],
      workdir: "/app",
      created: mtime,
    });
    await writeLayout(opts.output, image, { refName: "latest", atomic: true });
    return {
      digest: image.digest,
      entrypoint,
      lockfileSha256,
      nodeModules: { cached, key, digest: nodeModules.desc.digest },
      code: { digest: codeDesc.digest, files: project.files.length },
      base: { digest: base.image.digest, describe: base.describe },
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
