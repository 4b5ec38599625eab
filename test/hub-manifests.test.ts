import { expect, test } from "bun:test";
import { GlammError } from "../src/cli/errors.ts";
import { defaultModelFor, findManifest, manifests, parsePullSpec } from "../src/hub/manifests.ts";

test("every manifest names a Hub repo, files, and a vision dependency that is itself a manifest", () => {
  expect(manifests.map((m) => m.name).sort()).toEqual(
    ["bert-base-uncased", "clip-vit-large-patch14-336", "difflmm-7b", "glamm-fullscope", "glamm-gcg", "glamm-refseg", "glamm-regcap-refcocog", "glamm-regcap-vg", "llava-v1.5-13b", "llava-v1.5-7b", "sam-vit-h",
    "sdxl-inpaint", "stable-diffusion-v1-5", "vicuna-7b-v1.5"].sort(),
  );
  for (const m of manifests) {
    expect(m.repo).toMatch(/^[\w.-]+\/[\w.-]+$/);
    expect(m.files.length).toBeGreaterThan(0);
    if (m.vision) expect(findManifest(m.vision)?.repo).toBe("openai/clip-vit-large-patch14-336");
  }
  expect(findManifest("glamm-gcg")?.files).toContain("pytorch_model.bin.index.json");
  for (const m of manifests) for (const dependency of m.requires ?? []) expect(findManifest(dependency), `${m.name} requires ${dependency}`).toBeDefined();
});

test("each task has a default model that serves it", () => {
  for (const task of ["chat", "gcg", "refseg", "regcap"]) expect(defaultModelFor(task).tasks).toContain(task);
  expect(() => defaultModelFor("dance")).toThrow(GlammError);
});

test("pull specs: short names, repo ids, @revision", () => {
  expect(parsePullSpec("glamm-gcg")).toMatchObject({ repo: "MBZUAI/GLaMM-GCG", revision: "main" });
  expect(parsePullSpec("MBZUAI/GLaMM-GCG@v1")).toMatchObject({ repo: "MBZUAI/GLaMM-GCG", revision: "v1", manifest: { name: "glamm-gcg" } });
  expect(parsePullSpec("someone/other@abc")).toEqual({ repo: "someone/other", revision: "abc" });
  expect(() => parsePullSpec("no-such-model")).toThrow(/unknown model "no-such-model"/);
  expect(() => parsePullSpec("glamm-gcg@")).toThrow(/empty revision/);
});

test("manifests pin full commits (or follow main), and name no repo the Hub deleted", () => {
  for (const m of manifests) {
    expect(m.revision).toMatch(/^(main|[0-9a-f]{40})$/);
    expect(m.repo).not.toStartWith("runwayml/"); // deleted on the Hub: stable-diffusion-v1-5/stable-diffusion-v1-5
  }
});

test("pull specs: revisions with slashes, none leaving refs/", () => {
  expect(parsePullSpec("MBZUAI/GLaMM-GCG@refs/pr/1")).toMatchObject({ repo: "MBZUAI/GLaMM-GCG", revision: "refs/pr/1" });
  expect(parsePullSpec("someone/other@feature/x")).toEqual({ repo: "someone/other", revision: "feature/x" });
  for (const bad of ["someone/other@../../etc", "someone/other@refs//pr", "someone/other@/abs"]) expect(() => parsePullSpec(bad)).toThrow(/is not a revision name/);
});
