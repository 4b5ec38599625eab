import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pullModel, readInstallRecord } from "../src/hub/store.ts";
import { expectGlammError } from "./helpers/expect-error.ts";
import { fakeCheckpoint, sha256Hex, type FakeRepo } from "./helpers/http-server.ts";

let root: string;
const { glamm, clip } = fakeCheckpoint();

function writeRepo(dir: string, repo: FakeRepo): void {
  for (const [file, content] of Object.entries(repo.files)) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), content as Uint8Array);
  }
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "glamm-from-"));
  writeRepo(join(root, "src", "GLaMM-GCG"), glamm);
  writeRepo(join(root, "src", "clip-vit-large-patch14-336"), clip);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The network is unreachable in these envs: --from must not touch it.
const offlineEnv = (name: string) => ({ GLAMM_HOME: join(root, name, "glamm"), HF_HOME: join(root, name, "hf"), HF_ENDPOINT: "http://127.0.0.1:1" });

test("--from DIR installs the official layout and the vision tower found beside it, without the network", async () => {
  const env = offlineEnv("a");
  const results = await pullModel("glamm-gcg", { env, from: join(root, "src", "GLaMM-GCG") });
  expect(results.map((r) => [r.record.name, r.record.source.kind, r.upToDate])).toEqual([
    ["glamm-gcg", "dir", false],
    ["clip-vit-large-patch14-336", "dir", false],
  ]);
  const record = readInstallRecord("glamm-gcg", env)!;
  expect(record.files.map((f) => [f.path, f.sha256]).sort()).toEqual(
    Object.entries(glamm.files).map(([file, content]) => [file, sha256Hex(content as Uint8Array)]).sort(),
  );
  for (const file of Object.keys(glamm.files)) expect(sha256Hex(readFileSync(join(record.dir, file)))).toBe(sha256Hex(glamm.files[file] as Uint8Array));
  expect(record.dependencies).toEqual(["clip-vit-large-patch14-336"]);
});

test("--from DIR again with unchanged files is a no-op, a touched file reinstalls", async () => {
  const env = offlineEnv("b");
  const from = join(root, "src", "GLaMM-GCG");
  await pullModel("glamm-gcg", { env, from });
  expect((await pullModel("glamm-gcg", { env, from })).map((r) => r.upToDate)).toEqual([true, true]);
  utimesSync(join(from, "config.json"), new Date(), new Date(Date.now() + 5000));
  expect((await pullModel("glamm-gcg", { env, from })).map((r) => r.upToDate)).toEqual([false, true]);
});

test("--from a folder without config.json is an input error", async () => {
  await expectGlammError(pullModel("glamm-gcg", { env: offlineEnv("c"), from: join(root, "nowhere") }), /no config\.json/, 2);
});

const tiny = join(import.meta.dir, "..", "..", "shared", "oracle", "tiny-a");
test.skipIf(!existsSync(tiny))(`--from the oracle's tiny checkpoint installs it with its relative vision tower (skipped when ${tiny} is absent)`, async () => {
  const env = offlineEnv("d");
  const results = await pullModel("glamm-gcg", { env, from: join(tiny, "glamm") });
  expect(results.map((r) => r.record.name)).toEqual(["glamm-gcg", "clip-vit-tiny-336"]);
  const weights = results[0].record.files.find((f) => f.path === "pytorch_model.bin")!;
  expect(weights.sha256).toBe(sha256Hex(readFileSync(join(tiny, "glamm", "pytorch_model.bin"))));
});
