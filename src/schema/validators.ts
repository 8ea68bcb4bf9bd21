/**
 * A small schema validator, so every problem can name the file, the path, the line (when there is one) and the value
 * received. Validators read values through a SchemaContext's `view`, which says what a node is: a YAML node
 * (src/deploy/spec-schema.ts, the deployment specs) or an already parsed JSON value (`checkJson` here, the files our
 * own rules write). This module imports no parser: the launchers' preload (tools/preload.ts) uses it at every start.
 * Validators collect issues instead of throwing: a spec with five mistakes gets five lines.
 *
 * Messages: `FILE:LINE: PATH: problem (got VALUE)`; VALUE is the scalar as written (strings JSON-quoted, URLs
 * redacted), `a mapping` / `a list` for collections, or whatever the caller substitutes (the spec never echoes a
 * plaintext password).
 */
import { closest } from "../closest";
import { type ErrorCode, PipelineError, quoteValue } from "../errors";

/** One problem: where (the path, e.g. `repositories[0].password`, and the 1-based line when known) and what. */
export interface SpecIssue {
  path: string;
  line?: number;
  problem: string;
  /** What was received, already formatted (`"abc"`, `8080`, `a mapping`, `a plaintext value`); none when not applicable. */
  got?: string;
}

/**
 * A value that failed its schema, with every problem found, one per line; `issues` keeps them structured. The code
 * says whose file it was: E_SPEC for a deployment spec (`SpecError`, src/deploy/spec.ts), E_LAUNCH_CONFIG for a launch
 * config, E_BAD_INPUT, E_CACHE, ... for the others `checkJson` reads.
 */
export class SchemaError extends PipelineError {
  constructor(
    readonly file: string,
    readonly issues: SpecIssue[],
    code: ErrorCode,
  ) {
    super(code, issues.map((i) => formatIssue(file, i)).join("\n"));
  }
}

export function formatIssue(file: string, i: SpecIssue): string {
  const where = i.line !== undefined ? `${file}:${i.line}` : file;
  return `${where}: ${i.path ? `${i.path}: ` : ""}${i.problem}${i.got !== undefined ? ` (got ${i.got})` : ""}`;
}

/** A mapping's entry: its key when a plain string (the node otherwise, for messages), its line, its value's node. */
export interface Entry {
  key: string | undefined;
  keyNode: unknown;
  line?: number;
  value: unknown;
}

/** What a node is, as validators see it. `source` is a scalar as written, when the format keeps it (YAML's `2.50`). */
export type View = { line?: number } & (
  | { kind: "map"; entries: Entry[] }
  | { kind: "list"; items: unknown[] }
  | { kind: "scalar"; value: unknown; source?: string }
  | { kind: "other" }
);

/** Where validators report, and how they read nodes (`view`, `describe`) of one format. */
export abstract class SchemaContext {
  readonly issues: SpecIssue[] = [];
  private readonly lines = new Map<string, number>();

  /** What `node` is (absent: `undefined`, an `other`). */
  abstract view(node: unknown): View;
  /** The value as written, for `(got ...)`. */
  abstract describe(node: unknown): string;

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
}

export function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** A JSON Schema fragment (draft 2020-12), for editors and other tools; the validators are the authority. */
export type JsonSchema = Record<string, unknown>;

/** A validator: the value when valid, undefined after reporting why not; `schema` describes it as JSON Schema. */
export type V<T> = ((node: unknown, path: string, cx: SchemaContext) => T | undefined) & { schema: JsonSchema };

/** The type of what a validator accepts: `Infer<typeof imageConfig>`. */
export type Infer<X> = X extends V<infer T> ? T : never;

export function withSchema<T>(
  fn: (node: unknown, path: string, cx: SchemaContext) => T | undefined,
  schema: JsonSchema,
): V<T> {
  return Object.assign(fn, { schema });
}

/** `node`'s view, its line marked as `path`'s. */
export function viewAt(cx: SchemaContext, node: unknown, path: string): View {
  const n = cx.view(node);
  cx.mark(path, n.line);
  return n;
}

/** A string, optionally checked by `check` (returning the problem). */
export function str(check?: (s: string) => string | undefined, schema: JsonSchema = {}): V<string> {
  return withSchema(
    (node, path, cx) => {
      const n = viewAt(cx, node, path);
      if (n.kind !== "scalar" || typeof n.value !== "string") {
        const hint =
          n.kind === "scalar" && (typeof n.value === "number" || typeof n.value === "boolean")
            ? ` (quote it: "${cx.describe(node)}")`
            : "";
        cx.report(path, n.line, `expected a string${hint}`, cx.describe(node));
        return undefined;
      }
      const problem = check?.(n.value);
      if (problem) {
        cx.report(path, n.line, problem, cx.describe(node));
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
      const n = viewAt(cx, node, path);
      if (
        n.kind !== "scalar" ||
        typeof n.value !== "number" ||
        !Number.isInteger(n.value) ||
        n.value < min ||
        n.value > max
      ) {
        cx.report(path, n.line, `expected ${what}`, cx.describe(node));
        return undefined;
      }
      return n.value;
    },
    { type: "integer", minimum: min, maximum: max },
  );
}

/** A boolean. */
export const bool: V<boolean> = withSchema<boolean>(
  (node, path, cx) => {
    const n = viewAt(cx, node, path);
    if (n.kind === "scalar" && typeof n.value === "boolean") return n.value;
    cx.report(path, n.line, "expected true or false", cx.describe(node));
    return undefined;
  },
  { type: "boolean" },
);

/** One of `values` (a string). */
export function choice<const T extends string>(values: readonly T[]): V<T> {
  const is = (s: string): s is T => values.some((v) => v === s);
  const check = str((s) => (is(s) ? undefined : `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}`), {
    enum: values,
  });
  return withSchema<T>((node, path, cx) => {
    const s = check(node, path, cx);
    return s !== undefined && is(s) ? s : undefined;
  }, check.schema);
}

/** A list whose items all pass `item`; undefined when the list or any item is invalid. */
export function list<T>(item: V<T>, opts: { nonEmpty?: string } = {}): V<T[]> {
  return withSchema(
    (node, path, cx) => {
      const n = viewAt(cx, node, path);
      if (n.kind !== "list") {
        cx.report(path, n.line, "expected a list", cx.describe(node));
        return undefined;
      }
      if (opts.nonEmpty && n.items.length === 0) {
        cx.report(path, n.line, opts.nonEmpty, "an empty list");
        return undefined;
      }
      const out: T[] = [];
      let ok = true;
      n.items.forEach((child, i) => {
        const v = item(child, `${path}[${i}]`, cx);
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
export type Checked = { readonly __valid: boolean; readonly __keys: readonly string[] };
/** The value of a mapping of `F` (declared as a literal): required fields present, the others optional. */
export type Shape<F extends Fields> = {
  -readonly [K in keyof F as F[K] extends { required: true } ? K : never]: Infer<F[K]["v"]>;
} & { -readonly [K in keyof F as F[K] extends { required: true } ? never : K]?: Infer<F[K]["v"]> };

function objectSchema(fields: Fields): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [k, f] of Object.entries(fields))
    properties[k] = f.doc ? { ...f.v.schema, description: f.doc } : f.v.schema;
  const required = Object.keys(fields).filter((k) => fields[k].required);
  return { type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

/**
 * The entries of the mapping `node` whose keys are plain strings, each other key reported (`badKeys`); undefined after
 * reporting that `node` is no mapping (`what` says what was expected).
 */
function mapping(
  cx: SchemaContext,
  node: unknown,
  path: string,
  what: string,
): { line?: number; entries: (Entry & { key: string })[]; badKeys: boolean } | undefined {
  const n = viewAt(cx, node, path);
  if (n.kind !== "map") {
    cx.report(path, n.line, `expected ${what}`, cx.describe(node));
    return undefined;
  }
  const entries: (Entry & { key: string })[] = [];
  let badKeys = false;
  for (const e of n.entries) {
    if (e.key !== undefined) entries.push({ ...e, key: e.key });
    else {
      cx.report(path || "(top level)", e.line, "keys must be plain strings", cx.describe(e.keyNode));
      badKeys = true;
    }
  }
  return { line: n.line, entries, badKeys };
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * A mapping with exactly these fields. Unknown keys are reported with the closest known name; missing
 * required fields at the mapping's line. `__valid` says whether every field passed. With `keepUnknown` (JSON that
 * others wrote, such as an image config: the fields we read are checked, the rest are theirs) unknown keys are kept
 * as they are, in their place, instead.
 */
export function obj<const F extends Fields>(
  fields: F,
  what = "a mapping",
  extra: JsonSchema = {},
  opts: { keepUnknown?: boolean } = {},
): V<Checked & Shape<F>> {
  return withSchema<Checked & Shape<F>>(
    (node, path, cx) => {
      const n = mapping(cx, node, path, what);
      if (!n) return undefined;
      const out: Record<string, unknown> = {};
      let valid = !n.badKeys;
      const seen = new Set<string>();
      for (const { key, line: keyLine, value: valueNode } of n.entries) {
        if (seen.has(key)) continue; // the YAML parser reports duplicate keys
        seen.add(key);
        const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
        const p = childPath(path, key);
        if (!field && opts.keepUnknown) {
          // defineProperty: a key such as "__proto__" stays a plain key.
          Object.defineProperty(out, key, { value: valueNode, enumerable: true, writable: true, configurable: true });
          continue;
        }
        if (!field) {
          const near = closest(key, Object.keys(fields));
          cx.report(
            p,
            keyLine,
            `unknown field${near ? ` (did you mean "${near}"?)` : ""}; known fields: ${Object.keys(fields).join(", ")}`,
          );
          valid = false;
          continue;
        }
        cx.mark(p, keyLine);
        const value = field.v(valueNode, p, cx);
        if (value === undefined) valid = false;
        else out[key] = value;
      }
      for (const [key, field] of Object.entries(fields)) {
        if (field.required && !seen.has(key)) {
          cx.report(childPath(path, key), n.line, `missing required field "${key}"`);
          valid = false;
        }
      }
      // Bookkeeping stays out of the value (non-enumerable): checked mappings become spec objects as they are.
      Object.defineProperty(out, "__valid", { value: valid, enumerable: false });
      Object.defineProperty(out, "__keys", { value: [...seen], enumerable: false });
      // Each value passed its field's validator: the Shape<F> it declares (the one unchecked step, checked here).
      return out as Checked & Shape<F>;
    },
    { ...objectSchema(fields), ...(opts.keepUnknown ? { additionalProperties: true } : {}), ...extra },
  );
}

/** One variant of a `tagged` mapping: its `type` and its own fields. */
export type Variant<Vs extends Record<string, Fields>> = {
  [K in keyof Vs & string]: Checked & { type: K } & Shape<Vs[K]>;
}[keyof Vs & string];

/**
 * A mapping whose `type` field picks the variant: `{type: GitRepoBranch, repoUrl: ..., branch: ...}`.
 * Each variant lists its fields besides `type`; the value is the union of the variants, so `switch (v.type)` narrows.
 */
export function tagged<const Vs extends Record<string, Fields>>(variants: Vs): V<Variant<Vs>> {
  const names = Object.keys(variants);
  return withSchema<Variant<Vs>>(
    (node, path, cx) => {
      const n = viewAt(cx, node, path);
      if (n.kind !== "map") {
        cx.report(path, n.line, `expected a mapping with "type" (one of ${names.join(", ")})`, cx.describe(node));
        return undefined;
      }
      const typeEntry = n.entries.find((e) => e.key === "type");
      const typePath = childPath(path, "type");
      if (!typeEntry) {
        cx.report(typePath, n.line, `missing required field "type" (one of ${names.join(", ")})`);
        return undefined;
      }
      const type = str((s) => {
        if (Object.hasOwn(variants, s)) return undefined;
        const near = closest(s, names);
        return `unknown type${near ? ` (did you mean "${near}"?)` : ""}; expected one of ${names.join(", ")}`;
      })(typeEntry.value, typePath, cx);
      if (type === undefined) return undefined;
      const checked = obj({ type: { v: str(), required: true }, ...variants[type] })(node, path, cx);
      // `type` names the variant whose fields were just checked: the Variant<Vs> it declares (the same unchecked step
      // as obj's, checked here).
      return checked as Variant<Vs> | undefined;
    },
    {
      type: "object",
      required: ["type"],
      oneOf: names.map((n) =>
        objectSchema({ type: { v: str(undefined, { const: n }), required: true }, ...variants[n] }),
      ),
    },
  );
}

/** `v`, or null (JSON that writes an empty list or mapping as null, as Docker's image configs do). */
export function nullable<T>(v: V<T>): V<T | null> {
  return withSchema<T | null>(
    (node, path, cx) => {
      const n = cx.view(node);
      return n.kind === "scalar" && n.value === null ? null : v(node, path, cx);
    },
    { anyOf: [v.schema, { type: "null" }] },
  );
}

/** A mapping of string keys to values that pass `value` (labels, environment variables). */
export function dict<T>(value: V<T>, what = "a mapping of names to values"): V<Record<string, T>> {
  return withSchema<Record<string, T>>(
    (node, path, cx) => {
      const n = mapping(cx, node, path, what);
      if (!n) return undefined;
      const out: Record<string, T> = {};
      let ok = !n.badKeys;
      for (const e of n.entries) {
        const v = value(e.value, childPath(path, e.key), cx);
        if (v === undefined) ok = false;
        else Object.defineProperty(out, e.key, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return ok ? out : undefined;
    },
    { type: "object", additionalProperties: value.schema },
  );
}

/** Parsed JSON values as nodes: no lines, every key a string. */
class JsonContext extends SchemaContext {
  view(node: unknown): View {
    if (Array.isArray(node)) return { kind: "list", items: node };
    if (node !== null && typeof node === "object") {
      return { kind: "map", entries: Object.entries(node).map(([key, value]) => ({ key, keyNode: key, value })) };
    }
    return node === undefined ? { kind: "other" } : { kind: "scalar", value: node };
  }

  describe(node: unknown): string {
    if (Array.isArray(node)) return "a list";
    if (node !== null && typeof node === "object") return "a mapping";
    return typeof node === "string" ? truncate(quoteValue(node)) : quoteValue(node);
  }
}

/**
 * `value` (already parsed JSON: a file our own rules wrote) checked against `v`; `file` names it in messages.
 * Throws SchemaError with `code` listing every problem (`FILE: PATH: problem (got VALUE)`).
 */
export function checkJson<T>(value: unknown, file: string, v: V<T>, code: ErrorCode): T {
  const cx = new JsonContext();
  const checked = v(value, "", cx);
  if (cx.issues.length || checked === undefined) throw new SchemaError(file, cx.issues, code);
  return checked;
}
