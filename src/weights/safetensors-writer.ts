import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/** A float32 tensor to write; its data is produced when written, so a whole model never sits in memory at once. */
export interface TensorToWrite {
  name: string;
  shape: number[];
  data: () => Float32Array;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
}

/** Writes a .safetensors file (all F32) under a temporary name and renames it into place. */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keeps tensor data 8-byte aligned, as the reference writer does
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
    writeAll(fd, length);
    writeAll(fd, new TextEncoder().encode(json));
    for (const t of tensors) {
      const data = t.data();
      writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } catch (error) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
