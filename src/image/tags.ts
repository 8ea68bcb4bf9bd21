/** The tags of a pipeline's images: the main image (named "default") gets the tags asked for, the others `<tag>-<name>`. */

/** Tags of image `name`: the main image gets `tags`, the others `<tag>-<name>`. */
export function tagsFor(name: string, tags: string[], isMain: boolean): string[] {
  return isMain ? tags : tags.map((t) => `${t}-${name}`);
}
