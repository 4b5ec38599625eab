import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { hubConfig, hubDownload } from "../src/hub/hf.ts";
import { selectFiles } from "../src/hub/patterns.ts";
import { pullModel, readInstallRecord } from "../src/hub/store.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { useLoopbackHub } from "./helpers/loopback-hub.ts";
import { fakeCheckpoint, hubEtag, pseudoRandomBytes, sha256Hex, writeCachedSnapshot, type FakeRepo, type HubServer } from "./helpers/http-server.ts";

/** glamm pull against a loopback Hub that answers as huggingface.co does: error codes, PR revisions, outages, locks. */

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value)}\n`);
const publicRepo: FakeRepo = {
  id: "acme/public",
  commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  files: { "config.json": json({ model_type: "llama" }), "model.bin": pseudoRandomBytes(3000, 11), "nested/extra.txt": json(["x"]) },
  revisions: {
    "refs/pr/1": { commit: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", files: { "config.json": json({ model_type: "llama" }), "model.safetensors": pseudoRandomBytes(2500, 12) } },
    "feature/x": { commit: "cccccccccccccccccccccccccccccccccccccccc", files: { "config.json": json({ branch: "feature/x" }) } },
  },
};
const privateRepo: FakeRepo = { id: "acme/private", commit: "dddddddddddddddddddddddddddddddddddddddd", files: { "config.json": json({}) }, token: "hf_secret" };
const gatedRepo: FakeRepo = { id: "acme/gated", commit: "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", files: { "config.json": json({}), "w.bin": pseudoRandomBytes(2000, 13) }, gatedToken: "hf_granted" };
const renamedRepo: FakeRepo = { id: "acme/new-name", commit: "ffffffffffffffffffffffffffffffffffffffff", files: { "config.json": json({}) }, formerIds: ["acme/old-name"] };
const weights = (seed: number) => pseudoRandomBytes(1500 + seed, seed);
const diffusersRepo: FakeRepo = {
  id: "acme/sd-inpaint",
  commit: "1234567890123456789012345678901234567890",
  files: {
    "model_index.json": json({ _class_name: "StableDiffusionXLInpaintPipeline" }),
    "unet/config.json": json({}),
    "unet/diffusion_pytorch_model.safetensors": weights(21),
    "unet/diffusion_pytorch_model.fp16.safetensors": weights(22),
    "unet/diffusion_pytorch_model.bin": weights(23),
    "unet/diffusion_pytorch_model.fp16.bin": weights(24),
    "vae/diffusion_pytorch_model.safetensors": weights(25),
    "vae/diffusion_pytorch_model.fp16.safetensors": weights(26),
    "text_encoder/config.json": json({}),
    "text_encoder/model.safetensors": weights(27),
    "README.md": json("readme"),
  },
};
const { glamm, clip } = fakeCheckpoint();

const hub = useLoopbackHub([publicRepo, privateRepo, gatedRepo, renamedRepo, diffusersRepo, glamm, clip], "glamm-compat-", { knownTokens: ["hf_secret", "hf_granted"] });
const { freshEnv } = hub;
let counter = 0;
/** The same Hugging Face cache, a new glamm store (no install record: as after a Python download). */
const sameCacheNewStore = (env: Record<string, string>, extra: Record<string, string> = {}) => ({ ...env, GLAMM_HOME: join(env.GLAMM_HOME, `..`, `glamm-${counter++}`), ...extra });
const repoDir = (env: Record<string, string>, id: string) => join(env.HF_HOME, "hub", `models--${id.replace("/", "--")}`);
const since = (start: number) => hub.server.requests.slice(start);
/** A fault on every matching request until the test ends. */
function outage(pathIncludes: string, fault: HubServer["faults"][number]["fault"]): { [Symbol.dispose](): void } {
  const rule = { pathIncludes, fault, times: Number.POSITIVE_INFINITY };
  hub.server.faults.push(rule);
  return { [Symbol.dispose]: () => void hub.server.faults.splice(hub.server.faults.indexOf(rule), 1) };
}
const pullWithNotices = async (spec: string, env: Record<string, string>) => {
  const notices: string[] = [];
  const results = await pullModel(spec, { env, onNotice: (m) => notices.push(m) });
  return { results, notices };
};

describe("Hub error codes, one line each", () => {
  test("RepoNotFound without a token says a private repo looks the same; with one it points at the token", async () => {
    await expectGlammError(pullModel("acme/nope", { env: freshEnv() }), /^repository acme\/nope not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 401, RepoNotFound\); check the name; a private repo looks the same when no token is sent \(set HF_TOKEN\)$/, 3);
    const withToken = await expectGlammError(pullModel("acme/nope", { env: freshEnv({ HF_TOKEN: "hf_secret" }) }), /\(HTTP 404, RepoNotFound\); check the name, and that the token in HF_TOKEN can read it$/, 3);
    expect(withToken.message).not.toContain("access denied");
  });

  test("RevisionNotFound names the revision", async () => {
    await expectGlammError(pullModel("acme/public@v9", { env: freshEnv() }), /^revision "v9" not found in acme\/public \(HTTP 404, RevisionNotFound\)/, 3);
  });

  test("EntryNotFound names the file and revision, and is remembered in .no_exist as huggingface_hub does", async () => {
    const env = freshEnv();
    await expectGlammError(hubDownload(hubConfig(env), "acme/public", "main", "missing.json"), /^missing\.json not found in acme\/public at revision main \(HTTP 404, EntryNotFound\)/, 3);
    expect(existsSync(join(repoDir(env, "acme/public"), ".no_exist", publicRepo.commit, "missing.json"))).toBe(true);
    expect(readFileSync(join(repoDir(env, "acme/public"), "refs", "main"), "utf8")).toBe(publicRepo.commit);
  });

  test("GatedRepo: accept the terms at the repo page, then HF_TOKEN", async () => {
    await expectGlammError(pullModel("acme/gated", { env: freshEnv() }), /^acme\/gated is a gated repo and no token was sent \(HTTP 401, GatedRepo\); accept its terms at http:\/\/127\.0\.0\.1:\d+\/acme\/gated while logged in, then set HF_TOKEN/, 3);
    await expectGlammError(pullModel("acme/gated", { env: freshEnv({ HF_TOKEN: "hf_secret" }) }), /the account of HF_TOKEN has not been granted access \(HTTP 403, GatedRepo\)/, 3);
    const [granted] = await pullModel("acme/gated", { env: freshEnv({ HF_TOKEN: "hf_granted" }) });
    expect(granted.record.commit).toBe(gatedRepo.commit);
  });

  test("an invalid token is named as such", async () => {
    await expectGlammError(pullModel("acme/public", { env: freshEnv({ HF_TOKEN: "hf_revoked" }) }), /rejected the token \(HTTP 401, invalid credentials\); check HF_TOKEN/, 3);
  });
});

describe("revisions with slashes", () => {
  test("glamm pull X@refs/pr/1 stores refs/refs/pr/1 and the PR's snapshot, readable offline", async () => {
    const env = freshEnv();
    const [pr] = await pullModel("acme/public@refs/pr/1", { env });
    const prRevision = publicRepo.revisions!["refs/pr/1"];
    expect([pr.record.revision, pr.record.commit]).toEqual(["refs/pr/1", prRevision.commit]);
    expect(pr.record.files.map((f) => f.path).sort()).toEqual(Object.keys(prRevision.files).sort());
    const dir = repoDir(env, "acme/public");
    expect(readFileSync(join(dir, "refs", "refs", "pr", "1"), "utf8")).toBe(prRevision.commit);
    const pointer = join(dir, "snapshots", prRevision.commit, "model.safetensors");
    expect(readlinkSync(pointer)).toBe(`../../blobs/${hubEtag(prRevision.files["model.safetensors"] as Uint8Array)}`);
    expect(readdirSync(join(dir, "refs"))).toEqual(["refs"]); // nothing written under a mangled name

    const start = hub.server.requests.length;
    const [offline] = await pullModel("acme/public@refs/pr/1", { env: sameCacheNewStore(env, { HF_HUB_OFFLINE: "1" }) });
    expect(offline.record.commit).toBe(prRevision.commit);
    expect(since(start)).toEqual([]);
  });

  test("a branch with a slash is refs/feature/x", async () => {
    const env = freshEnv();
    const [branch] = await pullModel("acme/public@feature/x", { env });
    expect(branch.record.commit).toBe(publicRepo.revisions!["feature/x"].commit);
    expect(readFileSync(join(repoDir(env, "acme/public"), "refs", "feature", "x"), "utf8")).toBe(branch.record.commit ?? "");
  });
});

describe("cache fallback as huggingface_hub", () => {
  test("HTTP 500 on every request: a cached revision is used with one notice", async () => {
    const env = freshEnv();
    await pullModel("acme/public", { env });
    using _ = outage("acme/public", { kind: "status", status: 500 });
    const { results, notices } = await pullWithNotices("acme/public", sameCacheNewStore(env));
    expect(results[0].record.commit).toBe(publicRepo.commit);
    expect(results[0].downloadedBytes).toBe(0);
    expect(notices).toEqual([expect.stringMatching(/^download failed \(HTTP 500\) for .*; using acme\/public@main \(aaaaaaaaaa\) from the cache /)]);
  });

  test("a snapshot written by Python tools (no glamm record) is used when the host is unreachable, dependency included", async () => {
    const env = freshEnv({ HF_ENDPOINT: "http://127.0.0.1:1" });
    writeCachedSnapshot(join(env.HF_HOME, "hub"), glamm);
    writeCachedSnapshot(join(env.HF_HOME, "hub"), clip, { ref: clip.commit });
    const { results, notices } = await pullWithNotices("glamm-gcg", env);
    expect(results.map((r) => [r.record.name, r.record.commit])).toEqual([
      ["glamm-gcg", glamm.commit],
      ["clip-vit-large-patch14-336", clip.commit],
    ]);
    expect(readInstallRecord("glamm-gcg", env)?.files.find((f) => f.path === "tokenizer.model")?.sha256).toBe(sha256Hex(glamm.files["tokenizer.model"] as Uint8Array));
    expect(notices.length).toBe(2);
    expect(notices[0] ?? "").toMatch(/^connection refused by 127\.0\.0\.1:1; using MBZUAI\/GLaMM-GCG@main/);
  });

  test("no answer within HF_HUB_ETAG_TIMEOUT falls back the same way", async () => {
    const env = freshEnv();
    await pullModel("acme/public", { env });
    using _ = outage("/api/models/acme/public", { kind: "hang" });
    const { results, notices } = await pullWithNotices("acme/public", sameCacheNewStore(env, { HF_HUB_ETAG_TIMEOUT: "0.3" }));
    expect(results[0].record.commit).toBe(publicRepo.commit);
    expect(notices).toEqual([expect.stringMatching(/^no answer from 127\.0\.0\.1:\d+ within 0\.3 s .*; using acme\/public@main/)]);
  });

  test("an outage between the repo info and the files: each cached file is used with a notice", async () => {
    const env = freshEnv();
    await pullModel("acme/public", { env });
    using _ = outage("/acme/public/resolve/", { kind: "status", status: 503 });
    const { results, notices } = await pullWithNotices("acme/public", sameCacheNewStore(env));
    expect(results[0].record.files.length).toBe(3);
    expect(notices.sort()).toEqual(Object.keys(publicRepo.files).sort().map((f) => expect.stringMatching(new RegExp(`HTTP 503.*; using the cached acme/public/${f}$`))));
  });

  test("a file missing from the cache still fails, naming it and the outage", async () => {
    const env = freshEnv();
    writeCachedSnapshot(join(env.HF_HOME, "hub"), glamm, { omit: ["tokenizer.model"] });
    using _ = outage("MBZUAI/GLaMM-GCG", { kind: "status", status: 502 });
    await expectGlammError(pullModel("glamm-gcg", { env }), /^download failed \(HTTP 502\) for .* and MBZUAI\/GLaMM-GCG\/tokenizer\.model \(revision [0-9a-f]{40}\) is not in the cache .*; run again when the Hub answers/, 3);
    expect(readInstallRecord("glamm-gcg", env)).toBeUndefined();
  });

  test("a revision the Hub says does not exist is never served from the cache", async () => {
    const env = freshEnv();
    writeCachedSnapshot(join(env.HF_HOME, "hub"), { ...publicRepo, commit: publicRepo.commit }, { ref: "v9" });
    await expectGlammError(pullModel("acme/public@v9", { env }), /RevisionNotFound/, 3);
  });
});

describe("locks compatible with huggingface_hub", () => {
  test("blob locks are .locks/models--org--name/{etag}.lock, left in place as py-filelock leaves them", async () => {
    const env = freshEnv();
    await pullModel("acme/public", { env });
    const locks = readdirSync(join(env.HF_HOME, "hub", ".locks", "models--acme--public")).sort();
    expect(locks).toEqual(Object.values(publicRepo.files).map((c) => `${hubEtag(c as Uint8Array)}.lock`).sort());
  });

  test.skipIf(!Bun.which("python3"))("a blob locked by Python (fcntl.flock, as filelock does) is waited for, never written at once", async () => {
    const env = freshEnv();
    const blob = hubEtag(publicRepo.files["model.bin"] as Uint8Array);
    const lockPath = join(env.HF_HOME, "hub", ".locks", "models--acme--public", `${blob}.lock`);
    const holder = Bun.spawn(
      ["python3", "-c", "import fcntl,os,sys; os.makedirs(os.path.dirname(sys.argv[1]),exist_ok=True); fd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT|os.O_TRUNC,0o664); fcntl.flock(fd,fcntl.LOCK_EX|fcntl.LOCK_NB); print('locked',flush=True); sys.stdin.readline()", lockPath],
      { stdin: "pipe", stdout: "pipe" },
    );
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
    const notices: string[] = [];
    const pulling = pullModel("acme/public", { env, onNotice: (m) => notices.push(m) });
    await Bun.sleep(600);
    const blobs = join(repoDir(env, "acme/public"), "blobs");
    expect(readdirSync(blobs).filter((f) => f.startsWith(blob))).toEqual([]); // neither the blob nor its .incomplete
    expect(notices).toEqual(["acme/public/model.bin is being downloaded by another process; waiting"]);
    holder.stdin.write("release\n");
    holder.stdin.end();
    await holder.exited;
    const [done] = await pulling;
    expect(done.record.files.find((f) => f.path === "model.bin")?.sha256).toBe(sha256Hex(publicRepo.files["model.bin"] as Uint8Array));
  });
});

describe("redirects", () => {
  test("a renamed repo's relative redirect is followed; files land under the name asked for, as huggingface_hub does", async () => {
    const env = freshEnv();
    const [moved] = await pullModel("acme/old-name", { env });
    expect(moved.record.commit).toBe(renamedRepo.commit);
    expect(lstatSync(join(repoDir(env, "acme/old-name"), "snapshots", renamedRepo.commit, "config.json")).isSymbolicLink()).toBe(true);
  });

  test("a mirror that redirects a file elsewhere without the Hub's headers is named as such", async () => {
    using _ = outage("/acme/public/resolve/", { kind: "redirect", location: `${hub.server.cdnUrl}/somewhere-else` });
    await expectGlammError(
      pullModel("acme/public", { env: freshEnv() }),
      /^http:\/\/127\.0\.0\.1:\d+ redirected acme\/public\/\S+ to http:\/\/127\.0\.0\.1:\d+ without the Hub's X-Repo-Commit\/ETag headers, so it is not serving as a Hub; set HF_ENDPOINT/,
      4,
    );
  });

  test("a mirror that redirects the API to an unreachable host says so", async () => {
    using _ = outage("/api/models/acme/public", { kind: "redirect", location: "http://127.0.0.1:1/api/models/acme/public/revision/main" });
    await expectGlammError(pullModel("acme/public", { env: freshEnv() }), /^http:\/\/127\.0\.0\.1:\d+ redirected to http:\/\/127\.0\.0\.1:1, and then: connection refused by 127\.0\.0\.1:1/, 4);
  });
});

describe("huggingface_hub's environment", () => {
  test("HF_HUB_DISABLE_IMPLICIT_TOKEN: HF_TOKEN is never sent", async () => {
    const env = freshEnv({ HF_TOKEN: "hf_secret", HF_HUB_DISABLE_IMPLICIT_TOKEN: "1" });
    const start = hub.server.requests.length;
    await pullModel("acme/public", { env });
    expect(since(start).length).toBeGreaterThan(0);
    expect(since(start).every((r) => r.authorization === null)).toBe(true);
    await expectGlammError(pullModel("acme/private", { env }), /a private repo looks the same when no token is sent/, 3);
  });

  test("TRANSFORMERS_OFFLINE counts as HF_HUB_OFFLINE", async () => {
    const env = freshEnv();
    await pullModel("acme/public", { env });
    const start = hub.server.requests.length;
    await pullModel("acme/public", { env: sameCacheNewStore(env, { TRANSFORMERS_OFFLINE: "yes" }) });
    expect(since(start)).toEqual([]);
  });

  test("HF_HUB_ETAG_TIMEOUT bounds the metadata requests and is named when nothing is cached", async () => {
    using _ = outage("/api/models/acme/public", { kind: "hang" });
    await expectGlammError(pullModel("acme/public", { env: freshEnv({ HF_HUB_ETAG_TIMEOUT: "0.3" }) }), /^no answer from 127\.0\.0\.1:\d+ within 0\.3 s \(.*\); raise HF_HUB_ETAG_TIMEOUT/, 4);
  });

  test("HF_HUB_DOWNLOAD_TIMEOUT bounds a silent download, which stays resumable", async () => {
    const env = freshEnv();
    const blob = sha256Hex(publicRepo.files["model.bin"] as Uint8Array);
    hub.server.faults.push({ pathIncludes: `/blobs/${blob}`, fault: { kind: "stall", afterBytes: 1000 } });
    await expectGlammError(pullModel("acme/public", { env: { ...env, HF_HUB_DOWNLOAD_TIMEOUT: "0.3" } }), /stalled: no data from 127\.0\.0\.1:\d+ for 0\.3 s/, 4);
    expect(statSync(join(repoDir(env, "acme/public"), "blobs", `${blob}.incomplete`)).size).toBe(1000);
  });

  test("timeouts must be numbers of seconds; 0 means the default, as in huggingface_hub", () => {
    expect(() => hubConfig({ HF_HUB_ETAG_TIMEOUT: "soon" })).toThrow(/^HF_HUB_ETAG_TIMEOUT="soon" is not a number of seconds$/);
    expect(hubConfig({ HF_HUB_DOWNLOAD_TIMEOUT: "0", HF_HUB_ETAG_TIMEOUT: "2.5" })).toMatchObject({ downloadTimeoutMs: 10_000, etagTimeoutMs: 2500 });
  });
});

describe("choosing files of a repo without a manifest", () => {
  const sdxl = Object.keys(diffusersRepo.files);

  test("include/exclude are huggingface_hub's allow/ignore patterns (fnmatch: * crosses /, a trailing / is the folder)", () => {
    expect(selectFiles(sdxl, { include: ["*.json"] })).toEqual(["model_index.json", "unet/config.json", "text_encoder/config.json"]);
    expect(selectFiles(sdxl, { include: ["unet/"], exclude: ["*.bin"] })).toEqual(["unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"]);
    expect(selectFiles(sdxl, { include: ["[rR]EADME.??"] })).toEqual(["README.md"]);
    expect(selectFiles(["a.bin", "b.txt"], { include: ["[!a]*"] })).toEqual(["b.txt"]);
  });

  test("--variant fp16 takes the fp16 weights where a folder has them and the plain ones where it has not", () => {
    expect(selectFiles(sdxl, { variant: "fp16" })).toEqual([
      "model_index.json",
      "unet/config.json",
      "unet/diffusion_pytorch_model.fp16.safetensors",
      "unet/diffusion_pytorch_model.fp16.bin",
      "vae/diffusion_pytorch_model.fp16.safetensors",
      "text_encoder/config.json",
      "text_encoder/model.safetensors",
      "README.md",
    ]);
    expect(selectFiles(["sd_xl_base_1.0.safetensors", "x/model.safetensors.index.fp16.json", "x/model.fp16-00001-of-00002.safetensors", "x/model-00001-of-00002.safetensors", "x/model.safetensors.index.json", "x/model.non_ema.bin"], { variant: "fp16" })).toEqual([
      "sd_xl_base_1.0.safetensors",
      "x/model.safetensors.index.fp16.json",
      "x/model.fp16-00001-of-00002.safetensors",
    ]);
  });

  test("glamm pull --variant fp16 --exclude '*.bin' fetches only those files", async () => {
    const env = freshEnv();
    const [sd] = await pullModel("acme/sd-inpaint", { env, filter: { variant: "fp16", exclude: ["*.bin"] } });
    const expected = ["README.md", "model_index.json", "text_encoder/config.json", "text_encoder/model.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"];
    expect(sd.record.files.map((f) => f.path).sort()).toEqual(expected);
    const blobs = new Map(expected.map((f) => [hubEtag(diffusersRepo.files[f] as Uint8Array), (diffusersRepo.files[f] as Uint8Array).byteLength]));
    expect(sd.downloadedBytes).toBe([...blobs.values()].reduce((n, size) => n + size, 0)); // the two identical configs are one blob
  });

  test("patterns on a model with a manifest, or matching nothing, are usage errors", async () => {
    await expectGlammError(pullModel("glamm-gcg", { env: freshEnv(), filter: { include: ["*.json"] } }), /glamm-gcg has one \(models\/glamm-gcg\.json\)/, 1);
    await expectGlammError(pullModel("acme/public", { env: freshEnv(), filter: { include: ["*.gguf"] } }), /no file of acme\/public@main matches/, 1);
    await expectGlammError(pullModel("acme/public", { env: freshEnv(), filter: { variant: "FP 16" } }), /--variant "FP 16"/, 1);
  });
});
