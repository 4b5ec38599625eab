import { existsSync } from "node:fs";
import { join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { float16ToFloat32, float32ToFloat16 } from "../graph/float16.ts";
import { readJsonObject } from "../util/json.ts";
import { openWeights } from "./open.ts";
import type { NativeArray, ReadAs, TensorInfo, WeightSource } from "./index.ts";

/** The peft LoRA settings that decide the merge. */
export interface LoraConfig {
  r: number;
  alpha: number;
  /** lora_alpha / r (lora_alpha / √r with use_rslora), the factor peft multiplies B·A by. */
  scaling: number;
  targetModules: string[] | string;
}

const ADAPTER_FILES = ["adapter_model.safetensors", "adapter_model.bin"];

function readLoraConfig(dir: string): LoraConfig {
  const path = join(dir, "adapter_config.json");
  const json = readJsonObject(path);
  if (json.peft_type !== "LORA") throw modelError(`${path}: peft_type ${JSON.stringify(json.peft_type)} is not LORA`);
  const r = json.r;
  const alpha = json.lora_alpha;
  if (!Number.isInteger(r) || (r as number) < 1 || typeof alpha !== "number") throw modelError(`${path}: invalid r ${JSON.stringify(r)} or lora_alpha ${JSON.stringify(alpha)}`);
  for (const [key, allowed] of [["use_dora", false], ["fan_in_fan_out", false], ["bias", "none"]] as const) {
    if ((json[key] ?? allowed) !== allowed) throw modelError(`${path}: ${key} ${JSON.stringify(json[key])} is not supported (plain LoRA only)`);
  }
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    const value = json[key];
    if (value && typeof value === "object" && Object.keys(value).length) throw modelError(`${path}: ${key} is not supported`);
  }
  const targets = json.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) throw modelError(`${path}: invalid target_modules`);
  const scaling = json.use_rslora === true ? alpha / Math.sqrt(r as number) : alpha / (r as number);
  return { r: r as number, alpha, scaling, targetModules: targets as string[] | string };
}

/** peft's check_target_module_exists: a name equal to or ending in `.target`, or a full match of a regex string. */
function isTarget(module: string, targets: string[] | string): boolean {
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

const fp16Round = (data: Float32Array): Float32Array => float16ToFloat32(float32ToFloat16(data));

/** W + (B·A)·scaling with peft's fp16 arithmetic: the delta rounded to fp16, then the sum. */
function mergeLoraWeight(base: Float32Array, a: Float32Array, b: Float32Array, out: number, inner: number, r: number, scaling: number): Float32Array {
  const delta = new Float32Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inner; i++) {
      let sum = 0;
      for (let k = 0; k < r; k++) sum += b[o * r + k] * a[k * inner + i];
      delta[o * inner + i] = sum * scaling;
    }
  }
  const rounded = fp16Round(delta);
  for (let i = 0; i < rounded.length; i++) rounded[i] += base[i];
  return fp16Round(rounded);
}

interface LoraPair {
  a: string;
  b: string;
}

/** `base_model.model.X.lora_A.weight` -> X; peft saves the adapter without its name. */
const LORA_KEY = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/;

/** The official loader's renaming of non_lora_trainables.bin keys: drop `base_model.`, then `model.` when keys start `model.model.`. */
function trainableKeys(keys: readonly string[]): Map<string, string> {
  const stripped = keys.map((k) => [k.startsWith("base_model.") ? k.slice(11) : k, k] as const);
  const nested = stripped.some(([k]) => k.startsWith("model.model."));
  return new Map(stripped.map(([k, original]) => [nested && k.startsWith("model.") ? k.slice(6) : k, original]));
}

/**
 * `load_pretrained_model`'s LoRA path as one checkpoint: the fp16 base, the LoRA folder's non_lora_trainables.bin
 * loaded over it (cast to fp16), and every LoRA pair merged as peft's merge_and_unload does. Tensors are produced on
 * read, one at a time.
 */
export class LoraMergedWeights implements WeightSource {
  private readonly pairs = new Map<string, LoraPair>();
  private readonly trainables = new Map<string, string>();

  private constructor(
    private readonly base: WeightSource,
    private readonly adapter: WeightSource,
    private readonly extra: WeightSource | undefined,
    readonly lora: LoraConfig,
  ) {
    const parts = new Map<string, Partial<LoraPair>>();
    for (const key of adapter.keys()) {
      const match = LORA_KEY.exec(key);
      if (!match) continue;
      const entry = parts.get(match[1]) ?? {};
      entry[match[2] === "A" ? "a" : "b"] = key;
      parts.set(match[1], entry);
    }
    for (const [module, { a, b }] of parts) {
      if (!a || !b) throw modelError(`the LoRA adapter has lora_${a ? "B" : "A"} missing for ${module}`);
      if (!isTarget(module, lora.targetModules)) throw modelError(`the LoRA adapter holds ${module}, which target_modules does not name`);
      if (!base.has(`${module}.weight`)) throw modelError(`the LoRA adapter targets ${module}, but the base model has no ${module}.weight`);
      this.pairs.set(`${module}.weight`, { a, b });
    }
    if (this.pairs.size === 0) throw modelError("the LoRA adapter holds no lora_A/lora_B pairs");
    if (extra) for (const [name, original] of trainableKeys(extra.keys())) this.trainables.set(name, original);
  }

  /** Opens the LoRA folder (adapter_config.json, adapter_model.safetensors or .bin, optional non_lora_trainables.bin) over `baseDir`. */
  static open(loraDir: string, baseDir: string): LoraMergedWeights {
    const lora = readLoraConfig(loraDir);
    const adapterFile = ADAPTER_FILES.map((f) => join(loraDir, f)).find(existsSync);
    if (!adapterFile) throw modelError(`${loraDir} has no ${ADAPTER_FILES.join(" or ")}`);
    const trainablesFile = join(loraDir, "non_lora_trainables.bin");
    const opened: WeightSource[] = [];
    try {
      const base = openWeights(baseDir);
      opened.push(base);
      const adapter = openWeights(adapterFile);
      opened.push(adapter);
      const extra = existsSync(trainablesFile) ? openWeights(trainablesFile) : undefined;
      if (extra) opened.push(extra);
      return new LoraMergedWeights(base, adapter, extra, lora);
    } catch (error) {
      for (const source of opened) source.close();
      throw error;
    }
  }

  keys(): string[] {
    const keys = new Set(this.base.keys());
    for (const name of this.trainables.keys()) keys.add(name);
    return [...keys];
  }

  has(name: string): boolean {
    return this.trainables.has(name) || this.base.has(name);
  }

  info(name: string): TensorInfo {
    const original = this.trainables.get(name);
    if (original !== undefined) return { dtype: "F16", shape: this.extra!.info(original).shape };
    return this.base.info(name);
  }

  read(name: string, as?: "float32"): Float32Array;
  read(name: string, as: "float16"): Uint16Array;
  read(name: string, as: ReadAs): NativeArray;
  read(name: string, as: ReadAs = "float32"): NativeArray {
    const pair = this.pairs.get(name);
    const original = this.trainables.get(name);
    if (!pair && original === undefined) return this.base.read(name, as);
    const values = original !== undefined ? fp16Round(this.extra!.read(original)) : this.merged(name, pair!);
    return as === "float16" ? float32ToFloat16(values) : values;
  }

  close(): void {
    this.base.close();
    this.adapter.close();
    this.extra?.close();
  }

  private merged(name: string, pair: LoraPair): Float32Array {
    const [out, inner] = this.base.info(name).shape;
    const [r, aIn] = this.adapter.info(pair.a).shape;
    const [bOut, bR] = this.adapter.info(pair.b).shape;
    if (aIn !== inner || bOut !== out || bR !== r) throw modelError(`LoRA shapes A [${r}, ${aIn}] and B [${bOut}, ${bR}] do not fit ${name} [${out}, ${inner}]`);
    return mergeLoraWeight(this.base.read(name), fp16Round(this.adapter.read(pair.a)), fp16Round(this.adapter.read(pair.b)), out, inner, r, this.lora.scaling);
  }
}
