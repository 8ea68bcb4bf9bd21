/**
 * Where the local runner keeps things between runs: the cache root and its directories, defined once in
 * src/cache/layout.ts (so `pipeline cache du/prune` and every writer agree) and re-exported here for src/container.
 */
export {
  cacheRoot,
  codeDir,
  datasetsDir,
  imagesDir,
  lockfileBuildsDir,
  lockfileDir,
  modelsDir,
  rootfsDir,
  runsDir,
} from "../cache/layout";
