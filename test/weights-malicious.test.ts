import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode, GlammError } from "../src/cli/errors.ts";
import { openWeights } from "../src/weights/index.ts";
import { unpickle } from "../src/weights/pickle.ts";

const BAD = join(import.meta.dir, "fixtures/weights/bad");
const FIXTURES = join(import.meta.dir, "fixtures/weights");
const scratch = mkdtempSync(join(tmpdir(), "glamm-weights-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Opening and reading every tensor must fail with a one-line weights error (exit code 3) matching `message`. */
function expectWeightsError(path: string, message: RegExp): void {
  let caught: unknown;
  try {
    const weights = openWeights(path);
    for (const name of weights.keys()) weights.read(name);
    weights.close();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(GlammError);
  expect((caught as GlammError).exitCode).toBe(ExitCode.model);
  expect((caught as GlammError).message).toMatch(message);
  expect((caught as GlammError).message).not.toContain("\n");
}

describe("hostile or broken torch checkpoints are refused with a clear error", () => {
  test("GLOBAL os.system + REDUCE", () => expectWeightsError(join(BAD, "os_system.bin"), /refusing pickle global os\.system/));
  test("unknown opcode", () => expectWeightsError(join(BAD, "unknown_opcode.bin"), /unknown or unsupported opcode 0xff/));
  test("truncated data.pkl", () => expectWeightsError(join(BAD, "truncated_pickle.bin"), /pickle data truncated/));
  test("truncated zip file", () => expectWeightsError(join(BAD, "truncated.bin"), /no zip end-of-central-directory record; the file is truncated/));
  test("storage offset past the end of its storage", () =>
    expectWeightsError(join(BAD, "offset_past_end.bin"), /tensor w reaches element 4 \(storage offset 2\) but its storage holds only 4 elements/));
  test("storage missing from the archive", () => expectWeightsError(join(BAD, "missing_storage.bin"), /storage 7 referenced by data\.pkl is missing/));
  test("compressed tensor data", () => expectWeightsError(join(BAD, "deflated_data.bin"), /is compressed \(method 8\)/));
  test("big-endian checkpoint", () => expectWeightsError(join(BAD, "big_endian.bin"), /big-endian torch checkpoints are not supported/));
  test("legacy non-zip torch format", () => expectWeightsError(join(FIXTURES, "legacy.bin"), /legacy \(pre-1\.6, non-zip\) format/));
  test("STACK_GLOBAL builtins.eval in a raw pickle", () => {
    const bytes = new Uint8Array(readFileSync(join(BAD, "eval_stack_global.pkl")));
    expect(() => unpickle(bytes, { globals: new Map() })).toThrow(/refusing pickle global builtins\.eval/);
  });
});

describe("broken safetensors files are refused with a clear error", () => {
  test("overlapping tensors", () => expectWeightsError(join(BAD, "overlap.safetensors"), /tensors a and b overlap/));
  test("data offsets past the end", () => expectWeightsError(join(BAD, "past_end.safetensors"), /data_offsets \[16, 40\] lie outside the 32 data bytes/));
  test("unsupported dtype", () => expectWeightsError(join(BAD, "bad_dtype.safetensors"), /unsupported dtype "F8_E4M3"/));
  test("header length beyond the file is not taken for safetensors", () => expectWeightsError(join(BAD, "header_too_long.safetensors"), /neither a safetensors file nor a torch zip/));
  test("header that is not valid JSON", () => {
    const path = join(scratch, "short.safetensors");
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 8n, true);
    bytes.set(new TextEncoder().encode('{"a":{"'), 8);
    writeFileSync(path, bytes);
    expectWeightsError(path, /safetensors header is not valid JSON/);
  });
});

describe("bad paths and indexes", () => {
  test("missing path", () => expectWeightsError(join(scratch, "nope"), /does not exist/));
  test("directory without weights", () => expectWeightsError(mkdtempSync(join(scratch, "empty-")), /no weights found/));
  test("index pointing outside its directory", () => {
    const path = join(scratch, "escape.index.json");
    writeFileSync(path, JSON.stringify({ weight_map: { w: "../dtypes.bin" } }));
    expectWeightsError(path, /shard \.\.\/dtypes\.bin is not a file name/);
  });
  test("index naming a tensor its shard lacks", () => {
    const dir = mkdtempSync(join(scratch, "idx-"));
    writeFileSync(join(dir, "a.bin"), readFileSync(join(FIXTURES, "single_dir/weights.pth")));
    writeFileSync(join(dir, "pytorch_model.bin.index.json"), JSON.stringify({ weight_map: { ghost: "a.bin" } }));
    expectWeightsError(dir, /places tensor ghost in a\.bin, but that shard has no such tensor/);
  });
  test("index without weight_map", () => {
    const path = join(scratch, "empty.index.json");
    writeFileSync(path, "{}");
    expectWeightsError(path, /has no weight_map/);
  });
});
