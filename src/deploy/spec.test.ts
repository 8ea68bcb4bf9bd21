import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, test } from "vitest";
import { PipelineError } from "../errors";
import { type BadSpecCase, expectOneSpecIssue, specErrorOf } from "../../test/fixtures/spec-errors";
import { deploymentSpecJsonSchema, loadDeploymentSpec, parseDeploymentSpec } from "./spec";
import { SPEC_FIELDS } from "./spec-fields";
import type { DeploymentSpec } from "./types";
import { parseDigest } from "../oci/digest";

const D = parseDigest("sha256:" + "0123456789abcdef".repeat(4), "D");
const D2 = parseDigest("sha256:" + "fedcba9876543210".repeat(4), "D2");
const FILE = "deploy.yaml";

const EXAMPLE = `image: registry.example.com/team/pipeline@${D}   # or a tag, resolved as above
containerRegistry: team-registry        # name of a docker credential
command: [node, /app/serve.js]
port: 8080                              # also \`ports: [...]\`
env: [{name: MODEL_BASE_PATH, value: /opt/models}]
models: [{id: registry.example.com/models/resnet@${D2}, path: /opt/models}]   # path defaults to /opt/models
repositories:
  dataset: repo-cache                   # where clones are kept between runs
  mountPath: /opt/repos
  repositories:
    - {url: https://git.example.com/org/private.git, name: private, username: bot, password: "SECRET:git-bot"}
resources: {replicas: 2, instanceType: C4}   # \`machineType\` accepted as the newer name
`;

const EXAMPLE_SPEC: DeploymentSpec = {
  name: "pipeline",
  interpreter: { kind: "ContainerAtDigest", repository: "registry.example.com/team/pipeline", digest: D },
  code: { kind: "None" },
  containerRegistry: "team-registry",
  command: ["node", "/app/serve.js"],
  ports: [8080],
  env: [{ name: "MODEL_BASE_PATH", value: "/opt/models" }],
  models: [{ id: `registry.example.com/models/resnet@${D2}`, path: "/opt/models" }],
  repositories: {
    dataset: "repo-cache",
    mountPath: "/opt/repos",
    repositories: [
      {
        url: "https://git.example.com/org/private.git",
        name: "private",
        username: "bot",
        password: { secret: "git-bot" },
      },
    ],
  },
  resources: { replicas: 2, instanceType: "C4" },
};

const specError = (text: string) => specErrorOf(text, FILE);

describe("good specs", () => {
  it("the issue's example becomes the expected DeploymentSpec", () => {
    expect(parseDeploymentSpec(EXAMPLE, FILE)).toEqual(EXAMPLE_SPEC);
  });

  it("the same spec as JSON (tab-indented) gives the same object", () => {
    const json = JSON.stringify(
      {
        image: `registry.example.com/team/pipeline@${D}`,
        containerRegistry: "team-registry",
        command: ["node", "/app/serve.js"],
        port: 8080,
        env: [{ name: "MODEL_BASE_PATH", value: "/opt/models" }],
        models: [{ id: `registry.example.com/models/resnet@${D2}` }],
        repositories: {
          dataset: "repo-cache",
          repositories: [
            {
              url: "https://git.example.com/org/private.git",
              name: "private",
              username: "bot",
              password: "SECRET:git-bot",
            },
          ],
        },
        resources: { replicas: 2, machineType: "C4" },
      },
      null,
      "\t",
    );
    expect(parseDeploymentSpec(json, "deploy.json")).toEqual(EXAMPLE_SPEC);
  });

  it("fills defaults: tag latest, models path, mountPath, replicas 1, no code", () => {
    const spec = parseDeploymentSpec(
      "image: registry.example.com/team/my_pipeline.v2\nmodels: [{id: x.io/m:1}]\nrepositories: {dataset: d, repositories: [{url: 'https://g.io/a.git', name: a, ref: v1.2}]}\n",
      FILE,
    );
    expect(spec.interpreter).toEqual({
      kind: "ContainerAtTag",
      repository: "registry.example.com/team/my_pipeline.v2",
      tag: "latest",
    });
    expect(spec.name).toBe("my-pipeline-v2");
    expect(spec.models).toEqual([{ id: "x.io/m:1", path: "/opt/models" }]);
    expect(spec.repositories).toEqual({
      dataset: "d",
      mountPath: "/opt/repos",
      repositories: [{ url: "https://g.io/a.git", name: "a", ref: "v1.2" }],
    });
    expect(spec.resources).toEqual({ replicas: 1 });
    expect(spec.code).toEqual({ kind: "None" });
    expect(spec.ports).toEqual([]);
    expect(spec.env).toEqual([]);
  });

  it("mount paths beside (not under) /proc, /sys, /dev are fine, and are stored normalized", () => {
    const spec = parseDeploymentSpec(
      "image: x.io/a:1\nmodels: [{id: x.io/m:1, path: /proc2}, {id: x.io/n:1, path: /opt/sys/}, {id: x.io/o:1, path: //devices//x}]\nrepositories: {dataset: d, mountPath: /opt/./dev, repositories: [{url: 'https://g.io/a.git', name: a}]}\n",
      FILE,
    );
    expect(spec.models.map((m) => m.path)).toEqual(["/proc2", "/opt/sys", "/devices/x"]);
    expect(spec.repositories?.mountPath).toBe("/opt/dev");
  });

  it("an image with a tag and a digest uses the digest and warns about the tag", () => {
    const warnings: string[] = [];
    const spec = parseDeploymentSpec(`image: localhost:5000/a/b:v1@${D}\nname: b\n`, FILE, {
      warn: (l) => warnings.push(l),
    });
    expect(spec.interpreter).toEqual({ kind: "ContainerAtDigest", repository: "localhost:5000/a/b", digest: D });
    expect(warnings).toEqual([expect.stringContaining('the tag "v1" is ignored')]);
  });

  it("Docker Hub short names are normalized", () => {
    expect(parseDeploymentSpec("image: node:20\n", FILE).interpreter).toEqual({
      kind: "ContainerAtTag",
      repository: "index.docker.io/library/node",
      tag: "20",
    });
  });

  it("interpreter and code mappings, args, workingDir, port merged into ports", () => {
    const spec = parseDeploymentSpec(
      [
        "name: local-run",
        "interpreter: {type: ServerAvailableInterpreter, nodePath: /usr/bin/node}",
        "code: {type: ServerAvailableFolder, codePaths: [/srv/app, /srv/lib]}",
        "args: [--verbose]",
        "workingDir: /srv/app",
        "port: 8080",
        "ports: [9090, 8080]",
      ].join("\n"),
      FILE,
    );
    expect(spec).toMatchObject({
      name: "local-run",
      interpreter: { kind: "ServerAvailableInterpreter", nodePath: "/usr/bin/node" },
      code: { kind: "ServerAvailableFolder", codePaths: ["/srv/app", "/srv/lib"] },
      args: ["--verbose"],
      workingDir: "/srv/app",
      ports: [8080, 9090],
    });
  });

  test.each([
    [
      "code: {type: GitRepoBranch, repoUrl: 'https://g.io/org/app.git'}",
      { kind: "GitRepoBranch", repoUrl: "https://g.io/org/app.git", branch: "main" },
    ],
    [
      `code: {type: GitRepoCommit, repoUrl: 'git@g.io:org/app.git', commit: ${"a".repeat(40)}}`,
      { kind: "GitRepoCommit", repoUrl: "git@g.io:org/app.git", commit: "a".repeat(40) },
    ],
  ])("code %s", (line, code) => {
    const spec = parseDeploymentSpec(`interpreter: {type: LockfileProject}\n${line}\n`, FILE);
    expect(spec.code).toEqual(code);
    expect(spec.interpreter).toEqual({ kind: "LockfileProject", lockfile: "package-lock.json" });
    expect(spec.name).toBe("app"); // from the repository's name
  });

  it("code: {type: None} is the default", () => {
    const spec = parseDeploymentSpec(
      "name: n\ninterpreter: {type: ServerAvailableInterpreter, nodePath: /usr/bin/node}\ncode: {type: None}\n",
      FILE,
    );
    expect(spec.code).toEqual({ kind: "None" });
  });

  it("the default name, from the repository's last part, is a DNS label: at most 63 characters, no '-' at the end", () => {
    const nameOf = (text: string) => parseDeploymentSpec(text, FILE).name;
    expect(nameOf(`image: x.io/team/${"a".repeat(70)}:v1\n`)).toBe("a".repeat(63));
    expect(nameOf(`image: x.io/team/${"a".repeat(62)}-bcd:v1\n`)).toBe("a".repeat(62)); // cut at 63 leaves a '-': dropped
    expect(nameOf("image: x.io/team/my_app.v2:v1\n")).toBe("my-app-v2");
    expect(
      nameOf(
        `interpreter: {type: LockfileProject}\ncode: {type: GitRepoBranch, repoUrl: 'https://g.io/org/${"b".repeat(80)}.git'}\n`,
      ),
    ).toBe("b".repeat(63));
  });

  it("a name of 63 characters, a DNS label's most, is accepted", () => {
    const name = "a" + "-b".repeat(31);
    expect(name).toHaveLength(63);
    expect(parseDeploymentSpec(`${IMG}name: ${name}\n`, FILE).name).toBe(name);
  });

  it("YAML anchors and aliases are followed", () => {
    const spec = parseDeploymentSpec(
      "image: x.io/a/b:1\nenv:\n  - &e {name: A, value: x}\nmodels: [{id: x.io/m:1, path: /m}]\nports: &p [1, 2]\n",
      FILE,
    );
    expect(spec.ports).toEqual([1, 2]);
  });
});

const IMG = "image: x.io/team/app:v1\n";

// Each case: the spec, and the one issue expected (path, line, value received, problem).
const BAD: BadSpecCase[] = [
  {
    name: "unknown top-level field, with a suggestion",
    text: `${IMG}comand: [node]\n`,
    path: "comand",
    line: 2,
    problem: /unknown field \(did you mean "command"\?\)/,
  },
  {
    name: "unknown nested field",
    text: `${IMG}resources:\n  replica: 2\n`,
    path: "resources.replica",
    line: 3,
    problem: /did you mean "replicas"/,
  },
  {
    name: "wrong type: command as a string",
    text: `${IMG}command: node serve.js\n`,
    path: "command",
    line: 2,
    got: '"node serve.js"',
    problem: /expected a list/,
  },
  {
    name: "wrong type: port as a string",
    text: `${IMG}port: "8080"\n`,
    path: "port",
    line: 2,
    got: '"8080"',
    problem: /expected a port number/,
  },
  {
    name: "wrong type: env value as a number",
    text: `${IMG}env:\n  - name: A\n    value: 1.50\n`,
    path: "env[0].value",
    line: 4,
    got: "1.50",
    problem: /expected a string \(quote it: "1.50"\)/,
  },
  {
    name: "plaintext password",
    text: `${IMG}repositories:\n  dataset: d\n  repositories:\n    - url: https://g.io/a.git\n      name: a\n      username: bot\n      password: hunter2-plain\n`,
    path: "repositories.repositories[0].password",
    line: 8,
    got: "a plaintext value",
    problem: /secret reference "SECRET:name"/,
  },
  {
    name: "numeric plaintext password",
    text: `${IMG}repositories: {dataset: d, repositories: [{url: 'https://g.io/a.git', name: a, password: 123456}]}\n`,
    path: "repositories.repositories[0].password",
    line: 2,
    got: "a plaintext value",
    problem: /not a plaintext value/,
  },
  {
    name: "bad secret name",
    text: `${IMG}repositories: {dataset: d, repositories: [{url: 'https://g.io/a.git', name: a, password: "SECRET:no spaces"}]}\n`,
    path: "repositories.repositories[0].password",
    line: 2,
    got: '"SECRET:no spaces"',
    problem: /secret reference: expected the name/,
  },
  {
    name: "missing required field (nested)",
    text: `${IMG}models:\n  - path: /opt/m\n`,
    path: "models[0].id",
    line: 3,
    problem: /missing required field "id"/,
  },
  {
    name: "missing image and interpreter",
    text: "command: [node]\n",
    path: "image",
    line: 1,
    problem: /missing required field "image" \(or "interpreter"\)/,
  },
  {
    name: "both image and interpreter",
    text: `${IMG}interpreter: {type: ServerAvailableInterpreter, nodePath: /usr/bin/node}\n`,
    path: "interpreter",
    line: 2,
    problem: /either "image" or "interpreter", not both/,
  },
  {
    name: "port out of range",
    text: `${IMG}ports: [80, 65536]\n`,
    path: "ports[1]",
    line: 2,
    got: "65536",
    problem: /1-65535/,
  },
  { name: "port zero", text: `${IMG}port: 0\n`, path: "port", line: 2, got: "0", problem: /1-65535/ },
  {
    name: "duplicate port",
    text: `${IMG}ports:\n  - 80\n  - 443\n  - 80\n`,
    path: "ports[2]",
    line: 5,
    got: "80",
    problem: /duplicate port \(already at ports\[0\]\)/,
  },
  {
    name: "bad env name",
    text: `${IMG}env: [{name: MY-VAR, value: x}]\n`,
    path: "env[0].name",
    line: 2,
    got: '"MY-VAR"',
    problem: /environment variable name/,
  },
  {
    name: "duplicate env name",
    text: `${IMG}env:\n  - {name: A, value: x}\n  - {name: A, value: y}\n`,
    path: "env[1].name",
    line: 4,
    got: '"A"',
    problem: /duplicate environment variable \(already at env\[0\]\)/,
  },
  {
    name: "duplicate repository name",
    text: `${IMG}repositories:\n  dataset: d\n  repositories:\n    - {url: 'https://g.io/a.git', name: a}\n    - {url: 'https://g.io/b.git', name: a}\n`,
    path: "repositories.repositories[1].name",
    line: 6,
    got: '"a"',
    problem: /duplicate repository name/,
  },
  {
    name: "relative model path",
    text: `${IMG}models: [{id: x.io/m:1, path: models}]\n`,
    path: "models[0].path",
    line: 2,
    got: '"models"',
    problem: /absolute path/,
  },
  {
    name: "model path under /proc",
    text: `${IMG}models: [{id: x.io/m:1, path: /proc/m}]\n`,
    path: "models[0].path",
    line: 2,
    got: '"/proc/m"',
    problem: /cannot mount on or under \/proc/,
  },
  {
    name: "repositories mounted over /",
    text: `${IMG}repositories:\n  dataset: d\n  mountPath: /\n  repositories: [{url: 'https://g.io/a.git', name: a}]\n`,
    path: "repositories.mountPath",
    line: 4,
    got: '"/"',
    problem: /cannot mount over the container's root/,
  },
  {
    name: "duplicate model path (default)",
    text: `${IMG}models:\n  - id: x.io/m:1\n  - id: x.io/n:1\n`,
    path: "models[1].path",
    line: 4,
    got: '"/opt/models"',
    problem: /already used by another model \(already at models\[0\]\)/,
  },
  {
    name: "replicas not a positive integer",
    text: `${IMG}resources: {replicas: 1.5}\n`,
    path: "resources.replicas",
    line: 2,
    got: "1.5",
    problem: /positive integer/,
  },
  {
    name: "replicas negative",
    text: `${IMG}resources:\n  replicas: -2\n`,
    path: "resources.replicas",
    line: 3,
    got: "-2",
    problem: /positive integer/,
  },
  {
    name: "instanceType and machineType",
    text: `${IMG}resources:\n  instanceType: C4\n  machineType: C5\n`,
    path: "resources.machineType",
    line: 4,
    got: '"C5"',
    problem: /"instanceType" or its newer name "machineType", not both/,
  },
  {
    name: "bad image reference",
    text: "image: registry.example.com/Team/App:v1\n",
    path: "image",
    line: 1,
    got: '"registry.example.com/Team/App:v1"',
    problem: /lowercase/,
  },
  {
    name: "bad image digest",
    text: "image: x.io/a@sha256:1234\n",
    path: "image",
    line: 1,
    got: '"x.io/a@sha256:1234"',
    problem: /digest must be/,
  },
  { name: "bad name", text: `${IMG}name: My_App\n`, path: "name", line: 2, got: '"My_App"', problem: /DNS-1123 label/ },
  {
    name: "unknown interpreter type",
    text: "interpreter: {type: ServerAvailableInterpeter, nodePath: /n}\n",
    path: "interpreter.type",
    line: 1,
    got: '"ServerAvailableInterpeter"',
    problem: /did you mean "ServerAvailableInterpreter"/,
  },
  {
    name: "relative nodePath",
    text: "name: x\ninterpreter:\n  type: ServerAvailableInterpreter\n  nodePath: bin/node\n",
    path: "interpreter.nodePath",
    line: 4,
    got: '"bin/node"',
    problem: /absolute path/,
  },
  {
    name: "GitRepoCommit without a commit",
    text: `${IMG}code: {type: GitRepoCommit, repoUrl: 'https://g.io/a.git'}\n`,
    path: "code.commit",
    line: 2,
    problem: /missing required field "commit"/,
  },
  {
    name: "name of 64 characters (a DNS label has at most 63)",
    text: `${IMG}name: ${"a".repeat(64)}\n`,
    path: "name",
    line: 2,
    got: `"${"a".repeat(64)}"`,
    problem: /at most 63 characters/,
  },
  {
    name: "name ending in '-'",
    text: `${IMG}name: app-\n`,
    path: "name",
    line: 2,
    got: '"app-"',
    problem: /DNS-1123 label/,
  },
  {
    name: "short commit",
    text: `${IMG}code: {type: GitRepoCommit, repoUrl: 'https://g.io/a.git', commit: abc123}\n`,
    path: "code.commit",
    line: 2,
    got: '"abc123"',
    problem: /40 or 64/,
  },
  {
    name: "git URL with a password in it, redacted",
    text: `${IMG}code: {type: GitRepoBranch, repoUrl: 'https://bot:s3cr3t@g.io/a.git'}\n`,
    path: "code.repoUrl",
    line: 2,
    got: '"https://REDACTED@g.io/a.git"',
    problem: /user information/,
  },
  {
    name: "duplicate code path",
    text: `${IMG}code:\n  type: ServerAvailableFolder\n  codePaths: [/srv/a, /srv/b/, /srv/b]\n`,
    path: "code.codePaths[2]",
    line: 4,
    got: '"/srv/b"',
    problem: /duplicate path \(already at code.codePaths\[1\]\)/,
  },
  {
    name: "LockfileProject without code",
    text: "name: x\ninterpreter: {type: LockfileProject, lockfile: app/package-lock.json}\n",
    path: "code",
    line: 2,
    problem: /LockfileProject needs a code deployment/,
  },
  {
    name: "LockfileProject with code None",
    text: "name: x\ninterpreter: {type: LockfileProject}\ncode:\n  type: None\n",
    path: "code",
    line: 3,
    problem: /LockfileProject needs a code deployment/,
  },
  {
    name: "lockfile outside the code",
    text: "name: x\ninterpreter: {type: LockfileProject, lockfile: ../package-lock.json}\n",
    path: "interpreter.lockfile",
    line: 2,
    got: '"../package-lock.json"',
    problem: /leaves the code deployment's root/,
  },
  {
    name: "alias to an undefined anchor",
    text: `${IMG}env:\n  - {name: A, value: x}\n  - *nope\n`,
    path: "env[1]",
    line: 4,
    got: "an alias to an undefined anchor (*nope)",
    problem: /expected a mapping \{name, value\}/,
  },
  {
    name: "unknown YAML tag",
    text: `${IMG}port: !port 80\n`,
    path: "",
    line: 2,
    problem: /YAML problem: Unresolved tag: !port/,
  },
  {
    name: "a key that is not a string",
    text: `${IMG}? [a, b]\n: 1\n`,
    path: "(top level)",
    line: 2,
    got: "a list",
    problem: /keys must be plain strings/,
  },
  {
    name: "secret prefix in lower case",
    text: `${IMG}repositories: {dataset: d, repositories: [{url: 'https://g.io/a.git', name: a, password: 'secret:git-bot'}]}\n`,
    path: "repositories.repositories[0].password",
    line: 2,
    got: "a plaintext value",
    problem: /the prefix is upper-case/,
  },
  {
    name: "top level is a list",
    text: "- image: x.io/a:1\n",
    path: "",
    line: 1,
    got: "a list",
    problem: /expected a mapping of deployment fields/,
  },
  {
    name: "YAML syntax error",
    text: `${IMG}command: [node\nport: 1\n`,
    path: "",
    line: 3,
    problem: /YAML syntax error/,
  },
  {
    name: "duplicate key",
    text: `${IMG}port: 1\nport: 2\n`,
    path: "",
    line: 3,
    problem: /YAML syntax error: Map keys must be unique/,
  },
  {
    name: "multiple documents",
    text: `${IMG}---\n${IMG}`,
    path: "",
    line: 2,
    got: "2 documents",
    problem: /multiple YAML documents/,
  },
  { name: "empty document", text: "# nothing here\n", path: "", line: undefined, problem: /empty document/ },
  {
    name: "empty value",
    text: `${IMG}workingDir:\n`,
    path: "workingDir",
    line: 2,
    got: "an empty value",
    problem: /expected a string/,
  },
  {
    name: "empty command",
    text: `${IMG}command: []\n`,
    path: "command",
    line: 2,
    got: "an empty list",
    problem: /at least one element/,
  },
];

describe("bad specs: each error names the file, line, YAML path and value", () => {
  test.each(BAD.map((c) => [c.name, c] as const))("%s", (_, c) => {
    const err = expectOneSpecIssue(c, FILE);
    expect(err.message).not.toMatch(/hunter2|s3cr3t|123456/);
  });
});

describe("error reporting", () => {
  it("collects every problem, one per line, in line order", () => {
    const err = specError(
      [
        "imgae: x.io/a:1",
        "port: 70000",
        "env:",
        "  - {name: A, value: x}",
        "  - {name: A, value: y}",
        "resources: {replicas: 0, machineType: C4, instanceType: C5}",
      ].join("\n"),
    );
    const lines = err.message.split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/^deploy\.yaml:1: imgae: unknown field \(did you mean "image"\?\)/),
      'deploy.yaml:1: image: missing required field "image" (or "interpreter")',
      "deploy.yaml:2: port: expected a port number (an integer 1-65535) (got 70000)",
      'deploy.yaml:5: env[1].name: duplicate environment variable (already at env[0]) (got "A")',
      "deploy.yaml:6: resources.replicas: expected a positive integer (1-10000) (got 0)",
      'deploy.yaml:6: resources.machineType: give "instanceType" or its newer name "machineType", not both (got "C4")',
    ]);
  });

  it("never echoes a plaintext password, whatever else is wrong", () => {
    const secret = "pl41n-Pa55w0rd";
    const err = specError(
      `image: x.io/a:1\nrepositories: {dataset: d, repositories: [{url: 'https://g.io/a.git', name: a, password: ${secret}, pasword: x}]}\n`,
    );
    expect(err.issues.map((i) => i.path)).toEqual([
      "repositories.repositories[0].password",
      "repositories.repositories[0].pasword",
    ]);
    expect(err.message).not.toContain(secret);
    expect(JSON.stringify(err.issues)).not.toContain(secret);
  });

  it("names without an image must be given", () => {
    const err = specError("interpreter: {type: ServerAvailableInterpreter, nodePath: /usr/bin/node}\n");
    expect(err.issues).toEqual([
      expect.objectContaining({
        path: "name",
        line: 1,
        problem: expect.stringMatching(/missing required field "name"/),
      }),
    ]);
  });
});

describe("loadDeploymentSpec", () => {
  const dir = mkdtempSync(join(tmpdir(), "deploy-spec-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads YAML and JSON files and names the file in errors", () => {
    const yamlPath = join(dir, "deploy.yaml");
    writeFileSync(yamlPath, EXAMPLE);
    expect(loadDeploymentSpec(yamlPath)).toEqual(EXAMPLE_SPEC);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{\n  "image": "x.io/a:1",\n  "port": "80"\n}\n');
    expect(() => loadDeploymentSpec(bad)).toThrow(
      `${bad}:3: port: expected a port number (an integer 1-65535) (got "80")`,
    );
  });

  it("a missing file is E_SPEC naming it", () => {
    const missing = join(dir, "nope.yaml");
    let err: unknown;
    try {
      loadDeploymentSpec(missing);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe("E_SPEC");
    expect((err as PipelineError).message).toBe(`deployment spec: ${missing}: no such file`);
  });
});

describe("JSON Schema export", () => {
  // Plain JSON, read by key.
  const schema = deploymentSpecJsonSchema() as Record<string, any>;

  it("lists exactly the spec's fields, closed at every level", () => {
    expect(Object.keys(schema.properties)).toEqual(Object.keys(SPEC_FIELDS));
    const objects: Record<string, unknown>[] = [];
    const walk = (s: unknown) => {
      if (!s || typeof s !== "object") return;
      const o = s as Record<string, unknown>;
      if (o.type === "object" && o.properties) objects.push(o); // tagged unions close each variant instead
      Object.values(o).forEach(walk);
    };
    walk(schema);
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) expect(o.additionalProperties).toBe(false);
    expect(schema.oneOf).toEqual([{ required: ["image"] }, { required: ["interpreter"] }]);
  });

  it("carries the checks a schema can express", () => {
    const repo = schema.properties.repositories.properties.repositories.items;
    const password = new RegExp(repo.properties.password.pattern);
    expect(password.test("SECRET:git-bot")).toBe(true);
    expect(password.test("hunter2")).toBe(false);
    expect(repo.required).toEqual(["url", "name"]);
    expect(new RegExp(schema.properties.name.pattern).test("my-app")).toBe(true);
    expect(new RegExp(schema.properties.name.pattern).test("My_App")).toBe(false);
    expect(schema.properties.ports.items).toEqual({ type: "integer", minimum: 1, maximum: 65535 });
    expect(schema.properties.resources.not).toEqual({ required: ["instanceType", "machineType"] });
    expect(
      schema.properties.code.oneOf.map((v: { properties: { type: { const: string } } }) => v.properties.type.const),
    ).toEqual(["GitRepoBranch", "GitRepoCommit", "ServerAvailableFolder", "None"]);
  });
});
