import { existsSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { modelError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";
import { defaultModelFor, findManifest } from "../hub/manifests.ts";
import { readInstallRecord } from "../hub/store.ts";
import { writeTinyCheckpoint } from "../models/tiny-checkpoint.ts";
import { glammHome } from "../runtime/paths.ts";
import { readJsonObject } from "../util/json.ts";
import type { GlammSources } from "./convert.ts";

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** The built-in demo: a random-weight checkpoint written by glamm itself, so every command runs without a download. */
export const DEMO_MODEL = "demo";

function demoSources(): GlammSources {
  const dir = join(glammHome(), "demo");
  if (!existsSync(join(dir, "glamm", "model.safetensors"))) writeTinyCheckpoint(dir, 0);
  return { glamm: join(dir, "glamm"), clip: join(dir, "clip") };
}

/**
 * The CLIP tower a checkpoint names in config.json (mm_vision_tower / vision_tower): a folder next to or inside the
 * checkpoint (paths are relative to its parent, as the official layout writes them), else an installed model.
 */
function visionFor(glamm: string): string {
  const config = readJsonObject(join(glamm, "config.json"));
  const raw = config.mm_vision_tower ?? config.vision_tower;
  if (typeof raw !== "string" || !raw) throw modelError(`${glamm}/config.json names no vision tower; pass --vision DIR`);
  const local = isAbsolute(raw) ? [raw] : [join(dirname(glamm), raw), join(glamm, raw), join(dirname(glamm), basename(raw))];
  const found = local.find((dir) => existsSync(join(dir, "config.json")));
  if (found) return found;
  const record = readInstallRecord(findManifest(raw)?.name ?? raw);
  if (record) return record.dir;
  throw modelError(`vision tower ${raw} (from ${glamm}/config.json) is not installed; run \`glamm pull ${raw}\` or pass --vision DIR`);
}

function installedSources(name: string): GlammSources | undefined {
  const record = readInstallRecord(findManifest(name)?.name ?? name);
  if (!record) return undefined;
  const vision = record.dependencies[0] ? readInstallRecord(record.dependencies[0]) : undefined;
  return { glamm: record.dir, clip: vision?.dir ?? visionFor(record.dir) };
}

/**
 * What `--model` names: a checkpoint folder in the official layout, an installed model (manifest name or Hub repo id),
 * or nothing: the task's default model when it is installed, else the built-in demo model (with a notice).
 */
export function resolveGlammSources(model: string | undefined, vision: string | undefined, task = "gcg"): GlammSources {
  let sources: GlammSources;
  if (model === DEMO_MODEL) sources = demoSources();
  else if (model && isDir(model)) {
    if (!existsSync(join(model, "config.json"))) throw modelError(`${model} is not a checkpoint folder: it has no config.json`);
    sources = { glamm: resolve(model), clip: vision ? resolve(vision) : visionFor(resolve(model)) };
  } else if (model) {
    const installed = installedSources(model);
    if (!installed) throw modelError(`model ${model} is not installed and is not a folder; run \`glamm pull ${model}\` (or see \`glamm models\`)`);
    sources = installed;
  } else {
    const installed = installedSources(defaultModelFor(task).name);
    if (!installed) notice(`no model installed: using the built-in random-weight demo model (a plumbing demo, not real output); \`glamm pull ${defaultModelFor(task).name}\` installs the real one`);
    sources = installed ?? demoSources();
  }
  if (vision) sources = { ...sources, clip: resolve(vision) };
  if (!existsSync(join(sources.clip, "config.json"))) throw modelError(`vision tower folder ${sources.clip} has no config.json`);
  return sources;
}
