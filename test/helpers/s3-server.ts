import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * An S3-compatible server (s3rver) on 127.0.0.1 with the given buckets. `failEvery` N answers every Nth request 503;
 * `stallEvery` N never answers every Nth upload (PUT; until released): only a client-side timeout gets past it.
 */
export interface S3TestServer {
  endpoint: string;
  /** Credentials s3rver accepts. */
  env: Record<string, string>;
  /** Requests seen and requests failed on purpose so far. */
  stats: { requests: number; failed: number; stalled: number };
  failEvery: number;
  stallEvery: number;
  /** Lets every stalled request go on. */
  releaseStalled(): void;
  close(): Promise<void>;
}

// s3rver is a devDependency; without it (no `npm ci`) the S3 tests are skipped with this reason.
const S3rver: any = await import("s3rver").then((m) => m.default, () => undefined);
export const s3ServerMissing = S3rver ? "" : "the s3rver devDependency is not installed (npm ci)";

export async function startS3Server(buckets: string[]): Promise<S3TestServer> {
  const stalled: (() => void)[] = [];
  let puts = 0;
  const directory = mkdtempSync(join(tmpdir(), "glamm-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const state: S3TestServer = {
    endpoint: "",
    env: {},
    stats: { requests: 0, failed: 0, stalled: 0 },
    failEvery: 0,
    stallEvery: 0,
    releaseStalled: () => {
      for (const release of stalled.splice(0)) release();
    },
    close: async () => {
      state.releaseStalled();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  // First in s3rver's Koa middleware chain: a flaky store that throttles some requests before they are handled.
  server.middleware.unshift(async (ctx: any, next: () => Promise<void>) => {
    state.stats.requests++;
    if (state.failEvery > 0 && state.stats.requests % state.failEvery === 0) {
      state.stats.failed++;
      ctx.status = 503;
      ctx.type = "application/xml";
      ctx.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
      return;
    }
    if (ctx.method === "PUT" && state.stallEvery > 0 && ++puts % state.stallEvery === 0) {
      state.stats.stalled++;
      await new Promise<void>((release) => stalled.push(release));
    }
    await next();
  });
  const { port } = await server.run();
  state.endpoint = `http://127.0.0.1:${port}`;
  state.env = { S3_ENDPOINT: state.endpoint, S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER", S3_REGION: "us-east-1" };
  return state;
}
