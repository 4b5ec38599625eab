import { describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RandomAccessFile } from "../src/weights/file.ts";
import { PickleFunction, unpickle } from "../src/weights/pickle.ts";

const FIXTURES = join(import.meta.dir, "fixtures/weights");

/** The object make_fixtures.py pickles, written out by hand in pickle.ts's value mapping. */
function plainObject(): Map<string, unknown> {
  const shared = [1, 2, 3];
  return new Map<string, unknown>([
    ["int", 5],
    ["neg", -70000],
    ["big", 2n ** 70n],
    ["negbig", -(2n ** 65n)],
    ["float", 1.5],
    ["str", "héllo"],
    ["bytes", new Uint8Array([0, 1, 255])],
    ["tuple", [1, "a", null]],
    ["bools", [true, false]],
    ["nested", new Map([["a", new Map([["b", []]])]])],
    ["shared", [shared, shared]],
    ["long", Array.from({ length: 300 }, (_, i) => i)],
  ]);
}

const bytesOf = (...codes: (number | string)[]) =>
  new Uint8Array(codes.flatMap((c) => (typeof c === "number" ? [c] : [...c].map((ch) => ch.charCodeAt(0)))));

describe("pickle VM", () => {
  test("protocol 5 pickle from CPython (FRAME, MEMOIZE, LONG1, BINFLOAT, SHORT_BINBYTES ...)", async () => {
    const bytes = new Uint8Array(await Bun.file(join(FIXTURES, "plain_p5.pkl")).arrayBuffer());
    const value = unpickle(bytes, { globals: new Map() }) as Map<string, unknown>;
    expect(value).toEqual(plainObject());
    const shared = value.get("shared") as unknown[];
    expect(shared[0]).toBe(shared[1]);
  });

  test("protocol 2 pickle from CPython, with bytes through an allow-listed _codecs.encode", async () => {
    const bytes = new Uint8Array(await Bun.file(join(FIXTURES, "plain_p2.pkl")).arrayBuffer());
    expect(() => unpickle(bytes, { globals: new Map() })).toThrow(/refusing pickle global _codecs\.encode/);
    const encode = new PickleFunction("_codecs.encode", ([text]) => new Uint8Array([...(text as string)].map((c) => c.charCodeAt(0))));
    expect(unpickle(bytes, { globals: new Map([["_codecs.encode", encode]]) })).toEqual(plainObject());
  });

  test("REDUCE of a value that is not an allowed callable is refused", () => {
    // PROTO 2, BININT1 1, EMPTY_TUPLE, REDUCE, STOP
    expect(() => unpickle(bytesOf(0x80, 2, "K", 1, ")", "R", "."), { globals: new Map() })).toThrow(/REDUCE of a value that is not an allowed callable/);
  });

  test("BINGET of a memo slot never stored", () => {
    expect(() => unpickle(bytesOf(0x80, 2, "h", 9, "."), { globals: new Map() })).toThrow(/memo entry 9 was never stored/);
  });

  test("stack underflow and missing STOP", () => {
    expect(() => unpickle(bytesOf(0x80, 2, "0", "."), { globals: new Map() })).toThrow(/stack underflow/);
    expect(() => unpickle(bytesOf(0x80, 2, "N"), { globals: new Map() })).toThrow(/without a STOP opcode/);
  });

  test("BINPERSID without a persistent loader, BUILD without a build hook", () => {
    expect(() => unpickle(bytesOf(0x80, 2, "N", "Q", "."), { globals: new Map() })).toThrow(/persistent ids are not supported/);
    expect(() => unpickle(bytesOf(0x80, 2, "}", "N", "b", "."), { globals: new Map() })).toThrow(/BUILD is not supported/);
  });
});

describe("RandomAccessFile", () => {
  test("positioned reads beyond 4 GiB (sparse file)", () => {
    const dir = mkdtempSync(join(tmpdir(), "glamm-sparse-"));
    const path = join(dir, "big.bin");
    const far = 4.5 * 2 ** 30;
    const fd = openSync(path, "w");
    try {
      ftruncateSync(fd, far + 8);
      writeSync(fd, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 0, 8, far);
    } finally {
      closeSync(fd);
    }
    const file = RandomAccessFile.open(path);
    try {
      expect(file.size).toBe(far + 8);
      expect([...file.read(far + 2, 4)]).toEqual([3, 4, 5, 6]);
      expect(() => file.read(far + 4, 8)).toThrow(/runs past the end of the file/);
    } finally {
      file.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
