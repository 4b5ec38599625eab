import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { ExitCode, modelError, usageError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";
import { findManifest } from "../hub/manifests.ts";
import { installedRecords, isIntact, readInstallRecord, type InstallRecord } from "../hub/store.ts";
import { glammHome } from "../runtime/paths.ts";
import { choosePrecision, convertedLocation, ensureConverted, type Precision } from "../convert/glamm.ts";
import { rememberFileHashes } from "../convert/fingerprint.ts";
import { isGlamm } from "../convert/pull-converter.ts";

/** One installed GLaMM model's fitness to be served from a read-only GLAMM_HOME shared by many tasks. */
export interface ShareCheck {
  model: string;
  precision: Precision;
  ok: boolean;
  detail: string;
}

const inside = (dir: string, root: string) => !relative(root, dir).startsWith("..");

async function check(model: InstallRecord, precision: Precision, convert: boolean, onProgress?: (m: string) => void): Promise<ShareCheck> {
  const result = (ok: boolean, detail: string): ShareCheck => ({ model: model.name, precision, ok, detail });
  const vision = model.dependencies[0] ? readInstallRecord(model.dependencies[0]) : undefined;
  if (!vision) return result(false, `its vision tower ${model.dependencies[0] ?? "(none recorded)"} is not installed: glamm pull ${model.name}`);
  for (const r of [model, vision]) if (!isIntact(r)) return result(false, `${r.name} is damaged: glamm pull ${r.name}`);
  const home = glammHome();
  const outside = [model, vision].filter((r) => !inside(r.dir, home)).map((r) => r.dir);
  const sources = { glamm: model.dir, clip: vision.dir };
  if (convert) {
    for (const r of [model, vision]) rememberFileHashes(r.files.map((f) => ({ path: join(r.dir, f.path), sha256: f.sha256 })));
    await ensureConverted(sources, { precision, onProgress });
  }
  const { dir } = await convertedLocation(sources, { precision });
  if (!existsSync(join(dir, "manifest.json"))) return result(false, `not converted for ${precision}: glamm pull ${model.name} --convert-only --precision ${precision}`);
  if (outside.length) return result(false, `converted, but its files live outside GLAMM_HOME (${outside.join(", ")}): share that path too, mounted at the same place on every node`);
  return result(true, `converted for ${precision} (${relative(home, dir)})`);
}

/** Checks every installed GLaMM model (or the named one) at the given precisions; `convert` builds what is missing. */
export async function sharedHomeChecks(options: { model?: string; precisions: Precision[]; convert?: boolean; onProgress?: (m: string) => void }): Promise<ShareCheck[]> {
  let models = installedRecords().filter(isGlamm);
  if (options.model !== undefined) {
    const record = readInstallRecord(findManifest(options.model)?.name ?? options.model);
    if (!record) throw modelError(`model ${options.model} is not installed: glamm pull ${options.model} first`);
    if (!isGlamm(record)) throw modelError(`${options.model} is not a GLaMM checkpoint; only GLaMM models are converted`);
    models = [record];
  }
  const checks: ShareCheck[] = [];
  for (const model of models) for (const precision of options.precisions) checks.push(await check(model, precision, Boolean(options.convert), options.onProgress));
  return checks;
}

const PRECISIONS: readonly Precision[] = ["fp32", "fp16", "int4"];

/** `glamm pull NAME --convert-only`: converts what is missing, then one line per precision and a verdict. */
export async function convertForSharing(model: string, precisions: string | undefined, out: NodeJS.WritableStream): Promise<number> {
  const wanted = precisions === undefined ? [choosePrecision("auto", "auto")] : precisions.split(",").map((p) => p.trim());
  for (const p of wanted) if (!PRECISIONS.includes(p as Precision)) throw usageError(`--precision takes ${PRECISIONS.join(", ")} (comma-separated), got "${p}"`);
  const checks = await sharedHomeChecks({ model: model.split("@")[0], precisions: wanted as Precision[], convert: true, onProgress: (m) => notice(`${model}: ${m}`) });
  for (const c of checks) out.write(`${c.model} (${c.precision}): ${c.ok ? "ready" : "not ready"}: ${c.detail}\n`);
  const ready = checks.every((c) => c.ok);
  out.write(`GLAMM_HOME ${glammHome()} ${ready ? "is ready to be shared read-only" : "is not ready to be shared"}\n`);
  return ready ? ExitCode.ok : ExitCode.model;
}
