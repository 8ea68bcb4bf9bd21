/** The step mapped over the shards: one shard of text in, its word counts out (a JSON value). */
export interface Shard {
  id: number;
  text: string;
}

export interface ShardScore {
  id: number;
  words: number;
  longest: string;
}

export function score(shard: Shard): ShardScore {
  if (typeof shard?.text !== "string") throw new Error(`shard ${JSON.stringify(shard)}: expected {id, text}`);
  const words = shard.text.split(/\s+/).filter(Boolean);
  const longest = words.reduce((a, w) => (w.length > a.length ? w : a), "");
  return { id: shard.id, words: words.length, longest };
}
