import { GlammError, inputError, runtimeError } from "../cli/errors.ts";

/** s3://bucket/key: `key` is "" for a whole bucket and ends in "/" for a prefix. */
export interface S3Location {
  bucket: string;
  key: string;
}

export const isS3Url = (text: string): boolean => text.startsWith("s3://");

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match || !match[1]) throw inputError(`not an s3://bucket/key address: ${url}`);
  return { bucket: match[1], key: match[2] };
}

export const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;

/** Errors of the request itself: retrying cannot help. */
const PERMANENT = new Set(["NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName", "InvalidArgument", "InvalidRequest", "MethodNotAllowed", "NotImplemented"]);
const AUTH = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"]);

const errorCode = (error: unknown): string => String((error as { code?: unknown })?.code ?? (error as Error)?.name ?? "");

/** Bun's client codes its own argument errors ERR_S3_*: a configuration problem, not a flaky server. */
const isRetryable = (code: string) => !PERMANENT.has(code) && !code.startsWith("ERR_S3_");

/** One line for what went wrong with `what` (an s3:// address), naming the fix where there is one. */
export function s3Error(error: unknown, what: string, bucket: string): GlammError {
  const code = errorCode(error);
  const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
  if (AUTH.has(code)) return runtimeError(`S3 refused access to ${what} (${code}): check S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY (or AWS_*) and the bucket's permissions`);
  if (code === "NoSuchBucket") return inputError(`no such S3 bucket: ${bucket} (endpoint ${s3Settings().endpoint ?? "AWS"})`);
  if (code === "NoSuchKey") return inputError(`no such S3 object: ${what}`);
  if (code === "ERR_S3_MISSING_CREDENTIALS") return runtimeError(`no S3 credentials for ${what}: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or AWS_*), and S3_ENDPOINT for a store other than AWS`);
  return runtimeError(`S3 request for ${what} failed (${code || "error"}): ${message}`);
}

/** Credentials and endpoint from the standard S3_* / AWS_* variables (Bun reads them only at start-up). */
export function s3Settings(env: NodeJS.ProcessEnv = process.env) {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");
  return {
    accessKeyId: pick("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
    secretAccessKey: pick("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    sessionToken: pick("S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
    region: pick("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    endpoint: pick("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"),
  };
}

export interface RetryPolicy {
  attempts: number;
  /** First wait in milliseconds; doubled after every failure, with jitter. */
  baseMs: number;
  /** A request that has not answered after this long is abandoned and tried again. */
  timeoutMs: number;
}

export const defaultRetry = (env: NodeJS.ProcessEnv = process.env): RetryPolicy => ({
  attempts: Math.max(1, Number(env.GLAMM_S3_ATTEMPTS) || 6),
  baseMs: Math.max(0, Number(env.GLAMM_S3_BACKOFF_MS ?? 250)),
  timeoutMs: Math.max(1, Number(env.GLAMM_S3_TIMEOUT_MS) || 120_000),
});

/** The request's result, or a RequestTimeout error (retryable) when it takes longer than `ms`. */
async function withTimeout<T>(request: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${ms} ms`), { code: "RequestTimeout" })), ms);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A bucket, with every request retried with exponential backoff on server errors, throttling and timeouts. */
export class S3Bucket {
  private readonly client: Bun.S3Client;

  constructor(
    readonly bucket: string,
    private readonly retry: RetryPolicy = defaultRetry(),
  ) {
    const settings = s3Settings();
    this.client = new Bun.S3Client({ bucket, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) });
  }

  private async attempt<T>(key: string, request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withTimeout(request(), this.retry.timeoutMs);
      } catch (error) {
        if (!isRetryable(errorCode(error)) || attempt >= this.retry.attempts) throw s3Error(error, s3Url(this.bucket, key), this.bucket);
        const wait = this.retry.baseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        await Bun.sleep(wait);
      }
    }
  }

  /** Every key under the prefix (recursively), sorted. */
  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    const keys: { key: string; size: number }[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await this.attempt(prefix, () => this.client.list({ prefix, continuationToken }));
      for (const entry of page.contents ?? []) keys.push({ key: entry.key, size: entry.size ?? 0 });
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
    return keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  read(key: string): Promise<Uint8Array> {
    return this.attempt(key, async () => new Uint8Array(await this.client.file(key).arrayBuffer()));
  }

  /** undefined when the object does not exist. */
  async readIfExists(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.read(key);
    } catch (error) {
      if (error instanceof GlammError && error.message.startsWith("no such S3 object")) return undefined;
      throw error;
    }
  }

  /** A PUT: the object appears whole or not at all. */
  async write(key: string, data: Uint8Array | string, type?: string): Promise<void> {
    await this.attempt(key, () => this.client.write(key, data, type ? { type } : undefined));
  }
}
