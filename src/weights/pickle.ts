import { modelError } from "../cli/errors.ts";

/**
 * A pickle virtual machine for the opcodes torch.save emits (protocols 2 to 5). It never imports or
 * evaluates anything: a GLOBAL resolves only through the caller's allow-list, and REDUCE/NEWOBJ can
 * only call the functions that allow-list hands out.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list and tuple → array, dict → Map.
 */

/** A callable that an allow-listed global stands for. */
export class PickleFunction {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** "module.name" → the value GLOBAL/STACK_GLOBAL push; any other global is refused. */
  globals: ReadonlyMap<string, unknown>;
  /** Resolves BINPERSID ids; without it a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Applies BUILD's state to an object; without it BUILD is an error. */
  build?: (target: unknown, state: unknown) => void;
}

const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  BINFLOAT: 0x47, // G
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_TUPLE: 0x29, // )
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** Runs `bytes` as a pickle and returns the object left by STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new PickleMachine(bytes, options).run();
}

class PickleMachine {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder("utf-8", { fatal: true });
  private readonly latin1 = new TextDecoder("latin1");

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    while (this.pos < this.bytes.length) {
      const at = this.pos;
      const op = this.bytes[this.pos++];
      if (op === OP.STOP) {
        if (this.stack.length !== 1 || this.marks.length) throw this.fail(at, "STOP with unbalanced stack");
        return this.stack[0];
      }
      this.step(op, at);
    }
    throw modelError(`pickle data truncated: ended after ${this.bytes.length} bytes without a STOP opcode`);
  }

  private fail(at: number, message: string): Error {
    return modelError(`pickle: ${message} (at byte ${at})`);
  }

  private take(count: number): Uint8Array {
    if (count < 0 || this.pos + count > this.bytes.length) {
      throw modelError(`pickle data truncated: needed ${count} bytes at byte ${this.pos}, only ${this.bytes.length - this.pos} left`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return out;
  }

  private u8(): number {
    return this.take(1)[0];
  }

  private u16(): number {
    this.take(2);
    return this.view.getUint16(this.pos - 2, true);
  }

  private u32(): number {
    this.take(4);
    return this.view.getUint32(this.pos - 4, true);
  }

  private u64(): number {
    this.take(8);
    const value = this.view.getBigUint64(this.pos - 8, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(this.pos - 8, `length ${value} is too large`);
    return Number(value);
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw modelError(`pickle data truncated: unterminated text line at byte ${this.pos}`);
    const text = this.latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  private pop(at: number): unknown {
    if (this.stack.length === 0) throw this.fail(at, "stack underflow");
    return this.stack.pop();
  }

  private top(at: number): unknown {
    if (this.stack.length === 0) throw this.fail(at, "stack underflow");
    return this.stack[this.stack.length - 1];
  }

  private popMark(at: number): unknown[] {
    const items = this.stack;
    const previous = this.marks.pop();
    if (!previous) throw this.fail(at, "MARK expected but none on the stack");
    this.stack = previous;
    return items;
  }

  private resolveGlobal(module: string, name: string): unknown {
    const key = `${module}.${name}`;
    if (!this.options.globals.has(key)) throw modelError(`refusing pickle global ${key}: not on the allow-list of weight-file types`);
    return this.options.globals.get(key);
  }

  private call(callable: unknown, args: unknown, at: number, opName: string): unknown {
    if (!(callable instanceof PickleFunction)) throw this.fail(at, `${opName} of a value that is not an allowed callable`);
    if (!Array.isArray(args)) throw this.fail(at, `${opName} arguments are not a tuple`);
    return callable.call(args);
  }

  private int(bytes: Uint8Array): number | bigint {
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
    if (bytes.length && bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(bytes.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private text(bytes: Uint8Array, at: number): string {
    try {
      return this.utf8.decode(bytes);
    } catch {
      throw this.fail(at, "string is not valid UTF-8");
    }
  }

  private step(op: number, at: number): void {
    const push = (value: unknown) => this.stack.push(value);
    switch (op) {
      case OP.PROTO:
        if (this.u8() > 5) throw this.fail(at, "pickle protocol newer than 5");
        return;
      case OP.FRAME:
        this.u64();
        return;
      case OP.MARK:
        this.marks.push(this.stack);
        this.stack = [];
        return;
      case OP.POP:
        this.pop(at);
        return;
      case OP.POP_MARK:
        this.popMark(at);
        return;
      case OP.DUP:
        push(this.top(at));
        return;
      case OP.NONE:
        return void push(null);
      case OP.NEWTRUE:
        return void push(true);
      case OP.NEWFALSE:
        return void push(false);
      case OP.BININT:
        this.take(4);
        return void push(this.view.getInt32(this.pos - 4, true));
      case OP.BININT1:
        return void push(this.u8());
      case OP.BININT2:
        return void push(this.u16());
      case OP.LONG1:
        return void push(this.int(this.take(this.u8())));
      case OP.LONG4:
        return void push(this.int(this.take(this.u32())));
      case OP.BINFLOAT:
        this.take(8);
        return void push(this.view.getFloat64(this.pos - 8, false));
      case OP.SHORT_BINUNICODE:
        return void push(this.text(this.take(this.u8()), at));
      case OP.BINUNICODE:
        return void push(this.text(this.take(this.u32()), at));
      case OP.BINUNICODE8:
        return void push(this.text(this.take(this.u64()), at));
      case OP.SHORT_BINSTRING:
        return void push(this.latin1.decode(this.take(this.u8())));
      case OP.BINSTRING:
        return void push(this.latin1.decode(this.take(this.u32())));
      case OP.SHORT_BINBYTES:
        return void push(this.take(this.u8()).slice());
      case OP.BINBYTES:
        return void push(this.take(this.u32()).slice());
      case OP.BINBYTES8:
        return void push(this.take(this.u64()).slice());
      case OP.EMPTY_LIST:
        return void push([]);
      case OP.EMPTY_TUPLE:
        return void push([]);
      case OP.EMPTY_DICT:
        return void push(new Map());
      case OP.LIST:
      case OP.TUPLE:
        return void push(this.popMark(at));
      case OP.TUPLE1:
        return void push([this.pop(at)]);
      case OP.TUPLE2: {
        const b = this.pop(at);
        return void push([this.pop(at), b]);
      }
      case OP.TUPLE3: {
        const c = this.pop(at);
        const b = this.pop(at);
        return void push([this.pop(at), b, c]);
      }
      case OP.DICT:
        push(new Map());
        return this.setItems(this.popMark(at), at);
      case OP.SETITEM: {
        const value = this.pop(at);
        const key = this.pop(at);
        return this.setItems([key, value], at);
      }
      case OP.SETITEMS:
        return this.setItems(this.popMark(at), at);
      case OP.APPEND:
        return this.append([this.pop(at)], at);
      case OP.APPENDS:
        return this.append(this.popMark(at), at);
      case OP.BINPUT:
        return void this.memo.set(this.u8(), this.top(at));
      case OP.LONG_BINPUT:
        return void this.memo.set(this.u32(), this.top(at));
      case OP.MEMOIZE:
        return void this.memo.set(this.memo.size, this.top(at));
      case OP.BINGET:
        return void push(this.memoGet(this.u8(), at));
      case OP.LONG_BINGET:
        return void push(this.memoGet(this.u32(), at));
      case OP.GLOBAL: {
        const module = this.line();
        return void push(this.resolveGlobal(module, this.line()));
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop(at);
        const module = this.pop(at);
        if (typeof module !== "string" || typeof name !== "string") throw this.fail(at, "STACK_GLOBAL needs two strings");
        return void push(this.resolveGlobal(module, name));
      }
      case OP.REDUCE: {
        const args = this.pop(at);
        return void push(this.call(this.pop(at), args, at, "REDUCE"));
      }
      case OP.NEWOBJ: {
        const args = this.pop(at);
        return void push(this.call(this.pop(at), args, at, "NEWOBJ"));
      }
      case OP.BUILD: {
        const state = this.pop(at);
        if (!this.options.build) throw this.fail(at, "BUILD is not supported here");
        return this.options.build(this.top(at), state);
      }
      case OP.BINPERSID: {
        const pid = this.pop(at);
        if (!this.options.persistentLoad) throw this.fail(at, "persistent ids are not supported here");
        return void push(this.options.persistentLoad(pid));
      }
      default:
        throw this.fail(at, `unknown or unsupported opcode 0x${op.toString(16).padStart(2, "0")}`);
    }
  }

  private memoGet(index: number, at: number): unknown {
    if (!this.memo.has(index)) throw this.fail(at, `memo entry ${index} was never stored`);
    return this.memo.get(index);
  }

  private setItems(items: unknown[], at: number): void {
    const dict = this.top(at);
    if (!(dict instanceof Map)) throw this.fail(at, "SETITEM(S) on a value that is not a dict");
    if (items.length % 2) throw this.fail(at, "SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  private append(items: unknown[], at: number): void {
    const list = this.top(at);
    if (!Array.isArray(list)) throw this.fail(at, "APPEND(S) on a value that is not a list");
    for (const item of items) list.push(item);
  }
}
