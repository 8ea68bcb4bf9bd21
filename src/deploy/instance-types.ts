/**
 * Gradient machine names (`resources.instanceType` / `machineType`) → what a pod asks Kubernetes for: CPU and
 * memory requests, GPUs, and a preferred node affinity on `node.kubernetes.io/instance-type` = the name (so
 * nodes labelled with Gradient names are preferred, and any node with room still works).
 *
 * docs/deployments.md has the same table ("Instance types"); a test parses it and compares, so edit both.
 * Sizes follow Paperspace Gradient's published machine sizes (vCPU, RAM, GPUs); they are this project's
 * mapping, not read from Paperspace here. Multi-GPU variants are named `<GPU>x<N>` as Gradient names them.
 */
import { closest } from "../closest";

export interface InstanceType {
  /** CPU request (cores). */
  cpu: string;
  /** Memory request and limit. */
  memory: string;
  /** GPUs (`nvidia.com/gpu`). */
  gpu: number;
}

const cpuMachine = (cpu: number, memGi: number): InstanceType => ({ cpu: String(cpu), memory: `${memGi}Gi`, gpu: 0 });

function gpuMachines(name: string, cpu: number, memGi: number, counts: number[]): Record<string, InstanceType> {
  const out: Record<string, InstanceType> = { [name]: { cpu: String(cpu), memory: `${memGi}Gi`, gpu: 1 } };
  for (const n of counts) out[`${name}x${n}`] = { cpu: String(cpu * n), memory: `${memGi * n}Gi`, gpu: n };
  return out;
}

export const INSTANCE_TYPES: Readonly<Record<string, InstanceType>> = {
  C3: cpuMachine(2, 2),
  C4: cpuMachine(2, 4),
  C5: cpuMachine(4, 8),
  C6: cpuMachine(8, 16),
  C7: cpuMachine(12, 30),
  C8: cpuMachine(16, 60),
  C9: cpuMachine(24, 120),
  C10: cpuMachine(32, 240),
  ...gpuMachines("P4000", 8, 30, [2, 4]),
  ...gpuMachines("P5000", 8, 30, [2, 4]),
  ...gpuMachines("P6000", 8, 30, [2, 4]),
  ...gpuMachines("V100", 8, 30, []),
  ...gpuMachines("V100-32G", 8, 30, [2, 4]),
  ...gpuMachines("A4000", 8, 45, [2, 4]),
  ...gpuMachines("A5000", 8, 45, [2, 4]),
  ...gpuMachines("A6000", 8, 45, [2, 4]),
  ...gpuMachines("A100", 12, 90, []),
  ...gpuMachines("A100-80G", 12, 90, [2, 4, 8]),
};

/** Why `name` is not a known machine name (with the closest one), or undefined. */
export function instanceTypeProblem(name: string): string | undefined {
  if (Object.hasOwn(INSTANCE_TYPES, name)) return undefined;
  const names = Object.keys(INSTANCE_TYPES);
  const near = closest(name, names);
  return `unknown machine type${near ? ` (did you mean "${near}"?)` : ""}; known: ${names.join(", ")} (see docs/deployments.md, "Instance types")`;
}
