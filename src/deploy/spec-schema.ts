/**
 * The YAML layer of the schema validators (src/schema/validators.ts): a SchemaContext over YAML nodes (the `yaml`
 * package's AST), so every problem in a deployment spec can name the YAML path, the line and the value as written.
 */
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
} from "yaml";
import { quoteValue } from "../errors";
import { SchemaContext, truncate, type View } from "../schema/validators";

/** A YAML node or nothing (an absent key). */
export type YNode = Node | null | undefined;

export class SpecContext extends SchemaContext {
  constructor(
    readonly text: string,
    readonly lineCounter: LineCounter,
    readonly doc: Document,
  ) {
    super();
  }

  /** The node an alias points at; anything else as is (a value that is no YAML node: nothing). */
  deref(node: unknown): YNode {
    let n: YNode = isNode(node) ? node : undefined;
    for (let i = 0; i < 32 && isAlias(n); i++) {
      const target: unknown = n.resolve(this.doc);
      if (!isNode(target)) return n; // an alias to no anchor: kept, so messages can say so and give its line
      n = target;
    }
    return n;
  }

  lineOf(node: YNode | Pair): number | undefined {
    const key = isPair(node) ? node.key : undefined;
    const range = isPair(node) ? (isNode(key) ? key.range : undefined) : node?.range;
    return range ? this.lineAt(range[0]) : undefined;
  }

  lineAt(offset: number): number {
    return this.lineCounter.linePos(offset).line;
  }

  view(node: unknown): View {
    const n = this.deref(node);
    const line = this.lineOf(n);
    if (isMap(n)) {
      return {
        kind: "map",
        line,
        entries: n.items.map((pair) => {
          const keyNode = this.deref(pair.key);
          const key = isScalar(keyNode) && typeof keyNode.value === "string" ? keyNode.value : undefined;
          return { key, keyNode, line: this.lineOf(pair), value: pair.value };
        }),
      };
    }
    if (isSeq(n)) return { kind: "list", line, items: n.items };
    if (isScalar(n))
      return {
        kind: "scalar",
        line,
        value: n.value,
        source: n.range ? this.text.slice(n.range[0], n.range[1]).trim() : undefined,
      };
    return { kind: "other", line };
  }

  /** The value as written, for `(got ...)`. */
  describe(node: unknown): string {
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
