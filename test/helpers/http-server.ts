import { createHash } from "node:crypto";

/**
 * A loopback stand-in for the Hugging Face Hub: `/{repo}/resolve/{rev}/{file}` with the Hub's headers, LFS files
 * redirected to a second ("CDN") origin, `/api/models/{repo}/revision/{rev}`, plain files under `/files/`, and
 * injectable faults (cut connection, stall, HTTP status, wrong content, ignored Range).
 */

export type Fault =
  | { kind: "cut"; afterBytes: number }
  | { kind: "short"; afterBytes: number }
  | { kind: "stall"; afterBytes: number }
  | { kind: "status"; status: number }
  | { kind: "corrupt" }
  | { kind: "ignore-range" };

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

interface Entry {
  body: Blob;
  sha256?: string;
}

export function startHubServer(): HubServer {
  const repos = new Map<string, FakeRepo>();
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

  const serve = (origin: RecordedRequest["origin"], handle: (req: Request, path: string) => Response | Promise<Response>) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = decodeURIComponent(new URL(req.url).pathname);
        record(origin, req, path);
        return handle(req, path);
      },
    });

  const cdn = serve("cdn", (req, path) => {
    // Signed CDN URLs reject credentials, as S3 does: a client must drop Authorization on the cross-origin hop.
    if (req.headers.get("authorization")) return new Response("credentials not accepted", { status: 400 });
    const entry = lfs.get(path.replace(/^\/blobs\//, ""));
    if (!entry) return new Response("no such blob", { status: 404 });
    return serveBody(req, entry, takeFault(path), pending);
  });

  const hub = serve("hub", (req, path) => {
    const fault = takeFault(path);
    if (fault?.kind === "status") return new Response(`fault ${fault.status}`, { status: fault.status });
    if (path.startsWith("/files/")) {
      const entry = plain.get(path.slice("/files/".length));
      return entry ? serveBody(req, entry, fault, pending) : new Response("not found", { status: 404 });
    }
    const api = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
    if (api) return apiResponse(repos, req, api[1], api[2]);
    const resolve = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (!resolve) return new Response("not found", { status: 404 });
    return resolveResponse(repos, lfs, cdn.url.origin, req, resolve[1], resolve[2], resolve[3], fault, pending);
  });

  return {
    url: hub.url.origin,
    cdnUrl: cdn.url.origin,
    requests,
    faults,
    addRepo(repo) {
      repos.set(repo.id, repo);
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

function repoFor(repos: Map<string, FakeRepo>, req: Request, id: string, rev: string): FakeRepo | Response {
  const repo = repos.get(id);
  const notFound = new Response(JSON.stringify({ error: "Repository not found" }), {
    status: 401, // the Hub answers 401 for both missing and private repos when no token is sent
    headers: { "X-Error-Code": "RepositoryNotFound" },
  });
  if (!repo) return req.headers.get("authorization") ? new Response("not found", { status: 404 }) : notFound;
  if (repo.token && req.headers.get("authorization") !== `Bearer ${repo.token}`) return notFound;
  if (rev !== "main" && rev !== repo.commit) return new Response("revision not found", { status: 404, headers: { "X-Error-Code": "RevisionNotFound" } });
  return repo;
}

function apiResponse(repos: Map<string, FakeRepo>, req: Request, id: string, rev: string): Response {
  const repo = repoFor(repos, req, id, rev);
  if (repo instanceof Response) return repo;
  const siblings = Object.keys(repo.files).map((rfilename) => ({ rfilename }));
  return Response.json({ id: repo.id, sha: repo.commit, siblings });
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
  const repo = repoFor(repos, req, id, rev);
  if (repo instanceof Response) return repo;
  const content = repo.files[file];
  if (!content) return new Response("entry not found", { status: 404, headers: { "X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit } });
  const bytes = content instanceof Blob ? new Uint8Array(await content.arrayBuffer()) : content;
  const common = { "X-Repo-Commit": repo.commit };
  if (bytes.byteLength >= lfsThreshold) {
    const sha = sha256Hex(bytes);
    lfs.set(sha, { body: new Blob([bytes]) });
    return new Response(null, {
      status: 302,
      headers: {
        ...common,
        Location: `${cdnOrigin}/blobs/${sha}`,
        ETag: `"${gitBlobSha1(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${bytes.byteLength}\n`))}"`,
        "X-Linked-Etag": `"${sha}"`,
        "X-Linked-Size": String(bytes.byteLength),
      },
    });
  }
  const entry = { body: new Blob([bytes]) };
  const headers = { ...common, ETag: `"${gitBlobSha1(bytes)}"` };
  if (req.method === "HEAD") return new Response(null, { headers: { ...headers, "Content-Length": String(bytes.byteLength) } });
  return serveBody(req, entry, fault, pending, headers);
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
    commit: "2222222222222222222222222222222222222222",
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
