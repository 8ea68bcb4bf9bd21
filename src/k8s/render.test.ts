import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Secret, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import type { ResolvedDeployment } from "../deploy/types";
import { exampleService, fullExample, minimalService, pipelineJob, DIGEST } from "../../test/golden/k8s/specs";
import { apiServerProblems } from "../../test/fixtures/k8s-checks";
import { manifestsFor } from "./render-output";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { formatManifests } from "./manifest";
import { renderDeployment, renderJob } from "./render";

const GOLDEN = join(__dirname, "../../test/golden/k8s");
const update = process.env.UPDATE_GOLDEN === "1";

/** Validates one object against the Kubernetes OpenAPI schema of its kind (kubernetes-models). */
function validate(o: { kind?: string }): void {
  const models: Record<string, new (d: never) => { validate(): void }> = { Secret, Service, Deployment, Job } as never;
  const M = models[o.kind ?? ""];
  if (!M) throw new Error(`no schema for ${o.kind}`);
  new M(o as never).validate();
}

function golden(file: string, text: string): void {
  const path = join(GOLDEN, file);
  if (update || !existsSync(path)) {
    if (!update) throw new Error(`${path} is missing: run with UPDATE_GOLDEN=1`);
    writeFileSync(path, text);
  }
  expect(text).toBe(readFileSync(path, "utf8"));
}

/** What the sources of --with-secrets hold in these tests (env lookups, as --apply reads them). */
const SECRET_ENV = {
  PIPELINE_SECRET_EXAMPLE_REGISTRY: JSON.stringify({ username: "puller", password: "pull-pass-1" }),
  PIPELINE_SECRET_GIT_TOKEN: "git-token-2",
  PIPELINE_SECRET_INFERENCE_API_TOKEN: "api-token-3",
  PIPELINE_SECRET_EXAMPLE_GIT: "example-git-4",
};

describe("render golden files (what --render prints)", () => {
  const cases: [string, () => ResolvedDeployment, "deployment" | "job"][] = [
    ["minimal-service.yaml", () => minimalService, "deployment"],
    ["full-example.yaml", () => fullExample, "deployment"],
    ["pipeline-job.yaml", () => pipelineJob, "job"],
    ["example-service.yaml", exampleService, "deployment"],
  ];
  for (const [file, r, mode] of cases) {
    it(file, () => {
      const rendered = (mode === "job" ? renderJob : renderDeployment)(r(), { namespace: "ml" });
      const out = manifestsFor(rendered, "reference", { env: {} }, "spec.yaml");
      for (const o of out.objects) validate(o);
      expect(apiServerProblems(out.objects)).toEqual([]);
      expect(out.objects.some((o) => o.kind === "Secret")).toBe(false);
      const text = out.comment + formatManifests(out.objects, "yaml");
      golden(file, text);
      // The text parses back to the same objects.
      expect(parseAllDocuments(text).map((d) => d.toJS())).toEqual(JSON.parse(JSON.stringify(out.objects)));
      // --with-secrets: the same workloads, plus every Secret filled (and still valid).
      const filled = manifestsFor(rendered, "fill", { env: SECRET_ENV }, "spec.yaml");
      for (const o of filled.objects) validate(o);
      expect(apiServerProblems(filled.objects)).toEqual([]);
      expect(filled.objects.filter((o) => o.kind !== "Secret")).toEqual(out.objects);
      const only = manifestsFor(rendered, "only", { env: SECRET_ENV }, "spec.yaml");
      expect(only.objects.every((o) => o.kind === "Secret")).toBe(true);
      expect(only.objects).toEqual(filled.objects.filter((o) => o.kind === "Secret"));
    });
  }

  it("the placeholders --apply fills are what the API server rejects as manifests (the check can fail)", () => {
    const rendered = renderDeployment(fullExample, { namespace: "ml" });
    const problems = apiServerProblems(rendered);
    expect(problems).toContain(
      "Secret rp-registry-example-registry: a Secret without data (a placeholder) cannot be applied as a manifest",
    );
    expect(problems).toContain(
      "Secret rp-registry-example-registry: type kubernetes.io/dockerconfigjson requires data[.dockerconfigjson]",
    );
  });
});

describe("render: schema validation can fail", () => {
  it("rejects an object the Kubernetes schema does not allow", () => {
    const [deployment] = renderDeployment(minimalService, { namespace: "ml" }).filter((o) => o.kind === "Deployment");
    const broken = JSON.parse(JSON.stringify(deployment));
    broken.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    expect(() => validate(broken)).toThrow(/containerPort/);
    delete broken.spec.selector;
    expect(() => validate(broken)).toThrow(/selector/);
  });
});

describe("render: what it refuses", () => {
  /** `image: null` for a deployment the resolver has not pinned. */
  const withSpec = (
    over: Partial<ResolvedDeployment["spec"]>,
    image: string | null = minimalService.image!,
  ): ResolvedDeployment => ({
    ...minimalService,
    image: image ?? undefined,
    spec: { ...minimalService.spec, ...over },
  });

  it("a tag-only image (resolve first)", async () => {
    const e = await pipelineErrorOf(
      Promise.resolve().then(() => renderDeployment(withSpec({}, null), { namespace: "ml" })),
    );
    expect(e.code).toBe("E_K8S_UNRESOLVED");
    expect(e.message).toBe(
      'image: "registry.example.com/team/hello:v1" is a tag; Kubernetes manifests need the image by digest — resolve the spec first (pipeline deploy resolves tags when it can reach the registry)',
    );
    const e2 = await pipelineErrorOf(
      Promise.resolve().then(() => renderJob(withSpec({}, "registry.example.com/team/hello:v1"), { namespace: "ml" })),
    );
    expect(e2.message).toBe(
      'image: "registry.example.com/team/hello:v1" has no digest; resolve the spec first so every replica runs the same bytes',
    );
  });

  it("an unpinned branch, a local folder, a local interpreter", async () => {
    const branch = await pipelineErrorOf(
      Promise.resolve().then(() =>
        renderDeployment(
          withSpec({ code: { kind: "GitRepoBranch", repoUrl: "https://git.example.com/a.git", branch: "main" } }),
          {
            namespace: "ml",
          },
        ),
      ),
    );
    expect(branch.message).toBe(
      'code: branch "main" of "https://git.example.com/a.git" is not pinned to a commit; resolve the spec first',
    );
    const folder = await pipelineErrorOf(
      Promise.resolve().then(() =>
        renderDeployment(withSpec({ code: { kind: "ServerAvailableFolder", codePaths: ["/srv/app"] } }), {
          namespace: "ml",
        }),
      ),
    );
    expect(folder.code).toBe("E_K8S_UNSUPPORTED");
    expect(folder.message).toMatch(/^code: folders on this machine \(\/srv\/app\) do not exist on a cluster/);
    const node = await pipelineErrorOf(
      Promise.resolve().then(() =>
        renderDeployment(
          withSpec({ interpreter: { kind: "ServerAvailableInterpreter", nodePath: "/usr/bin/node" } }, null),
          { namespace: "ml" },
        ),
      ),
    );
    expect(node.message).toBe(
      "interpreter: the Kubernetes runner needs a container image, got ServerAvailableInterpreter",
    );
  });

  it("names Kubernetes cannot hold, and clashing mount paths", async () => {
    const render = (r: ResolvedDeployment, ns = "ml") =>
      pipelineErrorOf(Promise.resolve().then(() => renderDeployment(r, { namespace: ns })));
    expect((await render(withSpec({ name: "Hello_World" }))).message).toBe(
      `name: Kubernetes needs a lower-case DNS label (a-z, 0-9, '-', starting with a letter, at most 63 characters), got "Hello_World"`,
    );
    expect(await render(minimalService, "ML")).toMatchObject({
      code: "E_K8S_NAMESPACE",
      message: '--namespace: expected a lower-case DNS label, got "ML"',
    });
    const clash = await render(
      withSpec({
        models: [{ id: "registry.example.com/m:1", path: "/opt/repos" }],
        repositories: {
          dataset: "d",
          mountPath: "/opt/repos",
          repositories: [{ url: "https://git.example.com/a.git", name: "a" }],
        },
      }),
    );
    expect(clash.message).toBe(
      'mount path "/opt/repos" is used by both repositories.mountPath and models[0].path; give them different paths',
    );
    expect((await render(withSpec({ env: [{ name: "X", value: "SECRET:bad name" }] }))).message).toBe(
      `env[0].value: secret name "bad name" is not valid (letters, digits, '.', '_', '-')`,
    );
  });

  it("mount paths the spec parser refuses, in a deployment built in code (the same check, path-checks.ts)", async () => {
    const render = (r: ResolvedDeployment) =>
      pipelineErrorOf(Promise.resolve().then(() => renderDeployment(r, { namespace: "ml" })));
    const repos = (mountPath: string) => ({
      dataset: "d",
      mountPath,
      repositories: [{ url: "https://git.example.com/a.git", name: "a" }],
    });
    const cases: [ResolvedDeployment, string][] = [
      [
        withSpec({ models: [{ id: "registry.example.com/m:1", path: "/proc/m" }] }),
        'models[0].path: cannot mount on or under /proc (the container runtime provides it) (got "/proc/m")',
      ],
      [
        withSpec({ models: [{ id: "registry.example.com/m:1", path: "/x:y" }] }),
        `models[0].path: must not contain ':' (container runtimes separate mount fields with it) (got "/x:y")`,
      ],
      [
        withSpec({ repositories: repos("/") }),
        `repositories.mountPath: cannot mount over the container's root "/" (got "/")`,
      ],
      [
        withSpec({ repositories: repos("/dev/x") }),
        'repositories.mountPath: cannot mount on or under /dev (the container runtime provides it) (got "/dev/x")',
      ],
    ];
    for (const [r, message] of cases) {
      const e = await render(r);
      expect(e.code).toBe("E_K8S_SPEC");
      expect(e.message).toBe(message);
    }
  });

  it("an image in a local OCI layout (oci:DIR): a cluster cannot pull it", async () => {
    const layout = withSpec(
      { interpreter: { kind: "ContainerInLayout", layout: "/work/out/app_image", digest: DIGEST } },
      `oci:/work/out/app_image@${DIGEST}`,
    );
    for (const f of [renderDeployment, renderJob]) {
      const e = await pipelineErrorOf(Promise.resolve().then(() => f(layout, { namespace: "ml" })));
      expect(e.code).toBe("E_K8S_UNSUPPORTED");
      expect(e.message).toBe(
        `image: "oci:/work/out/app_image@${DIGEST}" is an OCI layout on this machine, which a cluster cannot pull: push it (bazel run //pkg:NAME_push) and give HOST/REPO@sha256:...`,
      );
    }
  });

  it("the same resolved spec gives the same Job name; a new digest gives a new one", () => {
    const a = renderJob(pipelineJob, { namespace: "ml" }).at(-1)!;
    const b = renderJob(JSON.parse(JSON.stringify(pipelineJob)), { namespace: "ml" }).at(-1)!;
    const c = renderJob(
      { ...pipelineJob, image: `registry.example.com/ml/train@sha256:${"0".repeat(64)}` },
      { namespace: "ml" },
    ).at(-1)!;
    expect(a.metadata!.name).toBe(b.metadata!.name);
    expect(c.metadata!.name).not.toBe(a.metadata!.name);
    expect(a.metadata!.name).toMatch(/^train-[0-9a-f]{8}$/);
    expect(DIGEST).toMatch(/^sha256:/);
  });
});
