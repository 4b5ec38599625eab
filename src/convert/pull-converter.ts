import { join } from "node:path";
import { GlammError } from "../cli/errors.ts";
import { notice } from "../cli/ui.ts";
import { registerConverter } from "../hub/converters.ts";
import { installedRecords, readInstallRecord, type InstallRecord } from "../hub/store.ts";
import { readJsonObject } from "../util/json.ts";
import { choosePrecision, ensureConverted } from "./glamm.ts";
import { rememberFileHashes } from "./fingerprint.ts";

export const isGlamm = (record: InstallRecord): boolean => {
  try {
    const architectures = readJsonObject(join(record.dir, "config.json")).architectures;
    return Array.isArray(architectures) && architectures.includes("GLaMMForCausalLM");
  } catch {
    return false;
  }
};

const rememberRecord = (r: InstallRecord) => rememberFileHashes(r.files.map((f) => ({ path: join(r.dir, f.path), sha256: f.sha256 })));

/**
 * After `glamm pull`, remembers the sha256 of every file pull verified (any model: the attend backend's first run
 * converts LLaVA and SAM from them, and would otherwise hash 17.8 GB again), then converts every installed GLaMM
 * checkpoint touched by the install (the model itself, or the models whose vision tower was just installed) into ONNX
 * graphs at this machine's default precision, so the first task runs at once. A GLaMM model is converted once its
 * vision tower is installed too; a checkpoint that cannot be converted stays installed, with a notice (the first task
 * run reports the same error).
 */
registerConverter({
  name: "glamm-onnx",
  appliesTo: () => true,
  async convert(record) {
    rememberRecord(record);
    const affected = installedRecords().filter((r) => isGlamm(r) && (r.name === record.name || r.dependencies.includes(record.name)));
    for (const model of affected) {
      const vision = model.dependencies[0] ? readInstallRecord(model.dependencies[0]) : undefined;
      if (!vision) continue;
      for (const r of [model, vision]) rememberRecord(r);
      const precision = choosePrecision("auto", "auto");
      try {
        await ensureConverted({ glamm: model.dir, clip: vision.dir }, { precision, onProgress: (m) => notice(`${model.name}: ${m}`) });
      } catch (error) {
        // The files are installed and verified; a checkpoint glamm cannot convert is reported, not uninstalled.
        if (!(error instanceof GlammError)) throw error;
        notice(`${model.name}: installed but not converted: ${error.message}`);
      }
    }
  },
});
