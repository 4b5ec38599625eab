import { ExitCode, GlammError } from "../cli/errors.ts";
import { httpError, NetworkError } from "./download.ts";

/** What the Hub said about a failed request, from its X-Error-Code header (as huggingface_hub's hf_raise_for_status reads it). */
export type HubErrorKind = "repo-not-found" | "revision-not-found" | "entry-not-found" | "gated" | "invalid-token" | "disabled" | "http";

/** A Hub answer with an error status; `kind` decides whether a cached copy may stand in (see canUseCache). */
export class HubHttpError extends GlammError {
  constructor(
    message: string,
    readonly kind: HubErrorKind,
    readonly status: number,
    exitCode: ExitCode,
  ) {
    super(message, exitCode);
  }
}

export interface HubRequestContext {
  endpoint: string;
  repo: string;
  revision: string;
  /** The file, for resolve requests. */
  file?: string;
  /** Whether an Authorization header was sent. */
  tokenSent: boolean;
}

/** One line per Hub error code, naming what is missing and what to do. */
export function hubResponseError(response: Response, url: string, context: HubRequestContext): HubHttpError {
  const status = response.status;
  const code = response.headers.get("x-error-code");
  const serverMessage = response.headers.get("x-error-message");
  const { endpoint, repo, revision, file } = context;
  const model = (message: string, kind: HubErrorKind) => new HubHttpError(message, kind, status, ExitCode.model);
  if (code === "RevisionNotFound") return model(`revision "${revision}" not found in ${repo} (HTTP ${status}, RevisionNotFound); use a branch, tag, commit or refs/pr/N of ${endpoint}/${repo}`, "revision-not-found");
  if (code === "EntryNotFound") return model(`${file ?? "the file"} not found in ${repo} at revision ${revision} (HTTP ${status}, EntryNotFound): ${url}`, "entry-not-found");
  if (code === "GatedRepo") {
    const account = context.tokenSent ? "the account of HF_TOKEN has not been granted access" : "no token was sent";
    return model(`${repo} is a gated repo and ${account} (HTTP ${status}, GatedRepo); accept its terms at ${endpoint}/${repo} while logged in, then set HF_TOKEN to a read token of that account`, "gated");
  }
  if (serverMessage === "Access to this resource is disabled.") return model(`${repo} is disabled on ${endpoint} (HTTP ${status}): access to it was turned off by the Hub`, "disabled");
  if (status === 401 && serverMessage === "Invalid credentials in Authorization header") {
    return model(`${endpoint} rejected the token (HTTP 401, invalid credentials); check HF_TOKEN (or the token file under HF_HOME), or unset it for public repos`, "invalid-token");
  }
  if (code === "RepoNotFound" || status === 401) {
    const hint = context.tokenSent
      ? "check the name, and that the token in HF_TOKEN can read it"
      : "check the name; a private repo looks the same when no token is sent (set HF_TOKEN)";
    return model(`repository ${repo} not found on ${endpoint} (HTTP ${status}${code ? `, ${code}` : ""}); ${hint}`, "repo-not-found");
  }
  if (status === 403) {
    const why = serverMessage ? `: ${serverMessage}` : "";
    return model(`access to ${url} denied (HTTP 403${why}); make sure the token in HF_TOKEN has read access to ${repo}`, "http");
  }
  const generic = httpError(status, url);
  return new HubHttpError(generic.message, "http", status, generic.exitCode);
}

/**
 * Whether a cached copy may stand in for this failure, as in huggingface_hub's _get_metadata_or_catch_error: any HTTP
 * error (an outage, an auth problem, a rate limit) or no usable answer, but never a revision or file the Hub says does
 * not exist.
 */
export function canUseCache(error: unknown): boolean {
  if (error instanceof HubHttpError) return error.kind !== "revision-not-found" && error.kind !== "entry-not-found";
  return error instanceof NetworkError;
}
