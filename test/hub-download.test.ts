import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, type DownloadProgress } from "../src/hub/download.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { pseudoRandomBytes, sha256Hex, startHubServer, type HubServer } from "./helpers/http-server.ts";

let server: HubServer;
let dir: string;
const body = pseudoRandomBytes(300_000, 7);
const bodySha = sha256Hex(body);

beforeAll(() => {
  server = startHubServer();
  server.addFile("weights.bin", body);
  dir = mkdtempSync(join(tmpdir(), "glamm-download-"));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const fresh = (name: string) => join(dir, name);
const requestsFor = (path: string) => server.requests.filter((r) => r.path === path);

describe("downloadFile", () => {
  test("downloads, verifies and renames into place, reporting progress", async () => {
    const dest = fresh("clean.bin");
    const seen: DownloadProgress[] = [];
    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha, expectedSize: body.length, onProgress: (p) => seen.push(p) });
    expect(result).toEqual({ path: dest, sha256: bodySha, size: body.length });
    expect(sha256Hex(readFileSync(dest))).toBe(bodySha);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(seen.at(-1)?.received).toBe(body.length);
    expect(seen.at(-1)?.total).toBe(body.length);
  });

  test("resumes a cut connection with a Range request", async () => {
    const dest = fresh("resume.bin");
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "cut", afterBytes: 100_000 } });
    const before = requestsFor("/files/weights.bin").length;
    await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha }), /closed after .*run again to resume/);
    expect(existsSync(dest)).toBe(false);
    const partSize = statSync(`${dest}.part`).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(body.length);

    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha });
    const requests = requestsFor("/files/weights.bin").slice(before);
    expect(requests.map((r) => r.range)).toEqual([null, `bytes=${partSize}-`]);
    expect(result.sha256).toBe(bodySha);
    expect(sha256Hex(readFileSync(dest))).toBe(bodySha);
  });

  test("a body that ends early is kept for resuming when the size is known", async () => {
    const dest = fresh("short.bin");
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "short", afterBytes: 70_000 } });
    await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSize: body.length }), /closed after 70000 of 300000 bytes/);
    expect(statSync(`${dest}.part`).size).toBe(70_000);
    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSize: body.length, expectedSha256: bodySha });
    expect(result.sha256).toBe(bodySha);
  });

  test("restarts from zero when the server ignores Range", async () => {
    const dest = fresh("ignore-range.bin");
    writeFileSync(`${dest}.part`, body.subarray(0, 5000));
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "ignore-range" } });
    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha });
    expect(result.size).toBe(body.length);
    expect(sha256Hex(readFileSync(dest))).toBe(bodySha);
  });

  test("a part as long as the file is verified without a transfer", async () => {
    const dest = fresh("complete-part.bin");
    writeFileSync(`${dest}.part`, body);
    const before = server.requests.length;
    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha, expectedSize: body.length });
    expect(result.sha256).toBe(bodySha);
    expect(server.requests.length).toBe(before);
  });

  test("wrong content fails the checksum and leaves no file", async () => {
    const dest = fresh("corrupt.bin");
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "corrupt" } });
    const error = await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha }), /checksum mismatch/);
    expect(error.exitCode).toBe(3);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  test("404 names the URL", async () => {
    const url = `${server.url}/files/missing.bin`;
    await expectGlammError(downloadFile({ url, dest: fresh("missing.bin") }), new RegExp(`404.*${url.replace(/[.]/g, "\\.")}`));
  });

  test("401 suggests HF_TOKEN", async () => {
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "status", status: 401 } });
    await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest: fresh("denied.bin") }), /HTTP 401.*HF_TOKEN/);
  });

  test("a stalled server times out and keeps the part", async () => {
    const dest = fresh("stall.bin");
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "stall", afterBytes: 50_000 } });
    const started = performance.now();
    await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest, stallTimeoutMs: 300 }), /stalled.*127\.0\.0\.1/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(statSync(`${dest}.part`).size).toBe(50_000);
    expect(existsSync(dest)).toBe(false);
  });

  test("a full disk gives a clear error and a resumable part", async () => {
    const dest = fresh("full.bin");
    const capacity = 100_000;
    let written = 0;
    const writeChunk = (fd: number, chunk: Uint8Array) => {
      const room = Math.min(capacity - written, chunk.byteLength);
      written += writeSync(fd, chunk, 0, room);
      if (room < chunk.byteLength) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    await expectGlammError(downloadFile({ url: `${server.url}/files/weights.bin`, dest, writeChunk }), /no space left.*run again to resume/);
    expect(existsSync(dest)).toBe(false);
    expect(statSync(`${dest}.part`).size).toBe(capacity);
    const result = await downloadFile({ url: `${server.url}/files/weights.bin`, dest, expectedSha256: bodySha });
    expect(result.sha256).toBe(bodySha);
  });

  test("an abort signal leaves a resumable part, never a complete-looking file", async () => {
    const dest = fresh("abort.bin");
    const controller = new AbortController();
    server.faults.push({ pathIncludes: "/files/weights.bin", fault: { kind: "stall", afterBytes: 20_000 } });
    const promise = downloadFile({ url: `${server.url}/files/weights.bin`, dest, signal: controller.signal, onProgress: () => controller.abort() });
    await expectGlammError(promise, /interrupted.*resume/);
    expect(existsSync(dest)).toBe(false);
    expect(statSync(`${dest}.part`).size).toBeGreaterThan(0);
  });

  test("connection refused names the host and the ways around it", async () => {
    const started = performance.now();
    await expectGlammError(downloadFile({ url: "http://127.0.0.1:1/x.bin", dest: fresh("refused.bin") }), /127\.0\.0\.1:1.*HF_ENDPOINT.*--from DIR/);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
