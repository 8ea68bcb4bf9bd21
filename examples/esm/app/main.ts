// An ES module launch script: top-level await, import.meta, a ts_library by module name, an ES-module-only npm
// package (p-limit: its types only in `exports`) and the runtime library's named exports.
import { double } from "@acme/lib";
import { hasContainerImage } from "@rules_pipeline/runtime";
import pLimit from "p-limit";
import { label } from "./label.js";

const limit = pLimit(1);
const value = await limit(async () => double(21));
const url: string = import.meta.url;
console.log(`${label}: ${value} from ${url.startsWith("file:") ? "an ES module" : url} image=${hasContainerImage()}`);
