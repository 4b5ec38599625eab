import { existsSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { modelError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";
import { defaultModelFor, findManifest } from "../hub/manifests.ts";
import { readInstallRecord } from "../hub/store.ts";
import { writeTinyCheckpoint } from "../models/tiny-checkpoint.ts";
import { glammHome, isReadOnlyError } from "../runtime/paths.ts";
import { readJsonObject } from "../util/json.ts";
import { DEMO_MARK, hasTrainedDemo, trainedDemo } from "./demo.ts";
import type { GlammSources } from "../convert/glamm.ts";

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** The built-in demo: the trained one of models/demo when this build has it (demo.ts), else a random-weight checkpoint. */
export const DEMO_MODEL = "demo";

/** Whether the built-in demo is the trained one: true once models/demo holds a trained GLaMM (training/README.md). */
export const demoIsTrained = (): boolean => hasTrainedDemo("glamm");

/** How results name the built-in demo. */
export const demoModelId = (): string => (demoIsTrained() ? "glamm-demo (trained on synthetic shapes)" : "glamm-demo (random weights)");

/** The random-weight demo, written by glamm itself at first use so that every command runs without a download. */
function randomDemoSources(): GlammSources {
  const dir = join(glammHome(), "demo");
  if (!existsSync(join(dir, "glamm", "model.safetensors"))) {
    try {
      writeTinyCheckpoint(dir, 0);
    } catch (error) {
      if (!isReadOnlyError(error)) throw error;
      throw modelError(`the demo model is not in the read-only GLAMM_HOME ${glammHome()}: run the command once with write access to it`);
    }
  }
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
  const pull = findManifest(raw) ? `run \`glamm pull ${findManifest(raw)!.name}\` or ` : raw.includes("/") && !isAbsolute(raw) ? `run \`glamm pull ${raw}\` or ` : "";
  throw modelError(`vision tower ${raw} (from ${glamm}/config.json) is not installed; ${pull}pass --vision DIR`);
}

/** A model to run: its files, and how results name it (id, revision, and the trained demo's mark). */
export interface ResolvedModel {
  sources: GlammSources;
  id: string;
  revision: string;
  demo?: string;
}

function installedModel(name: string): ResolvedModel | undefined {
  const record = readInstallRecord(findManifest(name)?.name ?? name);
  if (!record) return undefined;
  const vision = record.dependencies[0] ? readInstallRecord(record.dependencies[0]) : undefined;
  return { sources: { glamm: record.dir, clip: vision?.dir ?? visionFor(record.dir) }, id: record.repo, revision: record.commit ?? record.revision };
}

/** Why --model names nothing usable, with advice that names something that exists. */
function unknownModelMessage(model: string): string {
  if (existsSync(model)) return `--model ${model} is a file; give a checkpoint folder, an installed model (\`glamm models\`), a Hub repo id, or demo`;
  if (findManifest(model) || /^[\w.-]+\/[\w.-]+$/.test(model)) return `model ${model} is not installed; run \`glamm pull ${model}\` (or see \`glamm models\`)`;
  return `model ${model} is not installed and is not a folder (\`glamm models\` lists the known models; --model demo runs the built-in demo)`;
}

function demoModel(): ResolvedModel {
  if (!demoIsTrained()) return { sources: randomDemoSources(), id: demoModelId(), revision: "seed-0" };
  const { dir, revision } = trainedDemo();
  return { sources: { glamm: join(dir, "glamm"), clip: join(dir, "clip") }, id: demoModelId(), revision, demo: DEMO_MARK };
}

const demoNotice = (): string =>
  demoIsTrained()
    ? "the built-in demo model, trained only on pictures of coloured shapes (it knows nothing else)"
    : "the built-in random-weight demo model (a plumbing demo, not real output)";

/**
 * What `--model` names: a checkpoint folder in the official layout, an installed model (manifest name or Hub repo id),
 * or nothing: the task's default model when it is installed, else the built-in demo model (with a notice).
 */
/** Which manifest task a command's default model is chosen by. */
const manifestTask: Record<string, string> = { gcg: "gcg", caption: "gcg", ground: "gcg", segment: "refseg", region: "regcap", chat: "chat" };

export function resolveModel(model: string | undefined, vision: string | undefined, task = "gcg"): ResolvedModel {
  let resolved: ResolvedModel;
  if (model === DEMO_MODEL) resolved = demoModel();
  else if (model && isDir(model)) {
    if (!existsSync(join(model, "config.json"))) throw modelError(`${model} is not a checkpoint folder: it has no config.json`);
    const glamm = resolve(model);
    resolved = { sources: { glamm, clip: vision ? resolve(vision) : visionFor(glamm) }, id: glamm, revision: "local" };
  } else if (model) {
    const installed = installedModel(model);
    if (!installed) throw modelError(unknownModelMessage(model));
    resolved = installed;
  } else {
    const fallback = defaultModelFor(manifestTask[task] ?? task).name;
    const installed = installedModel(fallback);
    if (!installed) notice(`no model installed: using ${demoNotice()}; \`glamm pull ${fallback}\` installs the real one`);
    resolved = installed ?? demoModel();
  }
  if (vision) resolved = { ...resolved, sources: { ...resolved.sources, clip: resolve(vision) } };
  if (!existsSync(join(resolved.sources.clip, "config.json"))) throw modelError(`vision tower folder ${resolved.sources.clip} has no config.json`);
  return resolved;
}
