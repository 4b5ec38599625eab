import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHubServer, type FakeRepo, type HubServer, type HubServerOptions } from "./http-server.ts";

/**
 * A loopback Hub serving `repos` for the test file that calls this (started before its tests, closed after), and a
 * scratch folder named from `prefix` that `freshEnv` hands out per case.
 */
export function useLoopbackHub(repos: readonly FakeRepo[], prefix: string, options: HubServerOptions = {}) {
  let server: HubServer | undefined;
  let root = "";
  let counter = 0;
  beforeAll(() => {
    server = startHubServer(options);
    for (const repo of repos) server.addRepo(repo);
    root = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    server?.close();
    rmSync(root, { recursive: true, force: true });
  });
  const started = (): HubServer => {
    if (!server) throw new Error("the loopback Hub starts in beforeAll");
    return server;
  };
  return {
    get server(): HubServer {
      return started();
    },
    /** A fresh GLAMM_HOME and HF_HOME pointing at the loopback Hub. */
    freshEnv(extra: Record<string, string> = {}): Record<string, string> {
      const dir = join(root, `case-${counter++}`);
      return { GLAMM_HOME: join(dir, "glamm"), HF_HOME: join(dir, "hf"), HF_ENDPOINT: started().url, ...extra };
    },
  };
}
