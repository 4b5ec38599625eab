import { usageError } from "../cli/errors.ts";
import bertBaseUncased from "../../models/bert-base-uncased.json" with { type: "json" };
import difflmm7b from "../../models/difflmm-7b.json" with { type: "json" };
import clipVitLarge336 from "../../models/clip-vit-large-patch14-336.json" with { type: "json" };
import glammFullscope from "../../models/glamm-fullscope.json" with { type: "json" };
import glammGcg from "../../models/glamm-gcg.json" with { type: "json" };
import glammRefseg from "../../models/glamm-refseg.json" with { type: "json" };
import glammRegcapRefcocog from "../../models/glamm-regcap-refcocog.json" with { type: "json" };
import glammRegcapVg from "../../models/glamm-regcap-vg.json" with { type: "json" };
import llava13b from "../../models/llava-v1.5-13b.json" with { type: "json" };
import llava7b from "../../models/llava-v1.5-7b.json" with { type: "json" };
import samVitH from "../../models/sam-vit-h.json" with { type: "json" };
import sdxlInpaint from "../../models/sdxl-inpaint.json" with { type: "json" };
import stableDiffusion15 from "../../models/stable-diffusion-v1-5.json" with { type: "json" };
import vicuna7b from "../../models/vicuna-7b-v1.5.json" with { type: "json" };

/** A known model: where it lives on the Hub and what it is for (models/*.json, embedded in the binary). */
export interface ModelManifest {
  name: string;
  repo: string;
  revision: string;
  description: string;
  /** Tasks the model serves: chat, gcg, refseg, regcap. */
  tasks: string[];
  /** Tasks for which this is the model used when none is named. */
  defaultFor: string[];
  /** Manifest name of the image encoder it needs, when its config.json does not say. */
  vision?: string;
  /** Other manifests pulled with it (DiffLMM: its base LLM, CLIP and SAM). */
  requires?: string[];
  files: string[];
}

export const manifests: readonly ModelManifest[] = [
  glammFullscope,
  glammGcg,
  glammRefseg,
  glammRegcapRefcocog,
  glammRegcapVg,
  clipVitLarge336,
  llava7b,
  llava13b,
  samVitH,
  bertBaseUncased,
  difflmm7b,
  vicuna7b,
  stableDiffusion15,
  sdxlInpaint,
];

export function findManifest(nameOrRepo: string): ModelManifest | undefined {
  const key = nameOrRepo.toLowerCase();
  return manifests.find((m) => m.name === key || m.repo.toLowerCase() === key);
}

export function defaultModelFor(task: string): ModelManifest {
  const manifest = manifests.find((m) => m.defaultFor.includes(task));
  if (!manifest) throw usageError(`no default model for task "${task}"; known tasks: ${[...new Set(manifests.flatMap((m) => m.tasks))].join(", ")}`);
  return manifest;
}

/** What `glamm pull NAME[@rev]` asks for: a manifest short name or any Hub repo id, and an optional revision. */
export interface PullSpec {
  repo: string;
  revision: string;
  manifest?: ModelManifest;
}

const repoIdPattern = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function parsePullSpec(spec: string): PullSpec {
  const at = spec.lastIndexOf("@");
  const name = at > 0 ? spec.slice(0, at) : spec;
  const revision = at > 0 ? spec.slice(at + 1) : undefined;
  if (revision === "") throw usageError(`"${spec}": empty revision after @`);
  // A revision names a file under refs/ in the cache (refs/pr/1 -> refs/refs/pr/1): no way out of that folder.
  if (revision?.split("/").some((part) => part === "" || part === "." || part === "..")) throw usageError(`"${spec}": "${revision}" is not a revision name`);
  const manifest = findManifest(name);
  if (manifest) return { repo: manifest.repo, revision: revision ?? manifest.revision, manifest };
  if (repoIdPattern.test(name)) return { repo: name, revision: revision ?? "main" };
  throw usageError(`unknown model "${name}": use one of ${manifests.map((m) => m.name).join(", ")} or a Hub repo id like org/name`);
}
