import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installedVision } from "../src/pipeline/attend/task.ts";

// An installed LLaVA's config names its CLIP tower by Hub id; the attend backend must use the CLIP record it was
// pulled with (its first dependency) instead.
const home = mkdtempSync(join(tmpdir(), "glamm-installed-vision-"));
const savedHome = process.env.GLAMM_HOME;

function writeRecord(name: string, dir: string, dependencies: string[]): void {
  const record = { name, repo: `org/${name}`, revision: "main", source: { kind: "hub", endpoint: "http://127.0.0.1" }, dir, files: [], dependencies, installedAt: "2026-12-03T00:00:00Z" };
  mkdirSync(join(home, "models", name), { recursive: true });
  writeFileSync(join(home, "models", name, "install.json"), JSON.stringify(record));
}

beforeAll(() => {
  process.env.GLAMM_HOME = home;
  writeRecord("clip-vit-large-patch14-336", "/snapshots/clip", []);
  writeRecord("llava-v1.5-7b", "/snapshots/llava", ["clip-vit-large-patch14-336"]);
  writeRecord("sam-vit-h", "/snapshots/sam", []);
});
afterAll(() => {
  if (savedHome === undefined) delete process.env.GLAMM_HOME;
  else process.env.GLAMM_HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

test("an installed LLaVA's folder gives the folder of the CLIP record it was pulled with", () => {
  expect(installedVision("/snapshots/llava")).toBe("/snapshots/clip");
});

test("a folder no record installed, or one without dependencies, gives none (the config's tower is used)", () => {
  expect(installedVision("/somewhere/else")).toBeUndefined();
  expect(installedVision("/snapshots/sam")).toBeUndefined();
});
