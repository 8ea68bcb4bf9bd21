export { double } from "./math.js";
