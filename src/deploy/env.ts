/**
 * The environment a deployment's containers get, the same for the local runner and Kubernetes:
 *  - the spec's `env`, in order;
 *  - `PORT` = the first of `port`/`ports` when the spec has one and does not set PORT itself (the Cloud Run /
 *    Heroku convention, so a service knows where to listen);
 *  - a value `SECRET:name` is a named secret (secrets.ts): the runner passes its value, Kubernetes a secretKeyRef.
 */
import type { DeploymentSpec, EnvVar } from "./types";

export function deploymentEnv(spec: Pick<DeploymentSpec, "env" | "ports">): EnvVar[] {
  const env = [...spec.env];
  if (spec.ports.length && !env.some((e) => e.name === "PORT"))
    env.push({ name: "PORT", value: String(spec.ports[0]) });
  return env;
}

/** `name` for an env value `SECRET:name`, else undefined. */
export function envSecretName(value: string): string | undefined {
  const m = /^SECRET:(.+)$/.exec(value);
  return m ? m[1] : undefined;
}
