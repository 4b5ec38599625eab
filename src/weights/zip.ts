import { inflateRawSync } from "node:zlib";
import { modelError } from "../cli/errors.ts";
import type { RandomAccessFile } from "./file.ts";

/** One file in a zip archive, from its central directory record (ZIP64 sizes already applied). */
export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

const STORED = 0;
const DEFLATE = 8;
const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const MAX_COMMENT = 0xffff;

export function hasZipMagic(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

function u64(view: DataView, offset: number, what: string): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw modelError(`zip ${what} ${value} is too large`);
  return Number(value);
}

/** Reads a zip archive's directory and hands out where each stored entry's bytes lie in the file. */
export class ZipArchive {
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly file: RandomAccessFile,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  static read(file: RandomAccessFile): ZipArchive {
    const { offset, size, count } = findCentralDirectory(file);
    return new ZipArchive(file, parseCentralDirectory(file, offset, size, count));
  }

  entry(name: string): ZipEntry {
    const entry = this.entries.get(name);
    if (!entry) throw modelError(`${this.file.path}: zip has no entry ${name}`);
    return entry;
  }

  /** Where a stored (uncompressed) entry's bytes start and how many there are, for positioned reads. */
  storedRange(name: string): { offset: number; length: number } {
    const entry = this.entry(name);
    if (entry.method !== STORED) {
      throw modelError(
        `${this.file.path}: zip entry ${name} is compressed (method ${entry.method}); tensor data must be stored uncompressed, as torch.save writes it`,
      );
    }
    return { offset: this.dataOffset(entry), length: entry.size };
  }

  /** Reads a whole (small) entry, inflating it when it is deflate-compressed. */
  readEntry(name: string, maxBytes: number): Uint8Array {
    const entry = this.entry(name);
    if (entry.size > maxBytes || entry.compressedSize > maxBytes) {
      throw modelError(`${this.file.path}: zip entry ${name} is ${entry.size} bytes, more than the ${maxBytes} allowed`);
    }
    const raw = this.file.read(this.dataOffset(entry), entry.compressedSize);
    if (entry.method === STORED) return raw;
    if (entry.method !== DEFLATE) {
      throw modelError(`${this.file.path}: zip entry ${name} uses unsupported compression method ${entry.method}`);
    }
    let inflated: Uint8Array;
    try {
      inflated = new Uint8Array(inflateRawSync(raw, { maxOutputLength: maxBytes }));
    } catch (error) {
      throw modelError(`${this.file.path}: cannot inflate zip entry ${name}: ${(error as Error).message}`);
    }
    if (inflated.byteLength !== entry.size) {
      throw modelError(`${this.file.path}: zip entry ${name} inflated to ${inflated.byteLength} bytes, expected ${entry.size}`);
    }
    return inflated;
  }

  private dataOffset(entry: ZipEntry): number {
    const cached = this.dataOffsets.get(entry.name);
    if (cached !== undefined) return cached;
    const header = this.file.read(entry.localHeaderOffset, 30);
    const view = new DataView(header.buffer);
    if (view.getUint32(0, true) !== LOCAL_SIGNATURE) {
      throw modelError(`${this.file.path}: bad local header for zip entry ${entry.name}`);
    }
    const offset = entry.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
    if (offset + entry.compressedSize > this.file.size) {
      throw modelError(`${this.file.path}: zip entry ${entry.name} runs past the end of the file; the file is truncated`);
    }
    this.dataOffsets.set(entry.name, offset);
    return offset;
  }
}

function findCentralDirectory(file: RandomAccessFile): { offset: number; size: number; count: number } {
  const tailLength = Math.min(file.size, EOCD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE);
  const tailStart = file.size - tailLength;
  const tail = file.read(tailStart, tailLength);
  const view = new DataView(tail.buffer);
  let eocd = -1;
  for (let at = tailLength - EOCD_SIZE; at >= 0; at--) {
    if (view.getUint32(at, true) === EOCD_SIGNATURE && view.getUint16(at + 20, true) === tailLength - at - EOCD_SIZE) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    throw modelError(`${file.path}: no zip end-of-central-directory record; the file is truncated or not a zip archive`);
  }
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) {
    throw modelError(`${file.path}: multi-disk zip archives are not supported`);
  }
  const locator = eocd - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
    return readZip64End(file, u64(view, locator + 8, "ZIP64 end record offset"));
  }
  return {
    count: view.getUint16(eocd + 10, true),
    size: view.getUint32(eocd + 12, true),
    offset: view.getUint32(eocd + 16, true),
  };
}

function readZip64End(file: RandomAccessFile, at: number): { offset: number; size: number; count: number } {
  const view = new DataView(file.read(at, 56).buffer);
  if (view.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) throw modelError(`${file.path}: bad ZIP64 end-of-central-directory record`);
  return {
    count: u64(view, 32, "entry count"),
    size: u64(view, 40, "central directory size"),
    offset: u64(view, 48, "central directory offset"),
  };
}

function parseCentralDirectory(file: RandomAccessFile, offset: number, size: number, count: number): Map<string, ZipEntry> {
  if (offset + size > file.size) throw modelError(`${file.path}: zip central directory lies past the end of the file; the file is truncated`);
  const bytes = file.read(offset, size);
  const view = new DataView(bytes.buffer);
  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > size || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw modelError(`${file.path}: corrupt zip central directory (record ${i})`);
    }
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    const flags = view.getUint16(at + 8, true);
    if (flags & 1) throw modelError(`${file.path}: zip entry ${name} is encrypted`);
    const sizes = {
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localHeaderOffset: view.getUint32(at + 42, true),
    };
    applyZip64Extra(view, at + 46 + nameLength, extraLength, sizes);
    entries.set(name, { name, method: view.getUint16(at + 10, true), flags, ...sizes });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** ZIP64 extra field: 64-bit values, in this order, for exactly the fields whose 32-bit slot is 0xFFFFFFFF. */
function applyZip64Extra(
  view: DataView,
  start: number,
  length: number,
  sizes: { compressedSize: number; size: number; localHeaderOffset: number },
): void {
  const MAX32 = 0xffffffff;
  for (let at = start; at + 4 <= start + length; ) {
    const id = view.getUint16(at, true);
    const fieldLength = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      let field = at + 4;
      for (const key of ["size", "compressedSize", "localHeaderOffset"] as const) {
        if (sizes[key] !== MAX32) continue;
        if (field + 8 > at + 4 + fieldLength) throw modelError("zip ZIP64 extra field is too short");
        sizes[key] = u64(view, field, key);
        field += 8;
      }
    }
    at += 4 + fieldLength;
  }
}
