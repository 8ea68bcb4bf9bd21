/**
 * The user a container runs as, worked out the way runc/containerd/Docker do from the image config's `User`
 * and the image's own /etc/passwd and /etc/group: "" is root; "name" and "uid" are looked up in /etc/passwd
 * (a name must be there, a bare uid need not); "user:group" takes the group from /etc/group or as a number.
 */

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface ImageUser {
  uid: number;
  gid: number;
  /** Home directory from /etc/passwd, when the user is listed there. */
  home?: string;
  /** The name, when known. */
  name?: string;
}

export type UserResolution = { ok: true; user: ImageUser } | { ok: false; problem: string };

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

export function parseGroup(text: string): { name: string; gid: number }[] {
  const out: { name: string; gid: number }[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]) });
  }
  return out;
}

/** `user` is the config's User; passwd/group the image's files (undefined when the image has none). */
export function resolveImageUser(
  user: string | undefined,
  passwd: string | undefined,
  group: string | undefined,
): UserResolution {
  const users = passwd === undefined ? [] : parsePasswd(passwd);
  const raw = user ?? "";
  const [u, g] = raw.includes(":")
    ? [raw.slice(0, raw.indexOf(":")), raw.slice(raw.indexOf(":") + 1)]
    : [raw, undefined];
  let resolved: ImageUser;
  if (u === "") {
    const root = users.find((e) => e.uid === 0);
    resolved = { uid: 0, gid: 0, home: root?.home, name: root?.name ?? "root" };
  } else if (/^\d+$/.test(u)) {
    const found = users.find((e) => e.uid === Number(u));
    // runc: a uid not in /etc/passwd runs with gid 0 and no home
    resolved = found
      ? { uid: found.uid, gid: found.gid, home: found.home, name: found.name }
      : { uid: Number(u), gid: 0 };
  } else {
    const found = users.find((e) => e.name === u);
    if (!found) {
      return {
        ok: false,
        problem:
          passwd === undefined
            ? `User ${JSON.stringify(raw)} is a name but the image has no /etc/passwd`
            : `User ${JSON.stringify(raw)}: no user ${JSON.stringify(u)} in /etc/passwd`,
      };
    }
    resolved = { uid: found.uid, gid: found.gid, home: found.home, name: found.name };
  }
  if (g !== undefined && g !== "") {
    if (/^\d+$/.test(g)) resolved.gid = Number(g);
    else {
      const grp = (group === undefined ? [] : parseGroup(group)).find((e) => e.name === g);
      if (!grp)
        return { ok: false, problem: `User ${JSON.stringify(raw)}: no group ${JSON.stringify(g)} in /etc/group` };
      resolved.gid = grp.gid;
    }
  }
  return { ok: true, user: resolved };
}

/** Whether `user` may do `bits` (4 read, 2 write, 1 execute) on an entry with this mode and owner. Root may do anything but execute a file with no x bit. */
export function permits(
  user: { uid: number; gid: number },
  entry: { mode: number; uid: number; gid: number },
  bits: number,
  isDir = false,
): boolean {
  if (user.uid === 0) return bits !== 1 || isDir || (entry.mode & 0o111) !== 0;
  if (entry.uid === user.uid) return ((entry.mode >> 6) & bits) === bits;
  if (entry.gid === user.gid) return ((entry.mode >> 3) & bits) === bits;
  return (entry.mode & bits) === bits;
}
