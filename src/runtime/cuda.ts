import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Files the onnxruntime CUDA execution provider adds beside libonnxruntime.so (fetched by `glamm runtime install cuda`). */
export const cudaProviderFiles = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];

/** CUDA 12 / cuDNN 9 libraries the CUDA provider of onnxruntime 1.30 links against. */
const cudaLibraries = [
  "libcuda.so.1",
  "libcudart.so.12",
  "libcublas.so.12",
  "libcublasLt.so.12",
  "libcufft.so.11",
  "libcudnn.so.9",
];

export interface CudaStatus {
  available: boolean;
  /** Why CUDA cannot be used; empty when available. */
  missing: string[];
  gpus: string[];
}

function nvidiaGpus(): string[] {
  const dir = "/proc/driver/nvidia/gpus";
  if (!existsSync(dir)) return [];
  return readdirSync(dir);
}

/** Shared libraries the dynamic loader can find: ldconfig's cache plus LD_LIBRARY_PATH. */
function loadableLibraries(env: NodeJS.ProcessEnv): Set<string> {
  const found = new Set<string>();
  for (const ldconfig of ["/sbin/ldconfig", "/usr/sbin/ldconfig"]) {
    if (!existsSync(ldconfig)) continue;
    const listing = spawnSync(ldconfig, ["-p"], { encoding: "utf8" }).stdout ?? "";
    for (const match of listing.matchAll(/^\s+(\S+)\s/gm)) found.add(match[1]);
    break;
  }
  for (const dir of (env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean)) {
    if (existsSync(dir)) for (const file of readdirSync(dir)) found.add(file);
  }
  return found;
}

/** Whether the CUDA provider can run here, and if not, every reason why. */
export function cudaStatus(ortDir: string, env: NodeJS.ProcessEnv = process.env): CudaStatus {
  const missing: string[] = [];
  const gpus = nvidiaGpus();
  if (gpus.length === 0) missing.push("no NVIDIA GPU or driver found (/proc/driver/nvidia/gpus is empty or absent)");
  const absentProvider = cudaProviderFiles.filter((f) => !existsSync(join(ortDir, f)));
  if (absentProvider.length > 0) missing.push("CUDA provider not installed (run `glamm runtime install cuda`)");
  const libs = loadableLibraries(env);
  const absentLibs = cudaLibraries.filter((lib) => !libs.has(lib));
  if (absentLibs.length > 0) missing.push(`CUDA libraries not found: ${absentLibs.join(", ")}`);
  return { available: missing.length === 0, missing, gpus };
}
