/**
 * A small schema validator over YAML nodes (the `yaml` package's AST), so every problem can name the YAML
 * path, the line and the value received. Validators collect issues in a SpecContext instead of throwing:
 * a spec with five mistakes gets five lines. JSON is YAML, so JSON specs go through the same code.
 *
 * Messages: `FILE:LINE: PATH: problem (got VALUE)`; VALUE is the scalar as written (strings JSON-quoted,
 * URLs redacted), `a mapping` / `a list` for collections, or whatever the caller substitutes (the spec never
 * echoes a plaintext password).
 */
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, type Pair } from "yaml";
import { PipelineError } from "../errors";
import { closest } from "../closest";
export { closest };
import { quoteValue } from "./model";
import type { SpecLocation } from "./types";

export const SPEC_ERROR = "E_SPEC";

/** One problem in a spec: where (the YAML path and line, as in SpecLocation) and what. */
export interface SpecIssue extends Omit<SpecLocation, "file"> {
  problem: string;
  /** What was received, already formatted (`"abc"`, `8080`, `a mapping`, `a plaintext value`); none when not applicable. */
  got?: string;
}

/** E_SPEC (or the code given) with every problem found, one per line; `issues` keeps them structured. */
export class SpecError extends PipelineError {
  constructor(
    readonly file: string,
    readonly issues: SpecIssue[],
    code = SPEC_ERROR,
  ) {
    super(code, issues.map((i) => formatIssue(file, i)).join("\n"));
  }
}

export function formatIssue(file: string, i: SpecIssue): string {
  const where = i.line !== undefined ? `${file}:${i.line}` : file;
  return `${where}: ${i.path ? `${i.path}: ` : ""}${i.problem}${i.got !== undefined ? ` (got ${i.got})` : ""}`;
}

/** A YAML node or nothing (an absent key). */
export type YNode = Node | null | undefined;

export class SpecContext {
  readonly issues: SpecIssue[] = [];
  private readonly lines = new Map<string, number>();
  constructor(
    readonly text: string,
    readonly lineCounter: LineCounter,
    readonly doc: Document,
  ) {}

  /** The node an alias points at; anything else as is. */
  deref(node: YNode): YNode {
    let n = node;
    for (let i = 0; i < 32 && isAlias(n); i++) {
      const target = n.resolve(this.doc) as YNode;
      if (!target) return n; // an alias to no anchor: kept, so messages can say so and give its line
      n = target;
    }
    return n;
  }

  lineOf(node: YNode | Pair): number | undefined {
    const range = isPair(node) ? (node.key as Node | null)?.range : node?.range;
    return range ? this.lineAt(range[0]) : undefined;
  }

  lineAt(offset: number): number {
    return this.lineCounter.linePos(offset).line;
  }

  /** Remembers where `path` is, for checks that run after the structure was read. */
  mark(path: string, line: number | undefined): void {
    if (line !== undefined && !this.lines.has(path)) this.lines.set(path, line);
  }

  /** Whether `path` itself was seen (not just an ancestor). */
  marked(path: string): boolean {
    return this.lines.has(path);
  }

  /** The line of `path`, or of its nearest marked ancestor. */
  where(path: string): number | undefined {
    for (let p = path; ; ) {
      const line = this.lines.get(p);
      if (line !== undefined) return line;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      if (cut <= 0) return this.lines.get("");
      p = p.slice(0, cut);
    }
  }

  report(path: string, line: number | undefined, problem: string, got?: string): void {
    this.issues.push({ path, line, problem, got });
  }

  /** The value as written, for `(got ...)`. */
  describe(node: YNode): string {
    const n = this.deref(node);
    if (n === null || n === undefined) return "nothing";
    if (isMap(n)) return "a mapping";
    if (isSeq(n)) return "a list";
    if (isScalar(n)) {
      if (n.value === null) return n.range && n.range[0] === n.range[1] ? "an empty value" : "null";
      if (typeof n.value === "string") return truncate(quoteValue(n.value));
      if (n.range) return truncate(this.text.slice(n.range[0], n.range[1]).trim() || String(n.value));
      return String(n.value);
    }
    if (isAlias(n)) return `an alias to an undefined anchor (*${n.source})`;
    return "an unsupported YAML value";
  }
}

function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** A JSON Schema fragment (draft 2020-12), for editors and other tools; the validators are the authority. */
export type JsonSchema = Record<string, unknown>;

/** A validator: the value when valid, undefined after reporting why not; `schema` describes it as JSON Schema. */
export type V<T> = ((node: YNode, path: string, cx: SpecContext) => T | undefined) & { schema: JsonSchema };

/** The type of what a validator accepts: `Infer<typeof imageConfig>`. */
export type Infer<X> = X extends V<infer T> ? T : never;

export function withSchema<T>(fn: (node: YNode, path: string, cx: SpecContext) => T | undefined, schema: JsonSchema): V<T> {
  return Object.assign(fn, { schema });
}

function at(cx: SpecContext, node: YNode, path: string): number | undefined {
  const line = cx.lineOf(node);
  cx.mark(path, line);
  return line;
}

/** A string, optionally checked by `check` (returning the problem). */
export function str(check?: (s: string) => string | undefined, schema: JsonSchema = {}): V<string> {
  return withSchema(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isScalar(n) || typeof n.value !== "string") {
        const hint = isScalar(n) && (typeof n.value === "number" || typeof n.value === "boolean") ? ` (quote it: "${cx.describe(n)}")` : "";
        cx.report(path, line, `expected a string${hint}`, cx.describe(n));
        return undefined;
      }
      const problem = check?.(n.value);
      if (problem) {
        cx.report(path, line, problem, cx.describe(n));
        return undefined;
      }
      return n.value;
    },
    { type: "string", ...schema },
  );
}

/** An integer in [min, max]. */
export function int(min: number, max: number, what = "an integer"): V<number> {
  return withSchema(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isScalar(n) || typeof n.value !== "number" || !Number.isInteger(n.value) || n.value < min || n.value > max) {
        cx.report(path, line, `expected ${what}`, cx.describe(n));
        return undefined;
      }
      return n.value;
    },
    { type: "integer", minimum: min, maximum: max },
  );
}

/** A list whose items all pass `item`; undefined when the list or any item is invalid. */
export function list<T>(item: V<T>, opts: { nonEmpty?: string } = {}): V<T[]> {
  return withSchema(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isSeq(n)) {
        cx.report(path, line, "expected a list", cx.describe(n));
        return undefined;
      }
      if (opts.nonEmpty && n.items.length === 0) {
        cx.report(path, line, opts.nonEmpty, "an empty list");
        return undefined;
      }
      const out: T[] = [];
      let ok = true;
      n.items.forEach((child, i) => {
        const v = item(child as YNode, `${path}[${i}]`, cx);
        if (v === undefined) ok = false;
        else out.push(v);
      });
      return ok ? out : undefined;
    },
    { type: "array", items: item.schema, ...(opts.nonEmpty ? { minItems: 1 } : {}) },
  );
}

export interface Field {
  v: V<unknown>;
  required?: boolean;
  /** What the field means, for the JSON Schema. */
  doc?: string;
}
export type Fields = Record<string, Field>;
/** A validated mapping: each present, valid field's value (invalid or absent fields are missing). */
export type Checked = Record<string, unknown> & { readonly __valid: boolean; readonly __keys: readonly string[] };
/** The value of a mapping of `F` (declared as a literal): required fields present, the others optional. */
export type Shape<F extends Fields> = {
  -readonly [K in keyof F as F[K] extends { required: true } ? K : never]: Infer<F[K]["v"]>;
} & { -readonly [K in keyof F as F[K] extends { required: true } ? never : K]?: Infer<F[K]["v"]> };

function objectSchema(fields: Fields): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [k, f] of Object.entries(fields)) properties[k] = f.doc ? { ...f.v.schema, description: f.doc } : f.v.schema;
  const required = Object.keys(fields).filter((k) => fields[k].required);
  return { type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * A mapping with exactly these fields. Unknown keys are reported with the closest known name; missing
 * required fields at the mapping's line. `__valid` says whether every field passed.
 */
export function obj<const F extends Fields>(fields: F, what = "a mapping", extra: JsonSchema = {}): V<Checked & Shape<F>> {
  return withSchema<Checked & Shape<F>>(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isMap(n)) {
        cx.report(path, line, `expected ${what}`, cx.describe(n));
        return undefined;
      }
      const out: Record<string, unknown> = {};
      let valid = true;
      const seen = new Set<string>();
      for (const pair of n.items) {
        const keyNode = cx.deref(pair.key as YNode);
        const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
        const keyLine = cx.lineOf(pair);
        if (key === undefined || !(isScalar(keyNode) && typeof keyNode.value === "string")) {
          cx.report(path || "(top level)", keyLine, "keys must be plain strings", cx.describe(keyNode));
          valid = false;
          continue;
        }
        if (seen.has(key)) continue; // the YAML parser reports duplicate keys
        seen.add(key);
        const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
        const p = childPath(path, key);
        if (!field) {
          const near = closest(key, Object.keys(fields));
          cx.report(p, keyLine, `unknown field${near ? ` (did you mean "${near}"?)` : ""}; known fields: ${Object.keys(fields).join(", ")}`);
          valid = false;
          continue;
        }
        cx.mark(p, keyLine);
        const value = field.v(pair.value as YNode, p, cx);
        if (value === undefined) valid = false;
        else out[key] = value;
      }
      for (const [key, field] of Object.entries(fields)) {
        if (field.required && !seen.has(key)) {
          cx.report(childPath(path, key), line, `missing required field "${key}"`);
          valid = false;
        }
      }
      // Bookkeeping stays out of the value (non-enumerable): checked mappings become spec objects as they are.
      Object.defineProperty(out, "__valid", { value: valid, enumerable: false });
      Object.defineProperty(out, "__keys", { value: [...seen], enumerable: false });
      // Each value passed its field's validator: the Shape<F> it declares (the one unchecked step, checked here).
      return out as Checked & Shape<F>;
    },
    { ...objectSchema(fields), ...extra },
  );
}

/**
 * A mapping whose `type` field picks the variant: `{type: GitRepoBranch, repoUrl: ..., branch: ...}`.
 * Each variant lists its fields besides `type`.
 */
export function tagged(variants: Record<string, Fields>): V<Checked & { type: string }> {
  const names = Object.keys(variants);
  return withSchema(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isMap(n)) {
        cx.report(path, line, `expected a mapping with "type" (one of ${names.join(", ")})`, cx.describe(n));
        return undefined;
      }
      const typePair = n.items.find((p) => {
        const k = cx.deref(p.key as YNode);
        return isScalar(k) && k.value === "type";
      });
      const typePath = childPath(path, "type");
      if (!typePair) {
        cx.report(typePath, line, `missing required field "type" (one of ${names.join(", ")})`);
        return undefined;
      }
      const type = str((s) => {
        if (Object.hasOwn(variants, s)) return undefined;
        const near = closest(s, names);
        return `unknown type${near ? ` (did you mean "${near}"?)` : ""}; expected one of ${names.join(", ")}`;
      })(typePair.value as YNode, typePath, cx);
      if (type === undefined) return undefined;
      const checked = obj({ type: { v: str(), required: true }, ...variants[type] })(n, path, cx);
      return checked as (Checked & { type: string }) | undefined;
    },
    {
      type: "object",
      required: ["type"],
      oneOf: names.map((n) => objectSchema({ type: { v: str(undefined, { const: n }), required: true }, ...variants[n] })),
    },
  );
}

/** A mapping of string keys to values that pass `value` (labels, environment variables). */
export function dict<T>(value: V<T>, what = "a mapping of names to values"): V<Record<string, T>> {
  return withSchema<Record<string, T>>(
    (node, path, cx) => {
      const n = cx.deref(node);
      const line = at(cx, n, path);
      if (!isMap(n)) {
        cx.report(path, line, `expected ${what}`, cx.describe(n));
        return undefined;
      }
      const out: Record<string, T> = {};
      let ok = true;
      for (const pair of n.items) {
        const keyNode = cx.deref(pair.key as YNode);
        if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
          cx.report(path || "(top level)", cx.lineOf(pair), "keys must be plain strings", cx.describe(keyNode));
          ok = false;
          continue;
        }
        const v = value(pair.value as YNode, childPath(path, keyNode.value), cx);
        if (v === undefined) ok = false;
        else Object.defineProperty(out, keyNode.value, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return ok ? out : undefined;
    },
    { type: "object", additionalProperties: value.schema },
  );
}

/**
 * `value` (already parsed JSON: a file our own rules wrote) checked against `v`; `file` names it in messages.
 * Throws SpecError with `code` listing every problem (`FILE: PATH: problem (got VALUE)`).
 */
export function checkJson<T>(value: unknown, file: string, v: V<T>, code: string): T {
  const doc = new Document(value);
  const cx = new SpecContext("", new LineCounter(), doc);
  const checked = v(doc.contents, "", cx);
  if (cx.issues.length || checked === undefined) throw new SpecError(file, cx.issues, code);
  return checked;
}
