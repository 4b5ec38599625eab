import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageSha256, SamEmbeddingCache, type SamCacheKey, type SamEmbedding } from "../src/pipeline/sam-cache.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "glamm-sam-cache-"));
  dirs.push(dir);
  return dir;
}

const key = (image: string, precision = "fp32"): SamCacheKey => ({ imageSha256: imageSha256(new TextEncoder().encode(image)), modelId: "tiny", precision });

function embedding(seed: number): SamEmbedding {
  return { dims: [1, 4, 8, 8], data: Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(seed * 1000 + i)) };
}

/** Marks an entry as last used `secondsAgo` seconds ago. */
function age(cache: SamEmbeddingCache, k: SamCacheKey, secondsAgo: number) {
  const then = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(cache.pathFor(k), then, then);
}

describe("SAM embedding cache", () => {
  test("miss, then hit with identical dims and data", () => {
    const cache = new SamEmbeddingCache({ dir: cacheDir() });
    const stored = embedding(1);
    expect(cache.get(key("a"))).toBeUndefined();
    expect(cache.put(key("a"), stored)).toBe(true);
    const hit = cache.get(key("a"));
    expect(hit?.dims).toEqual(stored.dims);
    expect(Array.from(hit?.data ?? [])).toEqual(Array.from(stored.data));
  });

  test("image, model and precision all separate entries", () => {
    const cache = new SamEmbeddingCache({ dir: cacheDir() });
    cache.put(key("a"), embedding(1));
    expect(cache.get(key("b"))).toBeUndefined();
    expect(cache.get(key("a", "fp16"))).toBeUndefined();
    expect(cache.get({ ...key("a"), modelId: "other" })).toBeUndefined();
  });

  test("getOrCompute computes once, then hits", async () => {
    const cache = new SamEmbeddingCache({ dir: cacheDir() });
    let computed = 0;
    const compute = async () => {
      computed++;
      return embedding(2);
    };
    expect((await cache.getOrCompute(key("a"), compute)).hit).toBe(false);
    const second = await cache.getOrCompute(key("a"), compute);
    expect(second.hit).toBe(true);
    expect(second.embedding.data[5]).toBe(embedding(2).data[5]);
    expect(computed).toBe(1);
  });

  test("disabled (--no-cache) neither reads nor writes", () => {
    const dir = cacheDir();
    new SamEmbeddingCache({ dir }).put(key("a"), embedding(1));
    const bypass = new SamEmbeddingCache({ dir, enabled: false });
    expect(bypass.get(key("a"))).toBeUndefined();
    expect(bypass.put(key("b"), embedding(2))).toBe(false);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  test("evicts the least recently used entries beyond the size limit", () => {
    const dir = cacheDir();
    const probe = new SamEmbeddingCache({ dir });
    probe.put(key("probe"), embedding(0));
    const entryBytes = readFileSync(probe.pathFor(key("probe"))).length;
    rmSync(probe.pathFor(key("probe")));

    const cache = new SamEmbeddingCache({ dir, maxBytes: 2 * entryBytes + entryBytes / 2 });
    cache.put(key("a"), embedding(1));
    cache.put(key("b"), embedding(2));
    age(cache, key("a"), 30);
    age(cache, key("b"), 20);
    expect(cache.get(key("a"))).toBeDefined(); // a becomes the most recently used
    cache.put(key("c"), embedding(3));
    expect(cache.get(key("b"))).toBeUndefined();
    expect(cache.get(key("a"))).toBeDefined();
    expect(cache.get(key("c"))).toBeDefined();
    expect(cache.entries().reduce((sum, e) => sum + e.bytes, 0)).toBeLessThanOrEqual(cache.maxBytes);
  });

  test("an entry larger than the whole limit is not stored", () => {
    const cache = new SamEmbeddingCache({ dir: cacheDir(), maxBytes: 100 });
    expect(cache.put(key("a"), embedding(1))).toBe(false);
    expect(cache.get(key("a"))).toBeUndefined();
  });

  test("corrupted, truncated or foreign entries are misses and get removed", () => {
    const cache = new SamEmbeddingCache({ dir: cacheDir() });
    const damage: ((bytes: Buffer) => Buffer)[] = [
      (b) => Buffer.from(b.map((v, i) => (i === b.length >> 1 ? v ^ 1 : v))),
      (b) => b.subarray(0, b.length - 7),
      () => Buffer.from("not a cache entry"),
      () => Buffer.alloc(0),
    ];
    for (const corrupt of damage) {
      cache.put(key("a"), embedding(1));
      const path = cache.pathFor(key("a"));
      writeFileSync(path, corrupt(readFileSync(path)));
      expect(cache.get(key("a"))).toBeUndefined();
      expect(readdirSync(cache.dir)).toHaveLength(0);
    }
    // A whole entry stored under another key's file name is not served for that key.
    cache.put(key("b"), embedding(2));
    writeFileSync(cache.pathFor(key("a")), readFileSync(cache.pathFor(key("b"))));
    expect(cache.get(key("a"))).toBeUndefined();
    expect(cache.get(key("b"))).toBeDefined();
  });

  test("two processes writing and reading the same entries see only whole entries", async () => {
    const dir = cacheDir();
    const script = `
      import { SamEmbeddingCache } from ${JSON.stringify(new URL("../src/pipeline/sam-cache.ts", import.meta.url).pathname)};
      const cache = new SamEmbeddingCache({ dir: ${JSON.stringify(dir)}, maxBytes: 3 * 70000 });
      const data = new Float32Array(16384).fill(Number(process.argv.at(-1)));
      let bad = 0;
      for (let i = 0; i < 40; i++) {
        const key = { imageSha256: "img" + (i % 5), modelId: "m", precision: "fp32" };
        cache.put(key, { dims: [1, 16384], data });
        const got = cache.get(key);
        if (got && !got.data.every((v) => v === got.data[0])) bad++;
      }
      console.log(bad);
    `;
    const run = (fill: number) => Bun.spawn([process.execPath, "-e", script, String(fill)], { stdout: "pipe" });
    const workers = [run(1), run(2)];
    const outputs = await Promise.all(workers.map((w) => new Response(w.stdout).text()));
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    expect(outputs.map((o) => o.trim())).toEqual(["0", "0"]);
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });
});
