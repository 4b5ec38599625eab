import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { modelError } from "../cli/errors.ts";
import { RandomAccessFile } from "./file.ts";
import { hasSafetensorsMagic, readSafetensors } from "./safetensors.ts";
import { TensorTable, type WeightSource } from "./source.ts";
import type { StoredTensor } from "./tensor.ts";
import { readTorchZip } from "./torch-bin.ts";
import { hasZipMagic } from "./zip.ts";

/** Safetensors first: the same weights, and cheaper to open. */
const INDEX_NAMES = ["model.safetensors.index.json", "pytorch_model.bin.index.json"];
const SINGLE_NAMES = ["model.safetensors", "pytorch_model.bin"];
const WEIGHT_EXTENSIONS = /\.(safetensors|bin|pth|pt)$/;

/**
 * Opens a checkpoint: a .safetensors or torch zip (.bin/.pth/.pt) file, a *.index.json of shards,
 * or a directory holding one of those (as a Hugging Face repo does).
 */
export function openWeights(path: string): WeightSource {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    throw modelError(`weights path ${path} does not exist`);
  }
  const target = isDirectory ? findInDirectory(path) : path;
  if (target.endsWith(".index.json")) return openSharded(target);
  const { file, tensors } = openSingleFile(target);
  return new TensorTable(target, tensors, [file]);
}

function findInDirectory(dir: string): string {
  const names = readdirSync(dir).sort();
  const known = [...INDEX_NAMES, ...SINGLE_NAMES].find((name) => names.includes(name));
  if (known) return join(dir, known);
  const indexes = names.filter((name) => name.endsWith(".index.json"));
  const candidates = indexes.length ? indexes : names.filter((name) => WEIGHT_EXTENSIONS.test(name));
  if (candidates.length === 1) return join(dir, candidates[0]);
  if (candidates.length === 0) throw modelError(`no weights found in ${dir} (looked for *.index.json, *.safetensors, *.bin, *.pth, *.pt)`);
  throw modelError(`${dir} holds several weight files (${candidates.join(", ")}); name the one to use`);
}

function openSingleFile(path: string): { file: RandomAccessFile; tensors: Map<string, StoredTensor> } {
  const file = RandomAccessFile.open(path);
  try {
    const head = file.read(0, Math.min(16, file.size));
    if (hasZipMagic(head)) return { file, tensors: readTorchZip(file) };
    if (hasSafetensorsMagic(head, file.size)) return { file, tensors: readSafetensors(file) };
    if (head[0] === 0x80) {
      throw modelError(`${path} uses torch's legacy (pre-1.6, non-zip) format; re-save it with a current torch.save`);
    }
    throw modelError(`${path} is neither a safetensors file nor a torch zip checkpoint`);
  } catch (error) {
    file.close();
    throw error;
  }
}

function readIndex(indexPath: string): Record<string, string> {
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8"));
  } catch (error) {
    throw modelError(`cannot read weights index ${indexPath}: ${(error as Error).message}`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || !Object.values(map).every((v) => typeof v === "string")) {
    throw modelError(`${indexPath} has no weight_map of tensor name → shard file`);
  }
  return map as Record<string, string>;
}

function openSharded(indexPath: string): WeightSource {
  const weightMap = readIndex(indexPath);
  const dir = dirname(indexPath);
  const shards = new Map<string, { file: RandomAccessFile; tensors: Map<string, StoredTensor> }>();
  try {
    for (const shard of new Set(Object.values(weightMap))) {
      if (basename(shard) !== shard || shard === "..") throw modelError(`${indexPath}: shard ${shard} is not a file name in ${dir}`);
      shards.set(shard, openSingleFile(join(dir, shard)));
    }
    const tensors = new Map<string, StoredTensor>();
    for (const [name, shard] of Object.entries(weightMap)) {
      const tensor = shards.get(shard)?.tensors.get(name);
      if (!tensor) throw modelError(`${indexPath} places tensor ${name} in ${shard}, but that shard has no such tensor`);
      tensors.set(name, tensor);
    }
    return new TensorTable(indexPath, tensors, [...shards.values()].map((s) => s.file));
  } catch (error) {
    for (const { file } of shards.values()) file.close();
    throw error;
  }
}
