import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hubConfig } from "../src/hub/hf.ts";
import { pullModel, readInstallRecord } from "../src/hub/store.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { useLoopbackHub } from "./helpers/loopback-hub.ts";
import { fakeCheckpoint, hubEtag, sha256Hex, writeCachedSnapshot, type FakeRepo } from "./helpers/http-server.ts";

const { glamm, clip } = fakeCheckpoint();
const privateRepo: FakeRepo = { ...fakeCheckpoint("acme/private-glamm").glamm, token: "hf_secret" };
const brokenRepo = fakeCheckpoint("MBZUAI/GLaMM-RefSeg").glamm;
delete brokenRepo.files["pytorch_model-00002-of-00002.bin"];

const hub = useLoopbackHub([glamm, clip, privateRepo, brokenRepo], "glamm-pull-");
const { freshEnv } = hub;

const bytesOf = (content: Uint8Array | Blob) => content as Uint8Array;
const requestsSince = (start: number) => hub.server.requests.slice(start);

/** The huggingface_hub layout; a repo pulled at a branch (not a pinned commit) also has refs/main. */
function expectHubCacheLayout(env: Record<string, string>, repo: FakeRepo, branch: string | false = "main"): void {
  const repoDir = join(env.HF_HOME, "hub", `models--${repo.id.replace("/", "--")}`);
  if (branch) expect(readFileSync(join(repoDir, "refs", branch), "utf8")).toBe(repo.commit);
  for (const [file, content] of Object.entries(repo.files)) {
    const pointer = join(repoDir, "snapshots", repo.commit, file);
    expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
    expect(readlinkSync(pointer)).toBe(`../../blobs/${hubEtag(bytesOf(content))}`);
    expect(sha256Hex(readFileSync(pointer))).toBe(sha256Hex(bytesOf(content)));
  }
}

describe("glamm pull from the Hub", () => {
  test("pulls a manifest model and the vision tower its config names, in the huggingface_hub cache layout", async () => {
    const env = freshEnv();
    const results = await pullModel("glamm-gcg", { env });
    expect(results.map((r) => [r.record.name, r.record.repo, r.record.commit, r.upToDate])).toEqual([
      ["glamm-gcg", glamm.id, glamm.commit, false],
      ["clip-vit-large-patch14-336", clip.id, clip.commit, false],
    ]);
    expectHubCacheLayout(env, glamm);
    expectHubCacheLayout(env, clip, false); // the manifest pins CLIP to a commit
    const record = readInstallRecord("glamm-gcg", env)!;
    expect(record.dependencies).toEqual(["clip-vit-large-patch14-336"]);
    expect(Object.fromEntries(record.files.map((f) => [f.path, f.sha256]))).toEqual(
      Object.fromEntries(Object.entries(glamm.files).map(([file, content]) => [file, sha256Hex(bytesOf(content))])),
    );
    expect(results[0].downloadedBytes).toBe(Object.values(glamm.files).reduce((n, c) => n + bytesOf(c).byteLength, 0));
  });

  test("a second pull with the same inputs is a no-op", async () => {
    const env = freshEnv();
    await pullModel("glamm-gcg", { env });
    const start = hub.server.requests.length;
    const again = await pullModel("glamm-gcg", { env });
    expect(again.map((r) => r.upToDate)).toEqual([true, true]);
    expect(requestsSince(start).every((r) => r.path.startsWith("/api/models/"))).toBe(true);
  });

  test("files already in the cache (as Python tools leave them) are not fetched again", async () => {
    const env = freshEnv();
    writeCachedSnapshot(join(env.HF_HOME, "hub"), glamm);
    const start = hub.server.requests.length;
    const [model] = await pullModel("glamm-gcg", { env });
    expect(model.downloadedBytes).toBe(0);
    const blobPaths = new Set(Object.values(glamm.files).map((c) => `/blobs/${sha256Hex(bytesOf(c))}`));
    const fetched = requestsSince(start).filter((r) => (r.method === "GET" && r.path.startsWith(`/${glamm.id}/resolve/`)) || blobPaths.has(r.path));
    expect(fetched).toEqual([]);
  });

  test("a private repo answers 401 without HF_TOKEN and works with it; the CDN never sees the token", async () => {
    await expectGlammError(pullModel("acme/private-glamm", { env: freshEnv() }), /401.*HF_TOKEN/, 3);
    const start = hub.server.requests.length;
    const [model] = await pullModel("acme/private-glamm", { env: freshEnv({ HF_TOKEN: "hf_secret" }) });
    expect(model.record.files.length).toBe(Object.keys(privateRepo.files).length);
    const seen = requestsSince(start);
    expect(seen.filter((r) => r.origin === "hub").every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    expect(seen.some((r) => r.origin === "cdn")).toBe(true);
    expect(seen.filter((r) => r.origin === "cdn").every((r) => r.authorization === null)).toBe(true);
  });

  test("a manifest file missing on the Hub fails with 404 naming it", async () => {
    const file = /404.*MBZUAI\/GLaMM-RefSeg\/resolve\/[0-9a-f]{40}\/pytorch_model-00002-of-00002\.bin/;
    await expectGlammError(pullModel("glamm-refseg", { env: freshEnv() }), file, 3);
  });

  test("offline mode uses the cache, and fails clearly when the model is not cached", async () => {
    const env = freshEnv();
    await pullModel("glamm-gcg", { env });
    const start = hub.server.requests.length;
    const offlineEnv = { ...env, GLAMM_HOME: join(env.GLAMM_HOME, "..", "glamm-offline"), HF_HUB_OFFLINE: "1" };
    const results = await pullModel("glamm-gcg", { env: offlineEnv });
    expect(results.map((r) => [r.record.commit, r.upToDate])).toEqual([
      [glamm.commit, false],
      [clip.commit, false],
    ]);
    expect(requestsSince(start)).toEqual([]);
    await expectGlammError(pullModel("glamm-refseg", { env: freshEnv({ HF_HUB_OFFLINE: "1" }) }), /HF_HUB_OFFLINE=1.*MBZUAI\/GLaMM-RefSeg.*not in the cache/);
  });

  test("an unreachable endpoint fails fast naming the host and the ways around it", async () => {
    const started = performance.now();
    await expectGlammError(pullModel("glamm-gcg", { env: freshEnv({ HF_ENDPOINT: "http://127.0.0.1:1" }) }), /127\.0\.0\.1:1.*HF_ENDPOINT.*--from DIR/);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  test("a cut connection leaves huggingface_hub's .incomplete file and the next pull resumes it", async () => {
    const env = freshEnv();
    const shard = bytesOf(glamm.files["pytorch_model-00001-of-00002.bin"]);
    const sha = sha256Hex(shard);
    hub.server.faults.push({ pathIncludes: `/blobs/${sha}`, fault: { kind: "cut", afterBytes: 2500 } });
    await expectGlammError(pullModel("glamm-gcg", { env, concurrency: 1 }), /run again to resume/);
    const partial = join(env.HF_HOME, "hub", `models--${glamm.id.replace("/", "--")}`, "blobs", `${sha}.incomplete`);
    expect(readFileSync(partial).byteLength).toBe(2500);
    const start = hub.server.requests.length;
    await pullModel("glamm-gcg", { env });
    expect(requestsSince(start).filter((r) => r.path === `/blobs/${sha}`).map((r) => r.range)).toEqual(["bytes=2500-"]);
    expect(existsSync(partial)).toBe(false);
    expectHubCacheLayout(env, glamm);
  });

  test("wrong content from the CDN is rejected and nothing lands in the cache", async () => {
    const env = freshEnv();
    const sha = sha256Hex(bytesOf(glamm.files["tokenizer.model"]));
    hub.server.faults.push({ pathIncludes: `/blobs/${sha}`, fault: { kind: "corrupt" } });
    await expectGlammError(pullModel("glamm-gcg", { env }), /checksum mismatch/, 3);
    expect(existsSync(join(env.HF_HOME, "hub", `models--${glamm.id.replace("/", "--")}`, "blobs", sha))).toBe(false);
    expect(readInstallRecord("glamm-gcg", env)).toBeUndefined();
  });

  test("two concurrent pulls of the same model both succeed with one download of each file", async () => {
    const env = freshEnv();
    const start = hub.server.requests.length;
    const [a, b] = await Promise.all([pullModel("glamm-gcg", { env }), pullModel("glamm-gcg", { env })]);
    expect(a[0].record.files).toEqual(b[0].record.files);
    const blobGets = requestsSince(start).filter((r) => r.origin === "cdn");
    expect(blobGets.length).toBe(new Set(blobGets.map((r) => r.path)).size);
    expectHubCacheLayout(env, glamm);
  });

  test("a lock left by a dead process is taken over", async () => {
    const env = freshEnv();
    const dead = Bun.spawnSync(["true"]).pid;
    mkdirSync(join(env.GLAMM_HOME, "locks"), { recursive: true });
    writeFileSync(join(env.GLAMM_HOME, "locks", "glamm-gcg.lock"), JSON.stringify({ pid: dead, host: require("node:os").hostname() }));
    const results = await pullModel("glamm-gcg", { env });
    expect(results[0].record.commit).toBe(glamm.commit);
  });
});

test("hubConfig reads the huggingface_hub environment", () => {
  expect(hubConfig({ HF_HOME: "/x/hf", HF_ENDPOINT: "http://mirror:8080/", HF_TOKEN: "t", HF_HUB_OFFLINE: "1" })).toEqual({
    endpoint: "http://mirror:8080",
    token: "t",
    offline: true,
    cacheDir: "/x/hf/hub",
    etagTimeoutMs: 10_000,
    downloadTimeoutMs: 10_000,
  });
  expect(hubConfig({ HOME: "/home/u", XDG_CACHE_HOME: "/c", HF_TOKEN_PATH: "/nonexistent" }).cacheDir).toBe("/c/huggingface/hub");
});
