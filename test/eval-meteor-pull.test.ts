import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ExitCode } from "../src/cli/errors.ts";
import { chooseMeteorData } from "../src/eval/meteor/data.ts";
import { dataDir, installedDataDir, METEOR_DATA, pullData, type DataManifest } from "../src/eval/meteor/pull.ts";
import { runCaptionEvaluation } from "../src/eval/run.ts";
import { ProgressReporter } from "../src/hub/progress.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { gitBlobSha1, pseudoRandomBytes, serveRawGitFiles, startHubServer, type HubServer } from "./helpers/http-server.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const REPOSITORY = "test-org/meteor";

// Small stand-ins in the repository layout; the big one is cut mid-transfer in the resume test.
const FILES: Record<string, Uint8Array> = {
  COPYING: new TextEncoder().encode("licence text\n"),
  "resources/function/english.words": new TextEncoder().encode("the\na\n"),
  "resources/synonym/english.synsets": pseudoRandomBytes(300_000, 7),
  "data/paraphrase-en.gz": pseudoRandomBytes(5_000, 8),
};

/** The manifest the tests pull: sizes pinned except for the paraphrase table, as in models/meteor-1.5.json. */
function manifestFor(files: Record<string, Uint8Array>): DataManifest {
  return {
    ...METEOR_DATA,
    repository: REPOSITORY,
    commit: COMMIT,
    files: Object.entries(files).map(([path, body]) => ({ path, gitBlob: gitBlobSha1(body), ...(path.endsWith(".gz") ? {} : { size: body.byteLength }) })),
  };
}
const MANIFEST = manifestFor(FILES);

let server: HubServer;
let endpoint: string;
let root: string;
let counter = 0;
const freshEnv = () => ({ GLAMM_HOME: join(root, `home-${counter++}`), GLAMM_METEOR_ENDPOINT: endpoint });

beforeAll(() => {
  server = startHubServer();
  endpoint = serveRawGitFiles(server, REPOSITORY, COMMIT, FILES);
  root = mkdtempSync(join(tmpdir(), "glamm-meteor-pull-"));
});
afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

/** Every file under dir, relative, sorted. */
function listTree(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listTree(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

function expectInstalled(env: Record<string, string>): void {
  const dir = dataDir(MANIFEST, env);
  expect(installedDataDir(MANIFEST, env)).toBe(dir);
  expect(listTree(dir)).toEqual([...Object.keys(FILES), "install.json"].sort());
  for (const [path, body] of Object.entries(FILES)) expect(gitBlobSha1(readFileSync(join(dir, path)))).toBe(gitBlobSha1(body));
}

describe("glamm pull meteor-1.5 (data files pinned by git blob id)", () => {
  test("downloads every file at the pinned commit, in the repository layout, and a second pull sends no request", async () => {
    const env = freshEnv();
    const lines: string[] = [];
    const progress = new ProgressReporter({ stream: { write: (t: string) => lines.push(t) }, live: false, label: "meteor-1.5" });
    const start = server.requests.length;
    const result = await pullData(MANIFEST, { env, progress });
    progress.finish();
    expect(result.upToDate).toBe(false);
    expect(server.requests.slice(start).map((r) => r.path).sort()).toEqual(Object.keys(FILES).map((p) => `/files/${REPOSITORY}/${COMMIT}/${p}`).sort());
    expect(result.downloadedBytes).toBe(Object.values(FILES).reduce((n, b) => n + b.byteLength, 0));
    expect(lines.at(-1)).toContain(`${Object.keys(FILES).length}/${Object.keys(FILES).length} files`);
    expectInstalled(env);
    const again = server.requests.length;
    expect((await pullData(MANIFEST, { env })).upToDate).toBe(true);
    expect(server.requests.length).toBe(again);
  });

  test("a corrupted download is discarded: nothing of it is kept, nothing is installed, the next pull succeeds", async () => {
    const env = freshEnv();
    server.faults.push({ pathIncludes: "data/paraphrase-en.gz", fault: { kind: "corrupt" } });
    await expectGlammError(pullData(MANIFEST, { env }), /checksum mismatch .*paraphrase-en\.gz: git blob id [0-9a-f]{40}, expected [0-9a-f]{40} .*discarded/, ExitCode.model);
    expect(installedDataDir(MANIFEST, env)).toBeUndefined();
    expect(existsSync(dataDir(MANIFEST, env))).toBe(false);
    const staged = listTree(`${dataDir(MANIFEST, env)}.partial`);
    expect(staged.filter((p) => p.startsWith("data/"))).toEqual([]);
    await pullData(MANIFEST, { env });
    expectInstalled(env);
  });

  test("an interrupted download resumes from where it stopped", async () => {
    const env = freshEnv();
    const path = "resources/synonym/english.synsets";
    server.faults.push({ pathIncludes: path, fault: { kind: "cut", afterBytes: 100_000 } });
    await expectGlammError(pullData(MANIFEST, { env }), /closed after \d+ of 300000 bytes.*run again to resume/, ExitCode.runtime);
    expect(installedDataDir(MANIFEST, env)).toBeUndefined();
    const start = server.requests.length;
    await pullData(MANIFEST, { env });
    const resumed = server.requests.slice(start).find((r) => r.path.endsWith(path));
    expect(resumed?.range).toMatch(/^bytes=[1-9]\d*-$/);
    expectInstalled(env);
  });

  test("--from takes the repository layout or an unpacked meteor-1.5.jar with data/, and checks every blob id", async () => {
    const write = (dir: string, files: Record<string, Uint8Array>) => {
      for (const [path, body] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), body);
      }
      return dir;
    };
    const repo = write(join(root, "from-repo"), FILES);
    const jar = write(join(root, "from-jar"), Object.fromEntries(Object.entries(FILES).map(([p, b]) => [p.replace(/^resources\//, ""), b])));
    for (const from of [repo, jar]) {
      const env = freshEnv();
      const start = server.requests.length;
      expect((await pullData(MANIFEST, { env, from })).record.source).toEqual({ kind: "dir", dir: from });
      expect(server.requests.length).toBe(start);
      expectInstalled(env);
    }
    const env = freshEnv();
    const tampered = write(join(root, "from-tampered"), { ...FILES, "resources/function/english.words": new TextEncoder().encode("the\n") });
    await expectGlammError(pullData(MANIFEST, { env, from: tampered }), /english\.words: git blob id [0-9a-f]{40}, expected /, ExitCode.input);
    rmSync(join(repo, "COPYING"));
    await expectGlammError(pullData(MANIFEST, { env, from: repo }), /no COPYING there/, ExitCode.input);
    expect(existsSync(dataDir(MANIFEST, env))).toBe(false);
  });
});

const SHARED = "../shared/meteor";
const haveShared = existsSync(`${SHARED}/cases.json`);
if (!haveShared) console.warn(`skipping pulled-METEOR evaluation checks: ${SHARED} is absent`);

describe.if(haveShared)("METEOR data as pulled (../shared/meteor)", () => {
  // The shared data is METEOR's own (same blob ids as the repository); the paraphrase table is the small one of cases.json (b).
  const repoPath: Record<string, string> = {
    "resources/function/english.words": "function/english.words",
    "resources/synonym/english.synsets": "synonym/english.synsets",
    "resources/synonym/english.exceptions": "synonym/english.exceptions",
    "resources/synonym/COPYING.WORDNET": "synonym/COPYING.WORDNET",
    "resources/nonbreaking/english.prefixes": "nonbreaking/english.prefixes",
    COPYING: "COPYING",
  };

  test("models/meteor-1.5.json pins the blob ids and sizes of METEOR 1.5's own files", () => {
    for (const file of METEOR_DATA.files.filter((f) => f.path in repoPath)) {
      const body = readFileSync(join(SHARED, "data", repoPath[file.path]));
      expect([file.path, file.gitBlob, file.size]).toEqual([file.path, gitBlobSha1(body), body.byteLength]);
    }
    expect(METEOR_DATA.files.map((f) => f.path).sort()).toEqual([...Object.keys(repoPath), "data/paraphrase-en.gz"].sort());
  });

  test("glamm eval uses the pulled data by default: the jar's values with paraphrases (b) and with --no-paraphrase (a)", async () => {
    const files = Object.fromEntries(Object.entries(repoPath).map(([path, local]) => [path, new Uint8Array(readFileSync(join(SHARED, "data", local)))]));
    files["data/paraphrase-en.gz"] = new Uint8Array(readFileSync(join(SHARED, "data/paraphrase/paraphrase-en-small.gz")));
    const manifest = manifestFor(files);
    const env = { ...freshEnv(), GLAMM_METEOR_ENDPOINT: serveRawGitFiles(server, REPOSITORY, COMMIT, files) };
    expect(chooseMeteorData({ paraphrase: true }, env, manifest)).toBeUndefined();
    await pullData(manifest, { env });

    const cases = JSON.parse(readFileSync(`${SHARED}/cases.json`, "utf8"));
    const dir = join(root, "cases-coco");
    mkdirSync(dir, { recursive: true });
    const images = cases.cases.map((c: { id: string }) => ({ id: c.id }));
    const annotations = cases.cases.flatMap((c: { id: string; references: string[] }) => c.references.map((caption) => ({ image_id: c.id, caption })));
    writeFileSync(join(dir, "references.json"), JSON.stringify({ images, annotations }));
    writeFileSync(join(dir, "candidates.json"), JSON.stringify(cases.cases.map((c: { id: string; hypothesis: string }) => ({ image_id: c.id, caption: c.hypothesis }))));

    for (const [config, paraphrase] of [["b", true], ["a", false]] as const) {
      const meteor = chooseMeteorData({ paraphrase }, env, manifest);
      expect(meteor?.description).toContain(dataDir(manifest, env));
      const record = runCaptionEvaluation({ candidates: join(dir, "candidates.json"), references: join(dir, "references.json"), meteor, tokenize: "none" });
      const want = cases.configs[config];
      expect(record.perImage!.map((row) => row.METEOR)).toEqual(want.segments.map((s: { score: number }) => s.score));
      expect(record.metrics.METEOR).toBe(want.aggregate_score);
    }
  });
});

describe("glamm pull meteor-1.5 on the command line", () => {
  // Asynchronous: the loopback server answers from this process's event loop.
  async function glamm(args: string[], env: Record<string, string>) {
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "../src/main.ts"), ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, status] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return { stdout, stderr, status };
  }

  test("a download whose content is not the pinned file fails with one line and installs nothing", async () => {
    // Other bytes of the right size under the real manifest's first path: only the blob id can tell.
    const env = freshEnv();
    const realEndpoint = serveRawGitFiles(server, METEOR_DATA.repository, METEOR_DATA.commit, { COPYING: pseudoRandomBytes(METEOR_DATA.files[0].size!, 9) });
    const r = await glamm(["pull", "meteor-1.5"], { ...env, GLAMM_METEOR_ENDPOINT: realEndpoint });
    expect(r.status).toBe(ExitCode.model);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^glamm: checksum mismatch .*\/COPYING: git blob id [0-9a-f]{40}, expected e5ab03e1238af66de157fae2e6270d7e8f967f93 .*discarded$/);
    expect(r.stderr).not.toContain("    at ");
    expect(existsSync(dataDir(METEOR_DATA, env))).toBe(false);
    expect(listTree(`${dataDir(METEOR_DATA, env)}.partial`)).toEqual([]);
  });

  test("--from a folder without the paraphrase table names the missing file", async () => {
    const env = freshEnv();
    const r = await glamm(["pull", "meteor-1.5", "--from", root], env);
    expect(r.status).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/no COPYING there/);
  });
});
