import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../output/atomic.ts";
import { bytesPerElement, dataBytes, elementCount, onnxTypeCode } from "./dtype.ts";
import { initializerData, initializerDataSync, type GraphCore, type InitializerEntry } from "./graph.ts";
import { encodeModel, type TensorMessage } from "./onnx-proto.ts";

export interface SaveOptions {
  /** Initializers of at least this many bytes go to the external data file (default 1024). */
  externalThreshold?: number;
  /** Byte alignment of each tensor in the data file (default 4096, the page size, so onnxruntime can map it). */
  alignment?: number;
  /** Called after each initializer is written, e.g. for a progress bar. */
  onTensor?: (name: string, index: number, total: number) => void;
  /** Called after each initializer with the bytes of initializer data written so far and in all (initializerBytes). */
  onBytes?: (written: number, total: number) => void;
}

/** Bytes of every initializer's data: what saving the graph writes, give or take the small graph file. */
export function initializerBytes(graph: GraphCore): number {
  return graph.initializers.reduce((sum, entry) => sum + elementCount(entry.dims) * bytesPerElement(entry.dtype), 0);
}

/** The whole model, initializers inline, as protobuf bytes (for small models: protobuf caps a message at 2 GiB). */
export function modelToBytes(graph: GraphCore): Uint8Array {
  const initializers = graph.initializers.map((entry) => ({ ...tensorHeader(entry), raw_data: dataBytes(initializerDataSync(entry)) }));
  return encodeModel(graph.modelMessage(initializers));
}

/**
 * Writes `path` (the graph) and, when any initializer is that large, `path + ".data"` (initializers of externalThreshold bytes or more, streamed one tensor
 * at a time) as ONNX external data: each such initializer carries location/offset/length entries. Both files are
 * written under temporary names and renamed into place when complete.
 */
export async function saveModel(graph: GraphCore, path: string, options: SaveOptions = {}): Promise<void> {
  const threshold = options.externalThreshold ?? 1024;
  const alignment = options.alignment ?? 4096;
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const tmpData = join(dirname(dataPath), `.${location}.${process.pid}.tmp`);
  const file = await open(tmpData, "w");
  try {
    const messages: TensorMessage[] = [];
    let offset = 0;
    let external = false;
    const total = graph.initializers.length;
    const totalBytes = options.onBytes ? initializerBytes(graph) : 0;
    let writtenBytes = 0;
    for (const [index, entry] of graph.initializers.entries()) {
      const bytes = dataBytes(await initializerData(entry));
      if (bytes.byteLength < threshold) {
        messages.push({ ...tensorHeader(entry), raw_data: bytes.slice() });
      } else {
        offset = Math.ceil(offset / alignment) * alignment;
        await writeAll(file, bytes, offset);
        messages.push({ ...tensorHeader(entry), data_location: 1, external_data: externalEntries(location, offset, bytes.byteLength) });
        offset += bytes.byteLength;
        external = true;
      }
      options.onTensor?.(entry.name, index, total);
      writtenBytes += bytes.byteLength;
      options.onBytes?.(writtenBytes, totalBytes);
    }
    await file.sync();
    await file.close();
    if (external) await rename(tmpData, dataPath);
    else await rm(tmpData);
    writeFileAtomic(path, encodeModel(graph.modelMessage(messages)));
  } catch (error) {
    await file.close().catch(() => {});
    await rm(tmpData, { force: true });
    throw error;
  }
}

function tensorHeader(entry: InitializerEntry): TensorMessage {
  return { name: entry.name, dims: [...entry.dims], data_type: onnxTypeCode(entry.dtype) };
}

function externalEntries(location: string, offset: number, length: number): { key: string; value: string }[] {
  return [
    { key: "location", value: location },
    { key: "offset", value: String(offset) },
    { key: "length", value: String(length) },
  ];
}

async function writeAll(file: Awaited<ReturnType<typeof open>>, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await file.write(bytes, written, bytes.byteLength - written, position + written);
    written += bytesWritten;
  }
}
