import { createHash } from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { findManifest } from "../../src/hub/manifests.ts";

/**
 * A loopback stand-in for the Hugging Face Hub: `/{repo}/resolve/{rev}/{file}` with the Hub's headers, LFS files
 * redirected to a second ("CDN") origin, `/api/models/{repo}/revision/{rev}`, plain files under `/files/`, and
 * injectable faults (cut connection, stall, HTTP status, wrong content, ignored Range, a redirect elsewhere, no answer).
 * Errors carry the Hub's X-Error-Code / X-Error-Message headers as huggingface.co sends them; revisions are matched on
 * percent-decoded path segments, so `refs%2Fpr%2F1` is the revision `refs/pr/1`.
 */

export type Fault =
  | { kind: "cut"; afterBytes: number }
  | { kind: "short"; afterBytes: number }
  | { kind: "stall"; afterBytes: number }
  | { kind: "status"; status: number }
  | { kind: "corrupt" }
  | { kind: "ignore-range" }
  /** An absolute redirect to another origin without the Hub's headers (a mirror forwarding elsewhere). */
  | { kind: "redirect"; location: string }
  /** No answer at all until close() (a timeout for the client). */
  | { kind: "hang" };

export interface FaultRule {
  /** Applies to requests whose path contains this text. */
  pathIncludes: string;
  fault: Fault;
  /** How many matching requests it applies to (default 1). */
  times?: number;
}

export interface RecordedRequest {
  origin: "hub" | "cdn";
  method: string;
  path: string;
  range: string | null;
  authorization: string | null;
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: Record<string, Uint8Array | Blob>;
  /** When set, every request for this repo needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Gated: the file list is public, files need `Authorization: Bearer <token>` of an account that accepted the terms. */
  gatedToken?: string;
  /** Other revisions (branches, tags, `refs/pr/N`) by name, each a commit with its own files. */
  revisions?: Record<string, { commit: string; files: Record<string, Uint8Array | Blob> }>;
  /** Old names that redirect (relative Location, HTTP 307) to this repo, as the Hub does for renamed repos. */
  formerIds?: string[];
}

export interface HubServerOptions {
  /** When set, any other bearer token is answered 401 "Invalid credentials in Authorization header". */
  knownTokens?: string[];
}

/** Files at or above this size are served like Git LFS files: a redirect to the CDN origin with X-Linked-* headers. */
export const lfsThreshold = 1024;

export interface HubServer {
  url: string;
  cdnUrl: string;
  requests: RecordedRequest[];
  faults: FaultRule[];
  addRepo(repo: FakeRepo): void;
  /** Serves body at `${url}/files/${name}` (Range supported). */
  addFile(name: string, body: Uint8Array | Blob): void;
  close(): void;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The id git (and so the Hub's ETag) gives a small file: sha1 over "blob <size>\0" + content. */
export function gitBlobSha1(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.byteLength}\0`).update(data).digest("hex");
}

/** The id the Hub gives a file (its ETag, and its blob's name in the cache): sha256 for LFS files, git's blob sha1 for small ones. */
export function hubEtag(content: Uint8Array): string {
  return content.byteLength >= lfsThreshold ? sha256Hex(content) : gitBlobSha1(content);
}

/**
 * Writes a repo into a Hugging Face cache as huggingface_hub leaves it (blobs/{etag}, snapshots/{commit}/{file} ->
 * ../../blobs/{etag}, refs/{ref}), without anything glamm would add; `omit` leaves files out.
 */
export function writeCachedSnapshot(cacheDir: string, repo: FakeRepo, options: { ref?: string; omit?: string[] } = {}): string {
  const repoDir = join(cacheDir, `models--${repo.id.replaceAll("/", "--")}`);
  for (const [file, content] of Object.entries(repo.files)) {
    if (options.omit?.includes(file)) continue;
    const bytes = content as Uint8Array;
    const etag = hubEtag(bytes);
    mkdirSync(join(repoDir, "blobs"), { recursive: true });
    writeFileSync(join(repoDir, "blobs", etag), bytes);
    const pointer = join(repoDir, "snapshots", repo.commit, file);
    mkdirSync(dirname(pointer), { recursive: true });
    const depth = file.split("/").length + 1;
    symlinkSync(`${"../".repeat(depth)}blobs/${etag}`, pointer);
  }
  const ref = join(repoDir, "refs", options.ref ?? "main");
  mkdirSync(dirname(ref), { recursive: true });
  writeFileSync(ref, repo.commit);
  return repoDir;
}

interface Entry {
  body: Blob;
  sha256?: string;
}

export function startHubServer(options: HubServerOptions = {}): HubServer {
  const repos = new Map<string, FakeRepo>();
  const renamed = new Map<string, string>();
  const lfs = new Map<string, Entry>();
  const plain = new Map<string, Entry>();
  const requests: RecordedRequest[] = [];
  const faults: FaultRule[] = [];
  const pending = new Set<() => void>();

  const record = (origin: RecordedRequest["origin"], req: Request, path: string) =>
    requests.push({ origin, method: req.method, path, range: req.headers.get("range"), authorization: req.headers.get("authorization") });

  const takeFault = (path: string): Fault | undefined => {
    const rule = faults.find((r) => path.includes(r.pathIncludes) && (r.times ?? 1) > 0);
    if (!rule) return undefined;
    rule.times = (rule.times ?? 1) - 1;
    return rule.fault;
  };

  const serve = (origin: RecordedRequest["origin"], handle: (req: Request, path: string, segments: string[]) => Response | Promise<Response>) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const segments = new URL(req.url).pathname.split("/").map(decodeURIComponent);
        const path = segments.join("/");
        record(origin, req, path);
        return handle(req, path, segments.slice(1));
      },
    });

  const cdn = serve("cdn", (req, path) => {
    // Signed CDN URLs reject credentials, as S3 does: a client must drop Authorization on the cross-origin hop.
    if (req.headers.get("authorization")) return new Response("credentials not accepted", { status: 400 });
    const entry = lfs.get(path.replace(/^\/blobs\//, ""));
    if (!entry) return new Response("no such blob", { status: 404 });
    return serveBody(req, entry, takeFault(path), pending);
  });

  const hub = serve("hub", (req, path, segments) => {
    const fault = takeFault(path);
    if (fault?.kind === "status") return new Response(`fault ${fault.status}`, { status: fault.status });
    if (fault?.kind === "redirect") return new Response(null, { status: 302, headers: { Location: fault.location } });
    if (fault?.kind === "hang") return new Promise<Response>((resolve) => pending.add(() => resolve(new Response("closed", { status: 503 }))));
    const token = req.headers.get("authorization")?.replace(/^Bearer /, "");
    if (token !== undefined && options.knownTokens && !options.knownTokens.includes(token)) {
      return new Response("Invalid credentials", { status: 401, headers: { "X-Error-Message": "Invalid credentials in Authorization header" } });
    }
    if (path.startsWith("/files/")) {
      const entry = plain.get(path.slice("/files/".length));
      return entry ? serveBody(req, entry, fault, pending) : new Response("not found", { status: 404 });
    }
    // /api/models/{org}/{name}/revision/{rev} and /{org}/{name}/resolve/{rev}/{file...}, rev as one decoded segment
    const api = segments[0] === "api" && segments[1] === "models" && segments[4] === "revision" && segments.length === 6;
    const resolve = segments[2] === "resolve" && segments.length >= 5;
    if (!api && !resolve) return new Response("not found", { status: 404 });
    const id = api ? `${segments[2]}/${segments[3]}` : `${segments[0]}/${segments[1]}`;
    const newId = renamed.get(id);
    if (newId) {
      const rest = new URL(req.url).pathname.split("/").slice(api ? 5 : 3).join("/");
      return new Response(null, { status: 307, headers: { Location: api ? `/api/models/${newId}/${rest}` : `/${newId}/${rest}` } });
    }
    if (api) return apiResponse(repos, req, id, segments[5]);
    return resolveResponse(repos, lfs, cdn.url.origin, req, id, segments[3], segments.slice(4).join("/"), fault, pending);
  });

  return {
    url: hub.url.origin,
    cdnUrl: cdn.url.origin,
    requests,
    faults,
    addRepo(repo) {
      repos.set(repo.id, repo);
      for (const former of repo.formerIds ?? []) renamed.set(former, repo.id);
    },
    addFile(name, body) {
      plain.set(name, { body: body instanceof Blob ? body : new Blob([body]) });
    },
    close() {
      for (const release of pending) release();
      hub.stop(true);
      cdn.stop(true);
    },
  };
}

/** The files of one commit of a repo, as a revision resolves to them. */
interface RepoView {
  repo: FakeRepo;
  commit: string;
  files: Record<string, Uint8Array | Blob>;
}

const hubError = (status: number, code: string | undefined, message: string, extra: Record<string, string> = {}) =>
  new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "Content-Type": "application/json", "X-Error-Message": message, ...(code ? { "X-Error-Code": code } : {}), ...extra },
  });

function repoFor(repos: Map<string, FakeRepo>, req: Request, id: string, rev: string): RepoView | Response {
  const repo = repos.get(id);
  const authorization = req.headers.get("authorization");
  // The Hub answers 401 for both missing and private repos when no token is sent, 404 when one is.
  const notFound = () => hubError(authorization ? 404 : 401, "RepoNotFound", "Repository not found");
  if (!repo) return notFound();
  if (repo.token && authorization !== `Bearer ${repo.token}`) return notFound();
  if (rev === "main" || rev === repo.commit) return { repo, commit: repo.commit, files: repo.files };
  const named = repo.revisions?.[rev] ?? Object.values(repo.revisions ?? {}).find((r) => r.commit === rev);
  if (!named) return hubError(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
  return { repo, commit: named.commit, files: named.files };
}

function apiResponse(repos: Map<string, FakeRepo>, req: Request, id: string, rev: string): Response {
  const view = repoFor(repos, req, id, rev);
  if (view instanceof Response) return view;
  const siblings = Object.keys(view.files).map((rfilename) => ({ rfilename }));
  return Response.json({ id: view.repo.id, sha: view.commit, siblings });
}

async function resolveResponse(
  repos: Map<string, FakeRepo>,
  lfs: Map<string, Entry>,
  cdnOrigin: string,
  req: Request,
  id: string,
  rev: string,
  file: string,
  fault: Fault | undefined,
  pending: Set<() => void>,
): Promise<Response> {
  const view = repoFor(repos, req, id, rev);
  if (view instanceof Response) return view;
  const authorization = req.headers.get("authorization");
  if (view.repo.gatedToken && authorization !== `Bearer ${view.repo.gatedToken}`) {
    const why = authorization ? "you are not in the authorized list" : "you must be authenticated to access it";
    return hubError(authorization ? 403 : 401, "GatedRepo", `Access to model ${id} is restricted and ${why}`);
  }
  const content = view.files[file];
  if (!content) return hubError(404, "EntryNotFound", `${file} does not exist on "${rev}"`, { "X-Repo-Commit": view.commit });
  const size = content instanceof Blob ? content.size : content.byteLength;
  const common = { "X-Repo-Commit": view.commit };
  if (size >= lfsThreshold) {
    // A Blob (e.g. Bun.file of a multi-gigabyte shard) is hashed and served as a stream, never read whole.
    const sha = content instanceof Blob ? await blobSha256(content) : sha256Hex(content);
    lfs.set(sha, { body: content instanceof Blob ? content : new Blob([content]) });
    return new Response(null, {
      status: 302,
      headers: {
        ...common,
        Location: `${cdnOrigin}/blobs/${sha}`,
        ETag: `"${gitBlobSha1(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${size}\n`))}"`,
        "X-Linked-Etag": `"${sha}"`,
        "X-Linked-Size": String(size),
      },
    });
  }
  const bytes = content instanceof Blob ? new Uint8Array(await content.arrayBuffer()) : content;
  const entry = { body: new Blob([bytes]) };
  const headers = { ...common, ETag: `"${gitBlobSha1(bytes)}"` };
  if (req.method === "HEAD") return new Response(null, { headers: { ...headers, "Content-Length": String(bytes.byteLength) } });
  return serveBody(req, entry, fault, pending, headers);
}

const blobHashes = new WeakMap<Blob, Promise<string>>();

/** The sha256 of a Blob body, computed once per Blob (call it before serving a large file to have it ready). */
export function blobSha256(blob: Blob): Promise<string> {
  let known = blobHashes.get(blob);
  if (!known) {
    known = (async () => {
      const hasher = new Bun.CryptoHasher("sha256");
      for await (const chunk of blob.stream()) hasher.update(chunk);
      return hasher.digest("hex");
    })();
    blobHashes.set(blob, known);
  }
  return known;
}

/** Serves a body with Range support and the requested fault. */
async function serveBody(
  req: Request,
  entry: Entry,
  fault: Fault | undefined,
  pending: Set<() => void>,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  const size = entry.body.size;
  const range = fault?.kind === "ignore-range" ? null : req.headers.get("range")?.match(/^bytes=(\d+)-$/);
  const start = range ? Number(range[1]) : 0;
  if (start >= size && range) return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${size}` } });
  const headers: Record<string, string> = { ...extraHeaders, "Content-Length": String(size - start), "Accept-Ranges": "bytes" };
  if (range) headers["Content-Range"] = `bytes ${start}-${size - 1}/${size}`;
  const status = range ? 206 : 200;
  if (req.method === "HEAD") return new Response(null, { status, headers });
  let body = entry.body.slice(start);
  if (fault?.kind === "corrupt") {
    const bytes = new Uint8Array(await body.arrayBuffer());
    for (let i = 0; i < bytes.length; i += 97) bytes[i] ^= 0xff;
    body = new Blob([bytes]);
  }
  if (fault?.kind === "cut" || fault?.kind === "short" || fault?.kind === "stall") {
    const head = new Uint8Array(await body.slice(0, fault.afterBytes).arrayBuffer());
    return new Response(truncatedStream(head, fault.kind, pending), { status, headers });
  }
  return new Response(body, { status, headers });
}

/** "cut" errors the connection, "short" ends the body cleanly but early, "stall" goes silent until close(). */
function truncatedStream(head: Uint8Array, kind: "cut" | "short" | "stall", pending: Set<() => void>): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(head);
        return;
      }
      await Bun.sleep(20); // let the head reach the client before the connection ends
      if (kind === "cut") {
        controller.error(new Error("connection cut by test server"));
        return;
      }
      if (kind === "short") {
        controller.close();
        return;
      }
      await new Promise<void>((resolve) => {
        const release = () => {
          pending.delete(release);
          resolve();
          controller.error(new Error("server closed"));
        };
        pending.add(release);
      });
    },
  });
}

/** Deterministic pseudo-random bytes (xorshift32), so a wrong offset on resume changes the digest. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** The commit a fake repo serves: the one its manifest pins (a pull asks for exactly that), else `fallback`. */
export function servedCommit(repo: string, fallback: string): string {
  const pinned = findManifest(repo)?.revision;
  return pinned && /^[0-9a-f]{40}$/.test(pinned) ? pinned : fallback;
}

/** A tiny GLaMM checkpoint and CLIP encoder in the official Hub layout (file names as in MBZUAI/GLaMM-*). */
export function fakeCheckpoint(glammRepo = "MBZUAI/GLaMM-GCG", clipRepo = "openai/clip-vit-large-patch14-336"): { glamm: FakeRepo; clip: FakeRepo } {
  const glamm: FakeRepo = {
    id: glammRepo,
    commit: "1111111111111111111111111111111111111111",
    files: {
      "config.json": json({ architectures: ["GLaMMForCausalLM"], mm_vision_tower: clipRepo, vision_tower: clipRepo, hidden_size: 64 }),
      "generation_config.json": json({ bos_token_id: 1, eos_token_id: 2 }),
      "pytorch_model-00001-of-00002.bin": pseudoRandomBytes(6000, 1),
      "pytorch_model-00002-of-00002.bin": pseudoRandomBytes(5000, 2),
      "pytorch_model.bin.index.json": json({ weight_map: { "a.weight": "pytorch_model-00001-of-00002.bin", "b.weight": "pytorch_model-00002-of-00002.bin" } }),
      "tokenizer.model": pseudoRandomBytes(2000, 3),
      "tokenizer_config.json": json({ model_max_length: 2048 }),
      "special_tokens_map.json": json({ bos_token: "<s>" }),
      "added_tokens.json": json({ "[SEG]": 32003 }),
    },
  };
  const clip: FakeRepo = {
    id: clipRepo,
    commit: servedCommit(clipRepo, "2".repeat(40)),
    files: {
      "config.json": json({ model_type: "clip" }),
      "preprocessor_config.json": json({ crop_size: 336 }),
      "pytorch_model.bin": pseudoRandomBytes(4000, 4),
    },
  };
  return { glamm, clip };
}

/**
 * Serves files of a git repository at a commit the way raw.githubusercontent.com does, under
 * `${server.url}/files/{repository}/{commit}/{path}`; returns the endpoint to put before `/{repository}`.
 */
export function serveRawGitFiles(server: HubServer, repository: string, commit: string, files: Record<string, Uint8Array>): string {
  for (const [path, body] of Object.entries(files)) server.addFile(`${repository}/${commit}/${path}`, body);
  return `${server.url}/files`;
}
