import { basename, extname } from "node:path";
import { crc32 } from "node:zlib";
import { writeThroughTemp } from "./write-through-temp.ts";

/** The element types torch.save storages are written with here, by their legacy storage class. */
const storageClass = { F32: "FloatStorage", F16: "HalfStorage", BF16: "BFloat16Storage", I64: "LongStorage" } as const;
const elementBytes = { F32: 4, F16: 2, BF16: 2, I64: 8 } as const;

/** A tensor to write: its raw little-endian bytes, produced when written so a checkpoint never sits in memory whole. */
export interface TorchTensorToWrite {
  name: string;
  shape: number[];
  dtype: keyof typeof storageClass;
  bytes(): Uint8Array;
}

/** torch.save pads each record's local header so the record's data starts on a 64-byte boundary. */
const ALIGNMENT = 64;
const MAX32 = 0xffffffff;

/** Pickle protocol 2 of an OrderedDict name -> _rebuild_tensor_v2(storage i, 0, shape, contiguous stride, False, {}). */
function statePickle(tensors: readonly TorchTensorToWrite[]): Uint8Array {
  const out: number[] = [];
  const text = new TextEncoder();
  const op = (...bytes: number[]) => out.push(...bytes);
  const global = (module: string, name: string) => op(0x63, ...text.encode(`${module}\n${name}\n`));
  const unicode = (value: string) => {
    const bytes = text.encode(value);
    op(0x58, bytes.length & 0xff, (bytes.length >> 8) & 0xff, (bytes.length >> 16) & 0xff, bytes.length >>> 24, ...bytes);
  };
  const int = (value: number) => {
    // LONG1: little-endian two's complement, as many bytes as needed (values here are non-negative).
    const bytes: number[] = [];
    for (let v = BigInt(value); v > 0n; v >>= 8n) bytes.push(Number(v & 0xffn));
    if (bytes.length === 0 || bytes[bytes.length - 1] & 0x80) bytes.push(0);
    op(0x8a, bytes.length, ...bytes);
  };
  const tuple = (values: number[]) => {
    op(0x28);
    for (const v of values) int(v);
    op(0x74);
  };
  const orderedDict = () => {
    global("collections", "OrderedDict");
    op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  };
  op(0x80, 2);
  orderedDict();
  op(0x28); // MARK for SETITEMS
  tensors.forEach((t, i) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    unicode(t.name);
    global("torch._utils", "_rebuild_tensor_v2");
    op(0x28);
    op(0x28);
    unicode("storage");
    global("torch", storageClass[t.dtype]);
    unicode(String(i));
    unicode("cpu");
    int(count);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    tuple(t.shape);
    tuple(strides);
    op(0x89); // NEWFALSE: requires_grad
    orderedDict(); // backward hooks
    op(0x74, 0x52); // TUPLE, REDUCE
  });
  op(0x75, 0x2e); // SETITEMS, STOP
  return Uint8Array.from(out);
}

interface CentralRecord {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

/**
 * Writes a state dict as torch.save does (zip, format version 3): `<stem>/data.pkl`, `<stem>/byteorder`, one stored
 * record per tensor under `<stem>/data/<i>` with 64-byte aligned data, `<stem>/version`; ZIP64 records once offsets
 * pass 4 GiB. Written under a temporary name and renamed into place. `<stem>` is the file name without extension,
 * the archive name torch.save gives a file saved by path.
 */
export function writeTorchZip(path: string, tensors: readonly TorchTensorToWrite[]): void {
  const stem = basename(path, extname(path));
  writeThroughTemp(path, (writeBytes) => {
    const central: CentralRecord[] = [];
    let position = 0;
    const write = (bytes: Uint8Array) => {
      writeBytes(bytes);
      position += bytes.byteLength;
    };
    const record = (name: string, data: Uint8Array) => {
      const nameBytes = new TextEncoder().encode(`${stem}/${name}`);
      const headerEnd = position + 30 + nameBytes.length + 4;
      const padding = (ALIGNMENT - (headerEnd % ALIGNMENT)) % ALIGNMENT;
      const header = new DataView(new ArrayBuffer(30 + nameBytes.length + 4 + padding));
      const crc = crc32(data);
      header.setUint32(0, 0x04034b50, true);
      header.setUint16(4, 45, true); // version needed: ZIP64
      header.setUint32(14, crc, true);
      header.setUint32(18, data.byteLength, true);
      header.setUint32(22, data.byteLength, true);
      header.setUint16(26, nameBytes.length, true);
      header.setUint16(28, 4 + padding, true);
      new Uint8Array(header.buffer).set(nameBytes, 30);
      header.setUint16(30 + nameBytes.length, 0x4246, true); // "FB": torch's padding extra field
      header.setUint16(32 + nameBytes.length, padding, true);
      central.push({ name: nameBytes, crc, size: data.byteLength, offset: position });
      write(new Uint8Array(header.buffer));
      write(data);
    };
    record("data.pkl", statePickle(tensors));
    record("byteorder", new TextEncoder().encode("little"));
    tensors.forEach((t, i) => {
      const data = t.bytes();
      const expected = t.shape.reduce((a, b) => a * b, 1) * elementBytes[t.dtype];
      if (data.byteLength !== expected) throw new Error(`${t.name}: ${data.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
      record(`data/${i}`, data);
    });
    record("version", new TextEncoder().encode("3\n"));
    writeCentralDirectory(write, central, () => position);
  });
}

function writeCentralDirectory(write: (bytes: Uint8Array) => void, records: readonly CentralRecord[], position: () => number): void {
  const start = position();
  for (const r of records) {
    const zip64 = r.offset >= MAX32;
    const extra = zip64 ? 12 : 0;
    const view = new DataView(new ArrayBuffer(46 + r.name.length + extra));
    view.setUint32(0, 0x02014b50, true);
    view.setUint16(4, 45, true);
    view.setUint16(6, 45, true);
    view.setUint32(16, r.crc, true);
    view.setUint32(20, r.size, true);
    view.setUint32(24, r.size, true);
    view.setUint16(28, r.name.length, true);
    view.setUint16(30, extra, true);
    view.setUint32(42, zip64 ? MAX32 : r.offset, true);
    new Uint8Array(view.buffer).set(r.name, 46);
    if (zip64) {
      view.setUint16(46 + r.name.length, 0x0001, true);
      view.setUint16(48 + r.name.length, 8, true);
      view.setBigUint64(50 + r.name.length, BigInt(r.offset), true);
    }
    write(new Uint8Array(view.buffer));
  }
  const size = position() - start;
  const zip64End = position();
  const end = new DataView(new ArrayBuffer(56 + 20 + 22));
  // ZIP64 end of central directory record, its locator, then the classic record with every field saturated.
  end.setUint32(0, 0x06064b50, true);
  end.setBigUint64(4, 44n, true);
  end.setUint16(12, 45, true);
  end.setUint16(14, 45, true);
  end.setBigUint64(24, BigInt(records.length), true);
  end.setBigUint64(32, BigInt(records.length), true);
  end.setBigUint64(40, BigInt(size), true);
  end.setBigUint64(48, BigInt(start), true);
  end.setUint32(56, 0x07064b50, true);
  end.setBigUint64(64, BigInt(zip64End), true);
  end.setUint32(72, 1, true);
  end.setUint32(76, 0x06054b50, true);
  end.setUint16(84, 0xffff, true);
  end.setUint16(86, 0xffff, true);
  end.setUint32(88, MAX32, true);
  end.setUint32(92, MAX32, true);
  write(new Uint8Array(end.buffer));
}
