import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runtimeError } from "../cli/errors.ts";
import { writeFileAtomic } from "../output/atomic.ts";
import { downloadFile, type DownloadProgress } from "../hub/download.ts";
import { RandomAccessFile } from "../weights/file.ts";
import { ZipArchive } from "../weights/zip.ts";
import { cudaProviderFiles } from "./cuda.ts";
import { ortNativeDir, ortVersion } from "./ort.ts";
import { glammHome } from "./paths.ts";

/** The NuGet package onnxruntime-node's own installer takes the Linux CUDA 12 provider from. */
const packageId = "microsoft.ml.onnxruntime.gpu.linux";
const defaultEndpoint = "https://api.nuget.org/v3";
/** The CUDA provider library is about 0.5 GB; anything far larger is not what we asked for. */
const maxLibraryBytes = 2 ** 31 - 1;
const hint = "set GLAMM_NUGET_ENDPOINT to a reachable NuGet v3 mirror, or pass --from FILE.nupkg";

export interface CudaInstallOptions {
  /** A .nupkg already on disk (offline machines); skips the network. */
  from?: string;
  endpoint?: string;
  /** Where the libraries go (default: beside libonnxruntime.so, where onnxruntime looks for providers). */
  dir?: string;
  onProgress?(progress: DownloadProgress): void;
  signal?: AbortSignal;
}

async function fetchJson(url: string): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch {
    throw runtimeError(`cannot reach ${new URL(url).host} for the CUDA provider; ${hint}`);
  }
  if (!response.ok) throw runtimeError(`HTTP ${response.status} from ${url}; ${hint}`);
  return (await response.json()) as Record<string, unknown>;
}

async function sha512Base64(path: string): Promise<string> {
  const hash = createHash("sha512");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("base64");
}

/** Downloads the package named by the NuGet registration for this onnxruntime version and checks its SHA-512. */
async function downloadPackage(options: CudaInstallOptions): Promise<string> {
  const endpoint = (options.endpoint ?? process.env.GLAMM_NUGET_ENDPOINT ?? defaultEndpoint).replace(/\/$/, "");
  const version = ortVersion();
  const leaf = await fetchJson(`${endpoint}/registration5-semver1/${packageId}/${version}.json`);
  const catalog = await fetchJson(String(leaf.catalogEntry));
  if (catalog.packageHashAlgorithm !== "SHA512" || typeof catalog.packageHash !== "string") {
    throw runtimeError(`the NuGet catalog entry for ${packageId} ${version} carries no SHA512 package hash`);
  }
  const dest = join(glammHome(), "downloads", `${packageId}.${version}.nupkg`);
  await downloadFile({ url: String(leaf.packageContent), dest, onProgress: options.onProgress, signal: options.signal });
  if ((await sha512Base64(dest)) !== catalog.packageHash) {
    rmSync(dest, { force: true });
    throw runtimeError(`checksum mismatch for ${packageId} ${version} (SHA-512 differs from the NuGet catalog); removed it`);
  }
  return dest;
}

/**
 * Puts the CUDA provider libraries beside libonnxruntime.so, where onnxruntime looks for them. An explicit opt-in:
 * a plain install never downloads them.
 */
export async function installCudaProvider(options: CudaInstallOptions = {}): Promise<{ dir: string; files: string[] }> {
  if (options.from && !existsSync(options.from)) throw runtimeError(`no such package file: ${options.from}`);
  const nupkg = options.from ?? (await downloadPackage(options));
  const dir = options.dir ?? ortNativeDir();
  mkdirSync(dir, { recursive: true });
  const file = RandomAccessFile.open(nupkg);
  try {
    const zip = ZipArchive.read(file);
    const wanted = [...cudaProviderFiles, "libonnxruntime_providers_tensorrt.so"];
    const installed: string[] = [];
    for (const name of wanted) {
      const entry = `runtimes/linux-x64/native/${name}`;
      if (!zip.entries.has(entry)) {
        if (cudaProviderFiles.includes(name)) throw runtimeError(`${nupkg} holds no ${entry}; is it ${packageId}?`);
        continue;
      }
      writeFileAtomic(join(dir, name), zip.readEntry(entry, maxLibraryBytes));
      installed.push(name);
    }
    return { dir, files: installed };
  } finally {
    file.close();
  }
}
