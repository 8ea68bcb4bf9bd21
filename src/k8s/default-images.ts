/** Images of the init containers (placeholders: mirror them to a registry you control and pass --git-image/--oras-image). */
export const DEFAULT_GIT_IMAGE = "alpine/git:2.45.2";
export const DEFAULT_ORAS_IMAGE = "ghcr.io/oras-project/oras:v1.2.0";
