/**
 * The kubeconfig `--apply` talks to: `--kubeconfig PATH`, else $KUBECONFIG (a ':'-separated list, merged
 * like kubectl, the first file's current-context wins), else ~/.kube/config; `--context` picks a context.
 * Errors name the files and the context, never the file contents (they hold tokens and keys).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { PipelineError } from "../errors";

export interface KubeconfigOptions {
  env: Record<string, string | undefined>;
  /** An explicit kubeconfig file (`--kubeconfig`). */
  kubeconfig?: string;
  /** `--context`; default: the current context. */
  context?: string;
  home?: string;
}

export interface LoadedKubeconfig {
  kc: KubeConfig;
  files: string[];
  context: string;
  /** The API server URL (for messages). */
  server: string;
  /** The context's namespace, if it sets one. */
  namespace?: string;
}

function kubeconfigFiles(opts: KubeconfigOptions): string[] {
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig))
      throw new PipelineError("E_KUBECONFIG", `--kubeconfig: ${opts.kubeconfig} does not exist`);
    return [opts.kubeconfig];
  }
  const list = (opts.env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (list.length) {
    const found = list.filter((f) => existsSync(f));
    if (!found.length)
      throw new PipelineError("E_KUBECONFIG", `KUBECONFIG names ${list.join(", ")}, and none of them exists`);
    return found;
  }
  const file = join(opts.home ?? opts.env.HOME ?? homedir(), ".kube", "config");
  if (!existsSync(file)) {
    throw new PipelineError(
      "E_KUBECONFIG",
      `no kubeconfig: ${file} does not exist (set KUBECONFIG or pass --kubeconfig)`,
    );
  }
  return [file];
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (e) {
    // The parser's message can quote the file, which holds credentials: name the file and the error kind only.
    const kind = e instanceof Error ? e.name : "error";
    throw new PipelineError("E_KUBECONFIG", `cannot read kubeconfig ${file}: not a valid kubeconfig (${kind})`);
  }
  return kc;
}

/** kubectl's merge: the first file that names a cluster, user or context (or sets current-context) wins. */
function mergeInto(kc: KubeConfig, other: KubeConfig): void {
  for (const c of other.getClusters()) if (!kc.getCluster(c.name)) kc.addCluster(c);
  for (const u of other.getUsers()) if (!kc.getUser(u.name)) kc.addUser(u);
  for (const c of other.getContexts()) if (!kc.getContextObject(c.name)) kc.addContext(c);
  if (!kc.getCurrentContext() && other.getCurrentContext()) kc.setCurrentContext(other.getCurrentContext());
}

export function loadKubeconfig(opts: KubeconfigOptions): LoadedKubeconfig {
  const files = kubeconfigFiles(opts);
  const kc = loadFile(files[0]);
  for (const f of files.slice(1)) mergeInto(kc, loadFile(f));
  const names = kc.getContexts().map((c) => c.name);
  const where = files.join(", ");
  if (opts.context !== undefined) {
    if (!names.includes(opts.context)) {
      throw new PipelineError(
        "E_KUBE_CONTEXT",
        `--context: no context ${JSON.stringify(opts.context)} in ${where} (contexts: ${names.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const context = kc.getCurrentContext();
  if (!context || !names.includes(context)) {
    throw new PipelineError(
      "E_KUBE_CONTEXT",
      `${where} has no current context${context ? ` (current-context ${JSON.stringify(context)} is not defined)` : ""}: pass --context (contexts: ${names.join(", ") || "none"})`,
    );
  }
  const ctx = kc.getContextObject(context)!;
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new PipelineError(
      "E_KUBECONFIG",
      `context ${JSON.stringify(context)} in ${where} refers to cluster ${JSON.stringify(ctx.cluster)}, which is not defined or has no server`,
    );
  }
  if (/^http:/i.test(cluster.server) && !cluster.skipTLSVerify) {
    // @kubernetes/client-node refuses plain HTTP unless TLS verification is off; say so before any request.
    throw new PipelineError(
      "E_KUBECONFIG",
      `cluster ${JSON.stringify(ctx.cluster)} in ${where} has a plain-HTTP server (${cluster.server}): use https, or set insecure-skip-tls-verify: true for a local test server`,
    );
  }
  return { kc, files, context, server: cluster.server, namespace: ctx.namespace || undefined };
}
