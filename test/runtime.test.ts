import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../src/cli/errors.ts";
import { cudaStatus } from "../src/runtime/cuda.ts";
import { installCudaProvider } from "../src/runtime/cuda-install.ts";
import { chooseProviders, createSession, ort, ortNativeDir, ortVersion } from "../src/runtime/ort.ts";
import { buildSelfTestModel, selfTestExpected, selfTestInput } from "../src/runtime/selftest-model.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { startHubServer, type HubServer } from "./helpers/http-server.ts";

const nupkg = new Uint8Array(readFileSync(join(import.meta.dir, "fixtures/runtime/fake-gpu.nupkg")));
const providerText = (name: string) => `fake ${name}\n`.repeat(200);
const packageId = "microsoft.ml.onnxruntime.gpu.linux";

let server: HubServer;
let work: string;
const savedHome = process.env.GLAMM_HOME;

function publish(hash: string): string {
  const endpoint = `${server.url}/files/nuget`;
  const version = ortVersion();
  const catalogUrl = `${endpoint}/catalog/${packageId}.${version}.json`;
  const leaf = { catalogEntry: catalogUrl, packageContent: `${endpoint}/flat/${packageId}.${version}.nupkg` };
  const catalog = { packageHash: hash, packageHashAlgorithm: "SHA512" };
  server.addFile(`nuget/registration5-semver1/${packageId}/${version}.json`, new TextEncoder().encode(JSON.stringify(leaf)));
  server.addFile(`nuget/catalog/${packageId}.${version}.json`, new TextEncoder().encode(JSON.stringify(catalog)));
  server.addFile(`nuget/flat/${packageId}.${version}.nupkg`, nupkg);
  return endpoint;
}

beforeAll(() => {
  server = startHubServer();
  work = mkdtempSync(join(tmpdir(), "glamm-runtime-"));
  process.env.GLAMM_HOME = join(work, "home");
});

afterAll(() => {
  server.close();
  rmSync(work, { recursive: true, force: true });
  if (savedHome === undefined) delete process.env.GLAMM_HOME;
  else process.env.GLAMM_HOME = savedHome;
});

describe("glamm runtime install cuda", () => {
  test("downloads the NuGet package, checks its SHA-512 and installs the provider libraries", async () => {
    const endpoint = publish(createHash("sha512").update(nupkg).digest("base64"));
    const dir = join(work, "ort-ok");
    const result = await installCudaProvider({ endpoint, dir });
    expect(result.files.sort()).toEqual(["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"]);
    for (const name of result.files) expect(readFileSync(join(dir, name), "utf8")).toBe(providerText(name));
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
  });

  test("refuses a package whose SHA-512 differs from the catalog and keeps nothing", async () => {
    const endpoint = publish(createHash("sha512").update("something else").digest("base64"));
    const dir = join(work, "ort-bad");
    await expectGlammError(installCudaProvider({ endpoint, dir }), /checksum mismatch/, ExitCode.runtime);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(join(work, "home", "downloads")).filter((f) => f.endsWith(".nupkg"))).toEqual([]);
  });

  test("installs from a local package with --from", async () => {
    const from = join(import.meta.dir, "fixtures/runtime/fake-gpu.nupkg");
    const dir = join(work, "ort-from");
    const result = await installCudaProvider({ from, dir });
    expect(result.files).toHaveLength(2);
  });

  test("names the unreachable host in one line", async () => {
    await expectGlammError(installCudaProvider({ endpoint: "http://127.0.0.1:1/v3", dir: join(work, "x") }), /127\.0\.0\.1:1/, ExitCode.runtime);
  });
});

describe("execution provider choice", () => {
  const noCuda = { available: false, missing: ["no NVIDIA GPU or driver found"], gpus: [] };

  test("this machine's CUDA status is explained", () => {
    const status = cudaStatus(ortNativeDir());
    if (status.available) return; // a GPU machine with the provider installed: nothing to explain
    expect(status.missing.length).toBeGreaterThan(0);
    expect(status.missing.join(" ")).toMatch(/GPU|provider|libraries/);
  });

  test("cpu never asks for CUDA; auto without CUDA runs on CPU; cuda without CUDA is an error with the reason", () => {
    expect(chooseProviders("cpu")).toEqual(["cpu"]);
    const stderr = spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(chooseProviders("auto", noCuda)).toEqual(["cpu"]);
    } finally {
      stderr.mockRestore();
    }
    expect(() => chooseProviders("cuda", noCuda)).toThrow(/CUDA requested but unavailable: no NVIDIA GPU/);
  });

  test("when CUDA looks available but fails to start, auto falls back to CPU with a notice", async () => {
    const pretend = { available: true, missing: [], gpus: ["0000:00:00.0"] };
    const lines: string[] = [];
    const stderr = spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let session: ort.InferenceSession;
    try {
      session = await createSession(buildSelfTestModel(), { device: "auto", cuda: pretend });
    } finally {
      stderr.mockRestore();
    }
    const input = selfTestInput();
    const out = await session.run({ x: new ort.Tensor("float32", input.data, input.dims) });
    expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from(selfTestExpected(input.data)));
    if (!existsSync(join(ortNativeDir(), "libonnxruntime_providers_cuda.so"))) {
      expect(lines.join("")).toMatch(/running on CPU \(CUDA failed to start/);
    }
  });
});
