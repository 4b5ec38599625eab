import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { runtimeError, usageError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";
import { cudaStatus, type CudaStatus } from "./cuda.ts";
import { returnFreedMemory } from "./malloc.ts";
import { extractedBundleDir } from "./native.ts";

export { ort };

returnFreedMemory();

// onnxruntime logs provider failures natively on stderr, colours and all; glamm reports them itself as one line.
ort.env.logLevel = process.env.GLAMM_DEBUG === "1" ? "warning" : "fatal";
export type Device = "auto" | "cpu" | "cuda";
export const devices: Device[] = ["auto", "cpu", "cuda"];

export function parseDevice(value: string | undefined): Device {
  const source = value !== undefined ? "--device" : process.env.GLAMM_DEVICE !== undefined ? "GLAMM_DEVICE" : undefined;
  const raw = value ?? process.env.GLAMM_DEVICE ?? "auto";
  const device = raw.trim().toLowerCase() as Device;
  if (!devices.includes(device)) throw usageError(`${source}=${raw} is not a device (expected ${devices.join(", ")})`);
  return device;
}

/** Folder holding libonnxruntime.so: extracted from the binary when compiled, else inside node_modules. */
export function ortNativeDir(): string {
  const extracted = extractedBundleDir("onnxruntime");
  if (extracted) return extracted;
  const pkg = createRequire(import.meta.url).resolve("onnxruntime-node/package.json");
  return join(dirname(pkg), "bin/napi-v6", process.platform, process.arch);
}

export const ortVersion = (): string => ort.env.versions.common;

const fallbackReasons = new Set<string>();

/** Said once per process and reason, not once per model loaded. */
function cpuFallbackNotice(reason: string): void {
  if (fallbackReasons.has(reason)) return;
  fallbackReasons.add(reason);
  notice(`running on CPU (${reason}; --device cpu silences this)`);
}

/** The execution providers to ask for, CUDA first when it can run here. */
export function chooseProviders(device: Device, known?: CudaStatus): ("cuda" | "cpu")[] {
  if (device === "cpu") return ["cpu"];
  const status = known ?? cudaStatus(ortNativeDir());
  if (status.available) return ["cuda", "cpu"];
  if (device === "cuda") throw runtimeError(`CUDA requested but unavailable: ${status.missing.join("; ")}`);
  cpuFallbackNotice(`CUDA unavailable: ${status.missing[0]}`);
  return ["cpu"];
}

export interface SessionOptions {
  device?: Device;
  threads?: number;
  /** What is known about CUDA here (default: probed); tests pass a made-up status to exercise the fallback. */
  cuda?: CudaStatus;
  /** Write onnxruntime's per-node profile (JSON) to files starting with this path, ended by session.endProfiling(). */
  profilePrefix?: string;
}

/** Creates an inference session on the best available device, falling back to CPU when CUDA fails to start. */
export async function createSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const device = options.device ?? "auto";
  const providers = chooseProviders(device, options.cuda);
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    // Without the CPU arena and memory patterns freed activations go back to the system: SAM ViT-H's 1 GB attention
    // maps otherwise leave the process at twice the live peak (7.0 vs 3.5 GB on 8 blocks), and it runs no slower.
    enableCpuMemArena: false,
    enableMemPattern: false,
    // Idle intra-op threads sleep instead of spinning: on a shared or busy CPU spinning threads take the time slices the
    // working ones need (600-token prefill 8-28% and decode 15-70% faster here at load 8-11 on 2 cores).
    extra: { session: { "intra_op.allow_spinning": "0" } },
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
  };
  const create = (executionProviders: ("cuda" | "cpu")[]) =>
    typeof model === "string"
      ? ort.InferenceSession.create(model, { ...base, executionProviders })
      : ort.InferenceSession.create(model, { ...base, executionProviders });
  try {
    return await create(providers);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    if (providers[0] === "cuda" && device === "auto") {
      cpuFallbackNotice(`CUDA failed to start: ${reason}`);
      return create(["cpu"]);
    }
    throw runtimeError(`cannot load model${typeof model === "string" ? ` ${model}` : ""}: ${reason}`);
  }
}
