/**
 * Adding an admission engine is one new module and one row of src/admission/engines.ts (issue 76, item 3):
 *  - the spec's `admission.engine` accepts exactly the table's names, and its field doc is the table's;
 *  - nothing outside src/admission/ names an engine, its apiVersion or its kind in a string (so no other module
 *    dispatches on one: `engine === "kyverno" ? …` would be a string literal here);
 *  - a fourth engine, written as one module (a virtual file) and one row (the table with an import and an entry added,
 *    nothing else of src/ changed), type-checks with the project's compiler options, and a bundle of the real modules
 *    parses a spec naming it, renders its policy and finds its reading of the policy's status.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { build, type Plugin } from "esbuild";
import ts from "typescript";
import { describe, expect, test } from "vitest";
import { execProgram } from "../fixtures/cli";
import { pipelineErrorOfSync } from "../fixtures/errors";
import { isObject } from "../../src/oci/descriptor";
import { ADMISSION_ENGINE_NAMES, ADMISSION_ENGINE_TABLE } from "../../src/admission/engines";
import { parseDeploymentSpec } from "../../src/deploy/spec";
import { deploymentSpecJsonSchema } from "../../src/deploy/spec-fields";

const ROOT = join(__dirname, "..", "..");
const SRC = join(ROOT, "src");
const ENGINES = join(SRC, "admission", "engines.ts");
const EXAMPLE = join(SRC, "admission", "example.ts");
const IMAGE = `registry.example.com/team/app@sha256:${"ab".repeat(32)}`;

/** The fourth engine's module: what a contributor writes. */
const EXAMPLE_MODULE = `import type { KubernetesObject } from "@kubernetes/client-node";
import { type AdmissionEngine, admittedReferences, type PolicyInput, type PolicyState } from "./shared";

export interface ExamplePolicy extends KubernetesObject {
  spec: { images: string[]; key: string };
}

function render(a: PolicyInput): ExamplePolicy {
  return {
    apiVersion: "example.dev/v1",
    kind: "ExamplePolicy",
    metadata: a.metadata,
    spec: { images: admittedReferences(a.image), key: a.publicKeyPem },
  };
}

function loaded(read: object): PolicyState {
  return "status" in read ? { loaded: true } : { loaded: false, status: "no status yet" };
}

export const example = {
  title: "Example",
  doc: "an ExamplePolicy (example.dev)",
  apiVersion: "example.dev/v1",
  kind: "ExamplePolicy",
  render,
  loaded,
} satisfies AdmissionEngine<ExamplePolicy>;
`;

/**
 * A type-check with the project's options of `roots`, `overlay`'s files read in place of (or beside) the disk's, run
 * as `node -e TYPE_CHECK TYPESCRIPT_DIR` with `{ tsconfig, overlay, roots }` on stdin: the diagnostics, on stdout.
 */
const TYPE_CHECK = `const ts = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", () => {
  const { tsconfig, overlay, roots } = JSON.parse(input);
  const files = new Map(overlay);
  const config = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\\n"));
    },
  });
  if (!config) throw new Error(tsconfig + ": not read");
  const host = ts.createCompilerHost(config.options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.readFile = (f) => files.get(f) ?? read(f);
  host.fileExists = (f) => files.has(f) || exists(f);
  const program = ts.createProgram(roots, { ...config.options, noEmit: true }, host);
  const problems = ts.getPreEmitDiagnostics(program).map(
    (d) => (d.file ? d.file.fileName : "") + ": " + ts.flattenDiagnosticMessageText(d.messageText, "\\n"),
  );
  process.stdout.write(JSON.stringify(problems));
});
`;

/** engines.ts with the fourth engine's row (its import and its entry), nothing else changed. */
function enginesWithRow(): string {
  const text = readFileSync(ENGINES, "utf8");
  const row = text.replace(
    /\n(export const ADMISSION_ENGINE_TABLE = \{\n)/,
    '\nimport { example } from "./example";\n$1  example,\n',
  );
  expect(row).not.toBe(text);
  return row;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts") ? [p] : [];
  });
}

function stringsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const walk = (n: ts.Node) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) out.push(n.text);
    ts.forEachChild(n, walk);
  };
  walk(sf);
  return out;
}

describe("admission engines: one module and one row each", () => {
  test("the spec accepts exactly the table's names, documented from the table", () => {
    expect(ADMISSION_ENGINE_NAMES).toEqual(Object.keys(ADMISSION_ENGINE_TABLE));
    for (const engine of ADMISSION_ENGINE_NAMES) {
      const spec = parseDeploymentSpec(
        `image: ${IMAGE}\nrequireSignature: k.pub\nadmission: {engine: ${engine}}\n`,
        "d.yaml",
      );
      expect(spec.admission?.engine).toBe(engine);
    }
    const e = pipelineErrorOfSync(() =>
      parseDeploymentSpec(`image: ${IMAGE}\nrequireSignature: k.pub\nadmission: {engine: opa}\n`, "d.yaml"),
    );
    expect(e.message).toContain(`expected one of ${ADMISSION_ENGINE_NAMES.map((n) => `"${n}"`).join(", ")}`);
    const { properties } = deploymentSpecJsonSchema();
    const schema = JSON.stringify(isObject(properties) ? properties.admission : undefined);
    for (const n of ADMISSION_ENGINE_NAMES) expect(schema).toContain(`${n}: ${ADMISSION_ENGINE_TABLE[n].doc}`);
    expect(schema).toContain(`"enum":${JSON.stringify(ADMISSION_ENGINE_NAMES)}`);
  });

  test("no module outside src/admission/ names an engine, its apiVersion or its kind", () => {
    const words = new Set(
      Object.entries(ADMISSION_ENGINE_TABLE).flatMap(([name, e]) => [name, e.apiVersion, e.kind, e.title]),
    );
    const found = sourceFiles(SRC)
      .filter((f) => !relative(SRC, f).startsWith(`admission${sep}`))
      .flatMap((f) =>
        stringsOf(f)
          .filter((s) => words.has(s))
          .map((s) => `${relative(ROOT, f)}: "${s}"`),
      );
    expect(found).toEqual([]);
  });

  test("a fourth engine, one module and one row, type-checks with the project's options", async () => {
    // In a process of its own: the check is synchronous, ~2 s on an idle machine, over a minute beside a fresh machine's
    // set-up, which in this process would block vitest's worker past its RPC timeout.
    const r = await execProgram(process.execPath, ["-e", TYPE_CHECK, join(ROOT, "node_modules", "typescript")], {
      input: JSON.stringify({
        tsconfig: join(ROOT, "tsconfig.json"),
        overlay: [
          [ENGINES, enginesWithRow()],
          [EXAMPLE, EXAMPLE_MODULE],
        ],
        roots: [ENGINES, EXAMPLE, join(SRC, "deploy", "spec.ts"), join(SRC, "k8s", "admission.ts")],
      }),
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  }, 300_000);

  test("a fourth engine, one module and one row: the spec takes it, its policy renders, its status is read", async () => {
    const overlayPlugin: Plugin = {
      name: "fourth-engine",
      setup(b) {
        b.onResolve({ filter: /^\.\/example$/ }, (a) =>
          a.importer === ENGINES ? { path: EXAMPLE, namespace: "overlay" } : undefined,
        );
        b.onLoad({ filter: /\/admission\/engines\.ts$/ }, () => ({ contents: enginesWithRow(), loader: "ts" }));
        b.onLoad({ filter: /.*/, namespace: "overlay" }, () => ({
          contents: EXAMPLE_MODULE,
          loader: "ts",
          resolveDir: join(SRC, "admission"),
        }));
      },
    };
    const entry = `
      import { engineOfPolicy } from "./admission/engines";
      import { parseDeploymentSpec } from "./deploy/spec";
      import { deploymentSpecJsonSchema } from "./deploy/spec-fields";
      import { renderAdmissionPolicy } from "./k8s/admission";
      const spec = parseDeploymentSpec(${JSON.stringify(`image: ${IMAGE}\nrequireSignature: k.pub\nadmission: {engine: example}\n`)}, "d.yaml");
      const pem = "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n";
      const policy = renderAdmissionPolicy({ admission: spec.admission, name: "app", image: ${JSON.stringify(IMAGE)}, publicKeyPem: pem, version: "1" });
      const engine = engineOfPolicy(policy);
      console.log(JSON.stringify({
        policy,
        title: engine && engine.title,
        loaded: engine && engine.loaded({ status: {} }, 1),
        schema: JSON.stringify(deploymentSpecJsonSchema().properties.admission),
      }));
    `;
    const out = await build({
      stdin: { contents: entry, resolveDir: SRC, loader: "ts", sourcefile: "entry.ts" },
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      logLevel: "silent",
      plugins: [overlayPlugin],
    });
    const run = spawnSync(process.execPath, ["-"], { input: out.outputFiles[0].text, encoding: "utf8" });
    expect(run.stderr).toBe("");
    const got = JSON.parse(run.stdout);
    expect(got.policy).toMatchObject({
      apiVersion: "example.dev/v1",
      kind: "ExamplePolicy",
      metadata: { name: "rules-pipeline-app" },
      spec: { images: ["registry.example.com/team/app:*", "registry.example.com/team/app@*"] },
    });
    expect(got.title).toBe("Example");
    expect(got.loaded).toEqual({ loaded: true });
    expect(got.schema).toContain("example: an ExamplePolicy (example.dev)");
    expect(got.schema).toContain(`"enum":${JSON.stringify(["example", ...ADMISSION_ENGINE_NAMES])}`);
  }, 60_000);
});
