import { installedRecords, isIntact } from "../hub/store.ts";
import sharp from "sharp";
import { freeBytes, nearestExisting } from "../util/disk.ts";
import { version } from "../version.ts";
import { cudaStatus, type CudaStatus } from "./cuda.ts";
import { ortNativeDir, ortVersion } from "./ort.ts";
import { glammHome, runtimeDir } from "./paths.ts";
import { runSelfTest, type SelfTestResult } from "./selftest.ts";
import { choosePrecision } from "../convert/glamm.ts";
import { sharedHomeChecks, type ShareCheck } from "../pipeline/shared-home.ts";

export interface DoctorReport {
  versions: { glamm: string; bun: string; onnxruntime: string; sharp: string; libvips: string };
  executable: { path: string; compiled: boolean };
  paths: { home: string; runtime: string; onnxruntimeLibraries: string };
  providers: { cpu: { available: true }; cuda: CudaStatus };
  models: string[];
  disk: { path: string; freeBytes: number };
  checks: SelfTestResult[];
  /** Whether GLAMM_HOME can be mounted read-only by many tasks: each installed GLaMM model, converted here. */
  share: ShareCheck[];
}

/** The compiled binary runs its code from Bun's embedded file system. */
export const isCompiled = (): boolean => import.meta.path.startsWith("/$bunfs") || import.meta.path.startsWith("B:\\~BUN");


export async function doctor(): Promise<DoctorReport> {
  const home = glammHome();
  const checks = await runSelfTest();
  const ortDir = ortNativeDir();
  const disk = nearestExisting(home);
  return {
    versions: {
      glamm: version,
      bun: Bun.version,
      onnxruntime: ortVersion(),
      sharp: sharp.versions.sharp ?? "unknown",
      libvips: sharp.versions.vips,
    },
    executable: { path: process.execPath, compiled: isCompiled() },
    paths: { home, runtime: runtimeDir(), onnxruntimeLibraries: ortDir },
    providers: { cpu: { available: true }, cuda: cudaStatus(ortDir) },
    models: installedRecords().map((r) => `${r.name}${isIntact(r) ? "" : " (damaged: pull again)"}`),
    disk: { path: disk, freeBytes: freeBytes(disk) },
    checks,
    share: await sharedHomeChecks({ precisions: [choosePrecision("auto", "auto")] }),
  };
}

export const doctorHealthy = (report: DoctorReport): boolean => report.checks.every((c) => c.ok);
