/**
 * Parses `WWW-Authenticate` headers (RFC 9110 §11.6.1): one or more challenges, each a case-insensitive
 * scheme followed by a token68 or comma-separated `name=value` parameters (token or quoted-string, with
 * backslash escapes). Several headers, or challenges joined by ", ", parse into a list.
 */

export interface Challenge {
  /** Lower-case scheme: "basic", "bearer", ... */
  scheme: string;
  /** Parameters with lower-case names (realm, service, scope, error...). */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? "";
  }
  skipSpace(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }
  skipSpaceAndCommas(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.pos++;
  }
  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }
  quoted(): string {
    // Caller checked peek() === '"'.
    this.pos++;
    let out = "";
    while (!this.done) {
      const c = this.s[this.pos++];
      if (c === "\\" && !this.done) out += this.s[this.pos++];
      else if (c === '"') return out;
      else out += c;
    }
    return out; // unterminated: be lenient, take the rest
  }
  /** True when a `name =` parameter starts here (as opposed to the next challenge's scheme). */
  atParam(): boolean {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*=/.exec(this.s.slice(this.pos));
    if (!m) return false;
    // "abc==" or "abc=" followed by a comma/end is a token68, not a parameter.
    const after = this.s.slice(this.pos + m[0].length);
    return !/^=*[ \t]*(,|$)/.test(after) || /^[ \t]*""/.test(after);
  }
}

function parseOne(header: string, out: Challenge[]): void {
  const sc = new Scanner(header);
  for (;;) {
    sc.skipSpaceAndCommas();
    if (sc.done) return;
    const scheme = sc.token();
    if (!scheme) {
      // Garbage: skip to the next comma and try again.
      while (!sc.done && sc.peek() !== ",") sc.pos++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    sc.skipSpace();
    if (sc.done) return;
    if (sc.peek() === ",") continue;
    if (!sc.atParam()) {
      const m = TOKEN68.exec(sc.s.slice(sc.pos));
      if (m) {
        challenge.token68 = m[0];
        sc.pos += m[0].length;
      }
      continue;
    }
    // Parameters until one that is not `name=value` (the next challenge) or the end.
    for (;;) {
      sc.skipSpace();
      const name = sc.token().toLowerCase();
      sc.skipSpace();
      sc.pos++; // "="
      sc.skipSpace();
      const value = sc.peek() === '"' ? sc.quoted() : sc.token();
      if (!(name in challenge.params)) challenge.params[name] = value;
      sc.skipSpace();
      if (sc.done) return;
      if (sc.peek() !== ",") {
        // Malformed trailing text: skip to the next comma.
        while (!sc.done && sc.peek() !== ",") sc.pos++;
      }
      sc.skipSpaceAndCommas();
      if (sc.done) return;
      if (!sc.atParam()) break;
    }
  }
}

/** All challenges in one or several WWW-Authenticate header values. */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (header === undefined) return out;
  for (const h of typeof header === "string" ? [header] : header) parseOne(h, out);
  return out;
}

/** The challenge a registry client should answer: Bearer first, then Basic; undefined if neither. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return (
    challenges.find((c) => c.scheme === "bearer" && c.params.realm) ?? challenges.find((c) => c.scheme === "basic")
  );
}
