/** `n`/`last` pagination of a sorted listing (tags, the catalog, referrers), with the `Link` header naming the next page. */
import { ErrorAnswer } from "./error-answer";

/**
 * Applies `n` and `last` to a sorted list; `link` is set when more items follow the page. `path` may carry a query
 * of its own (`?artifactType=...`), which the link keeps.
 */
export function paginate(items: string[], params: URLSearchParams, path: string): { page: string[]; link?: string } {
  const last = params.get("last");
  const nParam = params.get("n");
  let rest = last !== null && last !== "" ? items.filter((t) => t > last) : items;
  if (nParam === null || nParam === "") return { page: rest };
  if (!/^\d+$/.test(nParam))
    throw new ErrorAnswer(400, "UNSUPPORTED", `n must be a non-negative integer, got ${JSON.stringify(nParam)}`);
  const n = Number(nParam);
  if (n === 0) return { page: [] };
  const page = rest.slice(0, n);
  rest = rest.slice(n);
  if (rest.length === 0) return { page };
  return {
    page,
    link: `<${path}${path.includes("?") ? "&" : "?"}n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"`,
  };
}
