/**
 * The local container runner: images pulled by digest into a cache, unpacked safely, run with runc (or podman
 * / docker), one or more replicas, logs streamed, exit code returned. See container.ts (runContainer),
 * deployment.ts (runDeployment), and the modules they name for each concern.
 */
export { runContainer, runPrepared } from "./container";
export type { BindMount, ContainerRunOptions, RunContainerOptions } from "./container";
export { runDeployment, CODE_MOUNT_ROOT } from "./deployment";
export type { RunDeploymentOptions } from "./deployment";
export { prepareImage, parseOciImage } from "./image-cache";
export type { PreparedImage } from "./image-cache";
export { cacheRoot } from "./paths";
export { chooseRuntime, RUNTIMES } from "./runtime";
export type { RuntimeChoice, RuntimeName } from "./runtime";
export type { RootfsMode } from "./rootfs";
