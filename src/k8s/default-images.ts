/**
 * Images of the init containers, pinned by digest. The digests are those public manifests (Docker Hub
 * `alpine/git:2.45.2`, `ghcr.io/oras-project/oras:v1.2.3`) were pinned to in other public projects; they could not
 * be pulled or checked from the machines this project is developed on. Mirror them into a registry you
 * control and set `initImages:` in the spec (or pass --git-image / --oras-image).
 */
export const DEFAULT_GIT_IMAGE =
  "alpine/git:2.45.2@sha256:16ad8e788e1d3b0c30f18da8dde5c0ace3b187445a62d8af893b003ca1e70592";
export const DEFAULT_ORAS_IMAGE =
  "ghcr.io/oras-project/oras:v1.2.3@sha256:63266a046d1cf5ebebb1461733ed7548148f122e0d422096e177cfa70b521cb1";
