/**
 * Bounded concurrency for I/O (blob uploads, blob writes, registry checks): the one forEachLimited, which lives in the
 * runtime library (src/runtime/in-flight.ts) because the map's code inside images needs it too.
 */
export { forEachLimited } from "./runtime/in-flight";
