import { modelError } from "../cli/errors.ts";
import { dtypeBytes, isDType } from "./dtype.ts";
import type { RandomAccessFile } from "./file.ts";
import { elementCount, type StoredTensor } from "./tensor.ts";

/** Real headers are a few hundred KiB; this only stops a corrupt length from allocating gigabytes. */
const MAX_HEADER_BYTES = 100 << 20;

/** An 8-byte little-endian header length followed by a JSON object opening with "{". */
export function hasSafetensorsMagic(head: Uint8Array, fileSize: number): boolean {
  if (head.length < 9 || head[8] !== 0x7b) return false;
  const headerLength = new DataView(head.buffer, head.byteOffset).getBigUint64(0, true);
  return headerLength <= BigInt(fileSize - 8);
}

/** Locates every tensor of a .safetensors file after checking offsets, sizes and overlaps against the header. */
export function readSafetensors(file: RandomAccessFile): Map<string, StoredTensor> {
  const fail = (message: string) => modelError(`${file.path}: ${message}`);
  if (file.size < 8) throw fail("too short for a safetensors file");
  const headerLength = Number(new DataView(file.read(0, 8).buffer).getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > file.size) {
    throw fail(`safetensors header length ${headerLength} is larger than the file allows; the file is truncated or not safetensors`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(file.read(8, headerLength)));
  } catch (error) {
    throw fail(`safetensors header is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw fail("safetensors header is not a JSON object");
  const dataStart = 8 + headerLength;
  const dataSize = file.size - dataStart;
  const tensors = new Map<string, StoredTensor>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = (value ?? {}) as Record<string, unknown>;
    if (typeof dtype !== "string" || !isDType(dtype)) throw fail(`tensor ${name} has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw fail(`tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw fail(`tensor ${name} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataSize) throw fail(`tensor ${name} data_offsets [${begin}, ${end}] lie outside the ${dataSize} data bytes`);
    const count = elementCount(shape);
    if (end - begin !== count * dtypeBytes[dtype]) {
      throw fail(`tensor ${name} spans ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${count * dtypeBytes[dtype]}`);
    }
    ranges.push({ name, begin, end });
    tensors.set(name, {
      dtype,
      shape,
      strides: shape.map((_, dim) => elementCount(shape.slice(dim + 1))),
      file,
      storageByteOffset: dataStart + begin,
      storageElements: count,
      elementOffset: 0,
    });
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i].begin < ranges[i - 1].end) throw fail(`tensors ${ranges[i - 1].name} and ${ranges[i].name} overlap`);
  }
  return tensors;
}
