import { writeThroughTemp } from "./write-through-temp.ts";

/**
 * A tensor to write: float32 data, or float16 bits when dtype is "F16". Its data is produced when written, so a whole
 * model never sits in memory at once.
 */
export type TensorToWrite = { name: string; shape: number[] } & ({ dtype?: "F32"; data: () => Float32Array } | { dtype: "F16"; data: () => Uint16Array });

/** Writes a .safetensors file (F32 unless a tensor says F16) under a temporary name and renames it into place. */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? "F32";
    const bytes = t.shape.reduce((a, b) => a * b, 1) * (dtype === "F16" ? 2 : 4);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keeps tensor data 8-byte aligned, as the reference writer does
  writeThroughTemp(path, (write) => {
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
    write(length);
    write(new TextEncoder().encode(json));
    for (const t of tensors) {
      const data = t.data();
      write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  });
}
