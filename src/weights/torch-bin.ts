import { GlammError, modelError } from "../cli/errors.ts";
import { type DType, dtypeBytes } from "./dtype.ts";
import type { RandomAccessFile } from "./file.ts";
import { PickleFunction, unpickle } from "./pickle.ts";
import { checkTensorBounds, type StoredTensor } from "./tensor.ts";
import { ZipArchive } from "./zip.ts";

/** data.pkl holds only structure (names, shapes, storage keys); even huge checkpoints keep it to a few MiB. */
const MAX_PICKLE_BYTES = 256 << 20;

/** The legacy storage classes torch.save names in persistent ids, by element type. */
const storageClasses: Record<string, DType> = {
  DoubleStorage: "F64",
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

class StorageClass {
  constructor(readonly dtype: DType) {}
}

class Storage {
  constructor(
    readonly dtype: DType,
    readonly byteOffset: number,
    readonly elements: number,
  ) {}
}

/** What _rebuild_tensor_v2 produces: a strided view of a storage. */
class TensorView {
  constructor(
    readonly storage: Storage,
    readonly elementOffset: number,
    readonly shape: number[],
    readonly strides: number[],
  ) {}
}

/** A type torch.save writes beside plain tensors that changes nothing about their data. */
const TENSOR_TYPES = new Set(["torch.Tensor", "torch.nn.parameter.Parameter"]);

function naturals(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw modelError(`torch checkpoint: ${what} ${JSON.stringify(value)} is not a tuple of non-negative integers`);
  }
  return value as number[];
}

function rebuildTensor(args: unknown[]): TensorView {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) throw modelError("torch checkpoint: tensor without a storage");
  const [elementOffset] = naturals([offset], "storage offset");
  return new TensorView(storage, elementOffset, naturals(size, "size"), naturals(stride, "stride"));
}

function tensorArgument(args: unknown[]): TensorView {
  if (!(args[0] instanceof TensorView)) throw modelError("torch checkpoint: parameter does not wrap a tensor");
  return args[0];
}

function allowedGlobals(): Map<string, unknown> {
  const globals = new Map<string, unknown>([
    ["collections.OrderedDict", new PickleFunction("collections.OrderedDict", () => new Map())],
    ["torch._utils._rebuild_tensor_v2", new PickleFunction("torch._utils._rebuild_tensor_v2", rebuildTensor)],
    ["torch._utils._rebuild_parameter", new PickleFunction("torch._utils._rebuild_parameter", tensorArgument)],
    ["torch._utils._rebuild_parameter_with_state", new PickleFunction("torch._utils._rebuild_parameter_with_state", tensorArgument)],
    [
      "torch._tensor._rebuild_from_type_v2",
      new PickleFunction("torch._tensor._rebuild_from_type_v2", ([rebuild, type, args]) => {
        if (!(rebuild instanceof PickleFunction) || !(type instanceof PickleFunction) || !TENSOR_TYPES.has(type.qualifiedName)) {
          throw modelError("torch checkpoint: unsupported tensor subclass");
        }
        return rebuild.call(args as unknown[]);
      }),
    ],
  ]);
  for (const name of TENSOR_TYPES) {
    globals.set(name, new PickleFunction(name, () => {
      throw modelError(`torch checkpoint: ${name} cannot be constructed directly`);
    }));
  }
  for (const [name, dtype] of Object.entries(storageClasses)) globals.set(`torch.${name}`, new StorageClass(dtype));
  return globals;
}

/** The one top-level folder holding data.pkl; torch names it after the file ("archive" in newer versions). */
function archivePrefix(zip: ZipArchive): string {
  const prefixes = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name)).map((name) => name.slice(0, -"/data.pkl".length));
  if (prefixes.length !== 1) {
    throw modelError(`${zip.file.path}: not a torch checkpoint (expected one <archive>/data.pkl in the zip, found ${prefixes.length})`);
  }
  return prefixes[0];
}

/** Locates every tensor of a torch.save zip checkpoint (.bin/.pth/.pt) without running any of its code. */
export function readTorchZip(file: RandomAccessFile): Map<string, StoredTensor> {
  const zip = ZipArchive.read(file);
  const prefix = archivePrefix(zip);
  if (zip.entries.has(`${prefix}/byteorder`)) {
    const order = new TextDecoder().decode(zip.readEntry(`${prefix}/byteorder`, 16));
    if (order !== "little") throw modelError(`${file.path}: ${order}-endian torch checkpoints are not supported`);
  }
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || !(pid[1] instanceof StorageClass) || typeof pid[2] !== "string") {
      throw modelError("unsupported persistent id in data.pkl");
    }
    const [, { dtype }, key] = pid as [string, StorageClass, string];
    const cacheKey = `${key}:${dtype}`;
    const known = storages.get(cacheKey);
    if (known) return known;
    const name = `${prefix}/data/${key}`;
    if (!zip.entries.has(name)) throw modelError(`storage ${key} referenced by data.pkl is missing (no ${name})`);
    const { offset, length } = zip.storedRange(name);
    const storage = new Storage(dtype, offset, Math.floor(length / dtypeBytes[dtype]));
    storages.set(cacheKey, storage);
    return storage;
  };
  const pickle = zip.readEntry(`${prefix}/data.pkl`, MAX_PICKLE_BYTES);
  let root: unknown;
  try {
    root = unpickle(pickle, {
      globals: allowedGlobals(),
      persistentLoad,
      // OrderedDict state dicts carry a `_metadata` attribute (module versions), which weights do not need.
      build: (target) => {
        if (!(target instanceof Map)) throw modelError("pickle: BUILD on an object that is not a dict");
      },
    });
  } catch (error) {
    if (error instanceof GlammError && !error.message.startsWith(file.path)) throw modelError(`${file.path}: ${error.message}`);
    throw error;
  }
  return collectTensors(file, root);
}

function collectTensors(file: RandomAccessFile, root: unknown): Map<string, StoredTensor> {
  if (!(root instanceof Map)) throw modelError(`${file.path}: checkpoint is not a state dict (top-level object is not a dict)`);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, value] of root) {
    if (!(value instanceof TensorView)) continue;
    if (typeof name !== "string") throw modelError(`${file.path}: state dict key ${String(name)} is not a string`);
    const tensor: StoredTensor = {
      dtype: value.storage.dtype,
      shape: value.shape,
      strides: value.strides,
      file,
      storageByteOffset: value.storage.byteOffset,
      storageElements: value.storage.elements,
      elementOffset: value.elementOffset,
    };
    checkTensorBounds(name, tensor);
    tensors.set(name, tensor);
  }
  if (tensors.size === 0) throw modelError(`${file.path}: checkpoint holds no tensors at its top level`);
  return tensors;
}
