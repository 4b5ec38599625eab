import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Cli } from "clipanion";
import ModelsCommand from "../commands/models.ts";
import PullCommand from "../commands/pull.ts";
import { withFileLock } from "../src/hub/lock.ts";
import { fakeCheckpoint, sha256Hex, startHubServer, type HubServer } from "./helpers/http-server.ts";

let server: HubServer;
let root: string;
const { glamm, clip } = fakeCheckpoint();
const saved = { ...process.env };

beforeAll(() => {
  server = startHubServer();
  server.addRepo(glamm);
  server.addRepo(clip);
  root = mkdtempSync(join(tmpdir(), "glamm-cmd-"));
});
afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
  for (const key of ["GLAMM_HOME", "HF_HOME", "HF_ENDPOINT"]) process.env[key] = saved[key];
});

function capture(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (chunks.push(Buffer.from(chunk)), done()) });
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = new Cli({ binaryName: "glamm" });
  cli.register(PullCommand);
  cli.register(ModelsCommand);
  const out = capture();
  const err = capture();
  const code = await cli.run(args, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

test("glamm pull --json then glamm models --json report the install", async () => {
  Object.assign(process.env, { GLAMM_HOME: join(root, "a", "glamm"), HF_HOME: join(root, "a", "hf"), HF_ENDPOINT: server.url });
  const pulled = await run(["pull", "glamm-gcg", "--json"]);
  expect(pulled.code).toBe(0);
  const results = JSON.parse(pulled.stdout) as { name: string; commit: string; upToDate: boolean; size: number }[];
  const glammBytes = Object.values(glamm.files).reduce((n, c) => n + (c as Uint8Array).byteLength, 0);
  expect(results.map((r) => [r.name, r.commit, r.upToDate])).toEqual([
    ["glamm-gcg", glamm.commit, false],
    ["clip-vit-large-patch14-336", clip.commit, false],
  ]);
  expect(results[0].size).toBe(glammBytes);

  const listed = await run(["models", "--json"]);
  const models = JSON.parse(listed.stdout) as { name: string; installed: boolean; size?: number }[];
  expect(models.find((m) => m.name === "glamm-gcg")).toMatchObject({ installed: true, size: glammBytes });
  expect(models.find((m) => m.name === "glamm-refseg")).toMatchObject({ installed: false });

  const table = await run(["models"]);
  expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+HUB REPO\s+COMMIT\s+INSTALLED\s+CONVERTED\s+TASKS$/);
  expect(table.stdout).toMatch(new RegExp(`glamm-gcg\\s+MBZUAI/GLaMM-GCG\\s+${glamm.commit.slice(0, 10)}\\s+\\d`));
  expect(table.stdout).toMatch(/glamm-refseg\s+MBZUAI\/GLaMM-RefSeg\s+-\s+-/);

  const again = await run(["pull", "glamm-gcg"]);
  expect(again.stdout).toBe(`glamm-gcg: MBZUAI/GLaMM-GCG@main (${glamm.commit.slice(0, 10)}): up to date\nclip-vit-large-patch14-336: openai/clip-vit-large-patch14-336@${clip.commit.slice(0, 10)}: up to date\n`);
});

test("two glamm processes pulling the same model at once both succeed with one intact copy", async () => {
  const env = { ...process.env, GLAMM_HOME: join(root, "b", "glamm"), HF_HOME: join(root, "b", "hf"), HF_ENDPOINT: server.url };
  const main = join(import.meta.dir, "..", "src", "main.ts");
  const spawn = () => Bun.spawn([process.execPath, main, "pull", "glamm-gcg", "--json"], { env, stdout: "pipe", stderr: "pipe" });
  const children = [spawn(), spawn()];
  const codes = await Promise.all(children.map((c) => c.exited));
  const stderr = await Promise.all(children.map((c) => new Response(c.stderr).text()));
  if (codes.some((code) => code !== 0)) console.error(stderr.join("\n"));
  expect(codes).toEqual([0, 0]);
  const record = JSON.parse(readFileSync(join(env.GLAMM_HOME, "models", "glamm-gcg", "install.json"), "utf8")) as { dir: string; files: { path: string }[] };
  for (const { path } of record.files) expect(sha256Hex(readFileSync(join(record.dir, path)))).toBe(sha256Hex(glamm.files[path] as Uint8Array));
});

test("two glamm processes with one Hugging Face cache wait on huggingface_hub's blob lock and download the blob once", async () => {
  const hfHome = join(root, "c", "hf");
  const shard = glamm.files["pytorch_model-00001-of-00002.bin"] as Uint8Array;
  const lock = join(hfHome, "hub", ".locks", "models--MBZUAI--GLaMM-GCG", `${sha256Hex(shard)}.lock`);
  const main = join(import.meta.dir, "..", "src", "main.ts");
  const before = server.requests.length;
  // Separate glamm stores, so only the blob lock in the shared cache stands between the two processes.
  const spawn = (store: string) =>
    Bun.spawn([process.execPath, main, "pull", "glamm-gcg", "--json"], {
      env: { ...process.env, GLAMM_HOME: join(root, "c", store), HF_HOME: hfHome, HF_ENDPOINT: server.url },
      stdout: "pipe",
      stderr: "pipe",
    });
  let children: ReturnType<typeof spawn>[] = [];
  const stderr = ["", ""];
  // The test holds the blob's lock until both processes say they are waiting for it.
  await withFileLock(lock, async () => {
    children = [spawn("one"), spawn("two")];
    children.forEach((child, i) =>
      void (async () => {
        for await (const chunk of child.stderr) stderr[i] += new TextDecoder().decode(chunk);
      })(),
    );
    const deadline = Date.now() + 30_000;
    while (!stderr.every((text) => text.includes("is being downloaded by another process; waiting")) && Date.now() < deadline) await Bun.sleep(50);
  });
  const codes = await Promise.all(children.map((c) => c.exited));
  if (codes.some((code) => code !== 0)) console.error(stderr.join("\n"));
  expect(codes).toEqual([0, 0]);
  expect(stderr.every((text) => text.includes("pytorch_model-00001-of-00002.bin is being downloaded by another process; waiting"))).toBe(true);
  const shardGets = server.requests.slice(before).filter((r) => r.origin === "cdn" && r.path === `/blobs/${sha256Hex(shard)}`);
  expect(shardGets.length).toBe(1);
});
