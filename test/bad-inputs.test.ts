import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "./helpers/build-binary.ts";
import { isProgressLine } from "./helpers/expect-error.ts";
import { hasTrainedDemo } from "../src/pipeline/demo.ts";

// Every bad input, fault and pipe of issue #16 through the compiled binary, on the built-in demo model: the exit code
// the README documents, one line on stderr naming the problem, no stack trace, no partial output.
let work: string;
let binary: string;
let home: string;
const IMAGE = join(import.meta.dir, "fixtures/image/decode/rgb.png");

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "glamm-bad-inputs-"));
  binary = buildBinary(join(work, "glamm"));
  home = join(work, "home");
});

const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts) spawnSync("umount", [dir]);
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, GLAMM_HOME: home, ...extra });

function glamm(args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(binary, args, { cwd: work, env: env(options.env), input: options.input, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Progress lines and notices (which the cases check on their own). */
const isNotice = (line: string) => isProgressLine(line) || line.startsWith("glamm: outputs in ") || line.endsWith("(skipped)");

/** Exit code, exactly one error line on stderr (besides notices) matching `pattern`, no stack trace. */
function expectError(r: Run, code: number, pattern: RegExp): string {
  const lines = r.stderr.split("\n").filter((l) => l && !isNotice(l));
  expect({ code: r.code, lines }).toEqual({ code, lines: [expect.stringMatching(pattern)] });
  expect(lines[0]).toStartWith("glamm: ");
  expect(r.stderr).not.toMatch(/\n\s+at |internal error|Bun v\d/);
  return lines[0];
}

/** Files under `dir`, recursively, relative. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const results = (out: string) =>
  readFileSync(join(out, "results.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { image: string; status: string; outputs?: string[] });

/** A folder of `names` (copies of the fixture image unless given bytes). */
function folder(name: string, files: Record<string, Buffer | string | null>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, bytes] of Object.entries(files)) {
    if (bytes === null) copyFileSync(IMAGE, join(dir, file));
    else writeFileSync(join(dir, file), bytes);
  }
  return dir;
}

const model = ["--model", "demo", "--device", "cpu"];
// The random-weight demo babbles until --max-tokens: a short answer keeps each run well under a second.
const demo = [...model, "--max-tokens", "8"];

describe("batch integrity", () => {
  test("a 0-byte image alone is an input error naming it, with no outputs", () => {
    const dir = folder("empty-alone", { "empty.png": "" });
    const out = join(work, "out-empty-alone");
    expectError(glamm(["gcg", join(dir, "empty.png"), ...demo, "--out", out]), 2, /empty\.png is empty \(0 bytes\)/);
    expect(listing(out).filter((f) => f.includes("glamm."))).toEqual([]);
  });

  test("a 0-byte image in a folder is skipped with its name and the images after it are done (exit 2)", () => {
    const dir = folder("empty-batch", { "a.png": null, "empty.jpg": "", "z.png": null });
    const out = join(work, "out-empty-batch");
    const r = glamm(["gcg", dir, ...demo, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("empty.jpg is empty (0 bytes), not an image (skipped)");
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(results(out).map((l) => [l.image.split("/").pop(), l.status])).toEqual([["a.png", "ok"], ["empty.jpg", "error"], ["z.png", "ok"]]);
    expect(listing(out)).toEqual(["a.glamm.json", "a.glamm.png", "results.jsonl", "z.glamm.json", "z.glamm.png"]);
  });

  test("a symlink loop in a folder is skipped with a notice", () => {
    const dir = folder("loop", { "a.png": null });
    symlinkSync("loop2", join(dir, "loop1"));
    symlinkSync("loop1", join(dir, "loop2"));
    mkdirSync(join(dir, "sub"));
    symlinkSync("..", join(dir, "sub", "up"));
    const out = join(work, "out-loop");
    const r = glamm(["gcg", dir, ...demo, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`skipping ${join(dir, "loop1")}: symbolic link loop`);
    expect(r.stderr).not.toMatch(/ELOOP|internal error/);
    expect(results(out).map((l) => l.image)).toEqual([join(dir, "a.png")]);
  });

  test("a FIFO as IMAGE is refused at once instead of hanging", () => {
    const fifo = join(work, "pipe.png");
    spawnSync("mkfifo", [fifo]);
    expectError(glamm(["gcg", fifo, ...demo, "--out", join(work, "out-fifo")]), 2, /pipe\.png is a FIFO, not an image file/);
  });

  test("an image named twice is done once", () => {
    const out = join(work, "out-twice");
    const r = glamm(["gcg", IMAGE, IMAGE, ...demo, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    expect(results(out)).toHaveLength(1);
  });

  test("two processes on one --out do each image once: no duplicate results lines, no claim left behind", async () => {
    const dir = folder("many", Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`img${String(i).padStart(2, "0")}.png`, null])));
    const out = join(work, "out-shared");
    const start = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(binary, ["gcg", dir, ...demo, "--out", out], { cwd: work, env: env(), stdio: "ignore" });
        child.on("close", resolve);
      });
    expect(await Promise.all([start(), start()])).toEqual([0, 0]);
    const images = results(out).map((l) => l.image);
    expect(images.sort()).toEqual(readdirSync(dir).map((f) => join(dir, f)).sort());
    const files = listing(out);
    expect(files.filter((f) => f.includes(".lock") || f.endsWith(".tmp"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".glamm.png"))).toHaveLength(8);
    expect(files.filter((f) => f.endsWith(".glamm.json"))).toHaveLength(8);
  });

  test("'-' reads the image from stdin", () => {
    const out = join(work, "out-stdin");
    const r = glamm(["gcg", "-", ...demo, "--out", out], { input: readFileSync(IMAGE) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).image.path).toBe("-");
    expect(listing(out)).toEqual(["results.jsonl", "stdin.glamm.json", "stdin.glamm.png"]);
  });
});

describe("output folder problems", () => {
  test("--out that is a file, under a file, or empty", () => {
    const file = join(work, "a-file");
    writeFileSync(file, "x");
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", file]), 2, new RegExp(`--out ${file} is a file, not a folder`));
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", join(file, "sub")]), 2, new RegExp(`cannot create ${file}/sub: a part of the path is a file`));
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", ""]), 1, /--out needs a folder name/);
  });

  test("GLAMM_HOME that is a file", () => {
    const file = join(work, "home-file");
    writeFileSync(file, "x");
    expectError(glamm(["gcg", IMAGE, ...demo], { env: { GLAMM_HOME: file } }), 4, /GLAMM_HOME=.*home-file is a file, not a folder/);
  });
});

// A full disk and a read-only folder need a file system of their own: a small tmpfs, which only root may mount.
const isRoot = process.getuid?.() === 0;
function tmpfs(name: string, options: string): string | undefined {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  mounts.push(dir);
  return dir;
}

describe.skipIf(!isRoot)("disk full and read-only (tmpfs; skipped unless running as root)", () => {
  test("disk full: one line naming the file, exit 4, no output of the image and no results line", () => {
    const disk = tmpfs("full", "size=64k");
    if (!disk) throw new Error("mount -t tmpfs failed although running as root");
    // Leave one page: the overlay could fit, the JSON cannot.
    writeFileSync(join(disk, "filler"), Buffer.alloc(60 * 1024));
    const out = join(disk, "out");
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", out]), 4, new RegExp(`cannot write ${out}/rgb\\.glamm\\.(png|json): no space left on the device`));
    expect(listing(out).filter((f) => f !== "results.jsonl")).toEqual([]);
    expect(existsSync(join(out, "results.jsonl")) ? readFileSync(join(out, "results.jsonl"), "utf8") : "").toBe("");
  });

  test("read-only --out", () => {
    const ro = tmpfs("ro", "ro,size=16k");
    if (!ro) throw new Error("mount -t tmpfs failed although running as root");
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", ro]), 2, new RegExp(`--out: cannot write in ${ro}: read-only file system`));
    expectError(glamm(["gcg", IMAGE, ...demo, "--out", join(ro, "sub")]), 2, new RegExp(`--out: cannot create ${ro}/sub: read-only file system`));
  });
});
if (!isRoot) test.skip("disk full and read-only --out: skipped, need root to mount a tmpfs", () => {});

describe("pipes and chat", () => {
  test("`glamm gcg DIR | head -n1` ends quietly with exit 0, every recorded image complete", () => {
    const dir = folder("piped", Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}.png`, null])));
    const out = join(work, "out-piped");
    const script = `"${binary}" gcg "${dir}" --model demo --device cpu --max-tokens 8 --out "${out}" 2>"${work}/piped.err" | head -n1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const r = spawnSync("bash", ["-c", script], { cwd: work, env: env(), encoding: "utf8", timeout: 30_000 });
    expect(r.stdout.trim()).toBe("0");
    const stderr = readFileSync(join(work, "piped.err"), "utf8");
    expect(stderr).not.toMatch(/EPIPE|\n\s+at |internal error/);
    const recorded = results(out);
    expect(recorded.length).toBeGreaterThanOrEqual(1);
    expect(recorded.length).toBeLessThan(6);
    for (const line of recorded) for (const file of line.outputs ?? []) expect(existsSync(file)).toBe(true);
  });

  test("Ctrl-C on a piped run stops after the current image with exit 130", async () => {
    const dir = folder("interrupted", Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`q${i}.png`, null])));
    const out = join(work, "out-interrupted");
    const child = spawn(binary, ["gcg", dir, ...demo, "--out", out], { cwd: work, env: env() });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    // As in `glamm gcg DIR | jq` and Ctrl-C: both get SIGINT, the reader is gone.
    child.stdout.once("data", () => {
      child.kill("SIGINT");
      child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/EPIPE|\n\s+at |internal error/);
    expect(stderr).toMatch(/interrupted: \d image\(s\) done this run/);
    for (const line of results(out)) for (const file of line.outputs ?? []) expect(existsSync(file)).toBe(true);
  });

  const chat = (input: string, keepOpen: boolean) =>
    new Promise<Run>((resolve) => {
      const child = spawn(binary, ["chat", IMAGE, ...demo, "--out", join(work, "out-chat")], { cwd: work, env: env() });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.stdin.write(input);
      if (!keepOpen) child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  for (const command of ["/quit", "/exit"]) {
    test(`chat: ${command} ends the session with stdin still open`, async () => {
      const r = await chat(`hello\n${command}\nnot asked\n`, true);
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split("\n")).toHaveLength(1);
    });
  }

  test("chat: end of input ends the session", async () => {
    const r = await chat("hello\n", false);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
  });
});

describe("unbounded text", () => {
  test("an expression longer than the context is refused before any work", () => {
    const line = expectError(glamm(["segment", "x".repeat(20_000), IMAGE, ...model, "--out", join(work, "out-long")]), 2, /the expression is too long: \d+ prompt tokens \+ --max-tokens 512 exceed the model's context of 2048 tokens/);
    expect(line).not.toContain("xxxx");
    expect(existsSync(join(work, "out-long", "rgb.glamm.png"))).toBe(false);
  });

  test("--max-tokens beyond the context", () => {
    expectError(glamm(["gcg", IMAGE, ...model, "--max-tokens", "100000"]), 2, /--max-tokens 100000 is over the model's context of 2048 tokens/);
  });

  test("a prompt that fits alone but not with --max-tokens", () => {
    expectError(glamm(["gcg", IMAGE, ...model, "--max-tokens", "2000"]), 2, /the prompt is too long: \d+ prompt tokens \+ --max-tokens 2000 exceed the model's context of 2048/);
  });

  test("30,000 characters of expression or a 100 KB --text: one line, no crash", () => {
    expectError(glamm(["segment", "x".repeat(30_000), IMAGE, ...demo]), 2, /argument 2 is 30000 characters: glamm takes a command line of at most 24576 bytes/);
    expectError(glamm(["ground", IMAGE, ...demo, "--text", "<p>a</p> ".repeat(11_000)]), 2, /--text is 99000 characters/);
  });
});

describe("usage errors name what is wrong (exit 1)", () => {
  const cases: [string, string[], RegExp][] = [
    ["missing IMAGE", ["gcg"], /^glamm: glamm gcg needs IMAGE/],
    ["missing --box", ["region", IMAGE], /^glamm: glamm region needs --box X1,Y1,X2,Y2$/],
    ["missing --text", ["ground", IMAGE], /^glamm: glamm ground needs --text TEXT$/],
    ["a typo in an option", ["gcg", IMAGE, "--fromat", "png"], /^glamm: glamm gcg has no option --fromat; did you mean --format\?$/],
    ["an option without its value", ["gcg", IMAGE, "--max-tokens"], /^glamm: --max-tokens needs a value: --max-tokens N$/],
    ["a typo in a command", ["gcgg", IMAGE], /^glamm: unknown command "gcgg"; did you mean `glamm gcg`\?$/],
    ["segment with an expression and no image", ["segment", "dog"], /^glamm: glamm segment needs an EXPRESSION and an IMAGE/],
    ["an attend-only option on segment", ["segment", "dog", IMAGE, "--sam", "x.pth"], /^glamm: glamm segment has no option --sam/],
    ["GLAMM_DEVICE=gpu", ["gcg", IMAGE, "--model", "demo"], /^glamm: GLAMM_DEVICE=gpu is not a device \(expected auto, cpu, cuda\)$/],
    ["glamm eval alone", ["eval"], /^glamm: glamm eval needs a subcommand: gcg, refseg, regcap or captions/],
    ["a benchmark parameter that is not a number", ["bench", "onnx-matmul", "--param", "size=abc"], /^glamm: --param size must be a whole number >= 1, got "abc"$/],
  ];
  for (const [name, args, pattern] of cases) {
    test(name, () => {
      expectError(glamm(args, { env: name === "GLAMM_DEVICE=gpu" ? { GLAMM_DEVICE: "gpu" } : {} }), 1, pattern);
    });
  }
});

describe("accepted forms", () => {
  test("segment -e A -e B IMAGE, and negative numbers after --box reach the box check", () => {
    const r = glamm(["segment", "-e", "dog", "-e", "red ball", IMAGE, ...demo, "--out", join(work, "out-e")]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).prompt.split("\n")).toEqual(["Can you segment the dog in this image?", "Can you segment the red ball in this image?"]);
    expectError(glamm(["region", IMAGE, "--box", "-10,-10,50,50", ...demo, "--out", join(work, "out-neg")]), 2, /box 1 \(-10,-10,50,50\) lies outside the 16x12 image/);
  });

  test("GLAMM_DEVICE is case-insensitive", () => {
    expect(glamm(["gcg", IMAGE, ...demo.filter((a) => a !== "--device" && a !== "cpu"), "--out", join(work, "out-dev")], { env: { GLAMM_DEVICE: "CPU" } }).code).toBe(0);
  });
});

describe("messages that name the problem", () => {
  const cases: [string, string[], number, RegExp][] = [
    ["ground --text without <p>", ["ground", IMAGE, "--text", "a man with a kite"], 2, /--text marks no phrase to ground/],
    ["ground --text with an unclosed <p>", ["ground", IMAGE, "--text", "a <p>man"], 2, /--text leaves a <p> open/],
    ["ground --text with nested <p>", ["ground", IMAGE, "--text", "<p>a <p>man</p></p>"], 2, /phrases cannot nest/],
    ["ground --text with an empty <p></p>", ["ground", IMAGE, "--text", "a <p> </p> man"], 2, /--text has an empty <p><\/p>/],
    ["segment \"\"", ["segment", "", IMAGE], 2, /expression 1 is empty/],
    // With a trained attend demo in models/demo (embedded in the binary), --model demo names it.
    ...(hasTrainedDemo("attend") ? [] : [["--model demo --backend attend", ["gcg", IMAGE, "--backend", "attend"], 3, /needs a LLaVA-1.5 or DiffLMM model, not demo: run `glamm pull llava-v1.5-7b` or pass --model DIR/] as [string, string[], number, RegExp]]),
    ["--model FILE", ["gcg", IMAGE, "--model", IMAGE], 3, /--model .*rgb\.png is a file; give a checkpoint folder/],
    ["--model that names nothing", ["gcg", IMAGE, "--model", "nonesuch"], 3, /model nonesuch is not installed and is not a folder \(`glamm models` lists/],
  ];
  for (const [name, args, code, pattern] of cases) {
    test(name, () => {
      const withModel = args.includes("--model") ? args : [...args, ...demo];
      const line = expectError(glamm([...withModel, "--out", join(work, "out-msg")]), code, pattern);
      expect(line).not.toMatch(/glamm pull (demo|nonesuch|\/)/);
      expect(listing(join(work, "out-msg")).filter((f) => f.includes("glamm."))).toEqual([]);
    });
  }

  test("a checkpoint whose vision tower is missing: advice names --vision, not `glamm pull clip`", () => {
    const ckpt = folder("ckpt-no-vision", { "config.json": JSON.stringify({ architectures: ["GLaMMForCausalLM"], mm_vision_tower: "clip" }) });
    const line = expectError(glamm(["gcg", IMAGE, "--model", ckpt, "--device", "cpu"]), 3, /vision tower clip \(from .*config\.json\) is not installed; pass --vision DIR$/);
    expect(line).not.toContain("glamm pull");
  });

  test("eval gcg with missing folders: only the missing folder, no recall notice first", () => {
    const r = glamm(["eval", "gcg", "--gt-dir", join(work, "no-gt"), join(work, "no-pred")]);
    expectError(r, 2, /prediction folder not found: .*no-pred$/);
    expect(r.stderr).not.toContain("recall");
  });

  test("runtime install cuda offline: the error alone, no progress line", () => {
    const r = glamm(["runtime", "install", "cuda"], { env: { GLAMM_NUGET_ENDPOINT: "http://127.0.0.1:9/v3/index.json" } });
    expectError(r, 4, /CUDA provider/);
    expect(r.stderr).not.toContain("0 B / 0 B");
  });
});

describe("--help", () => {
  test("value names instead of #0, required options in usage lines, attend options only where attend runs", () => {
    for (const command of ["gcg", "segment", "region", "caption", "ground", "chat", "eval gcg", "trace", "bench", "pull"]) {
      const r = glamm([...command.split(" "), "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain("#0");
      expect(r.stdout).not.toContain("../shared");
    }
    expect(glamm(["region", "--help"]).stdout).toContain("$ glamm region --box X1,Y1,X2,Y2 <image> ...");
    expect(glamm(["ground", "--help"]).stdout).toContain("$ glamm ground --text TEXT <image> ...");
    for (const command of ["segment", "region"]) expect(glamm([command, "--help"]).stdout).not.toMatch(/--sam|--heatmaps|--min-score|--remove-corner|--backend/);
    expect(glamm(["gcg", "--help"]).stdout).toContain("--heatmaps");
  });

  test("glamm eval --help describes the evaluations instead of a menu", () => {
    const r = glamm(["eval", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("Multiple commands match");
    for (const sub of ["glamm eval gcg", "glamm eval refseg", "glamm eval regcap"]) expect(r.stdout).toContain(sub);
  });

  test("--help into a closed pipe is no stack trace", () => {
    const r = spawnSync("bash", ["-c", `"${binary}" gcg --help | head -n1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: work, env: env(), encoding: "utf8" });
    expect(r.stdout.trim()).toBe("0");
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
  });
});

const haveScript = spawnSync("script", ["--version"]).status === 0;

describe("terminal output", () => {
  test.skipIf(!haveScript)("chat on a terminal (a pty from `script`): each answer shown once, no raw control bytes", () => {
    const input = join(work, "chat-input.txt");
    writeFileSync(input, "hello\n");
    const command = `stty cols 80 rows 24; "${binary}" chat "${IMAGE}" --model demo --device cpu --max-tokens 12 --out "${join(work, "out-tty")}" < "${input}"`;
    const r = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: work, env: env({ TERM: "xterm" }), encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    // What stays on screen: the streamed draft is erased (\r, ESC[J) before the final answer replaces it.
    const screen = r.stdout.replace(/\x1b\[2m[^]*?\r(\x1b\[\d+A)?\x1b\[J/g, "").replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "");
    const answer = JSON.parse(readFileSync(join(work, "out-tty", "rgb.turn1.glamm.json"), "utf8")).text as string;
    const shown = answer.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
    expect(screen.split(shown).length - 1).toBe(1);
    expect(r.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "")).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]/);
  });

  test("a run ends with one line naming the output folder (stderr when stdout is a pipe)", () => {
    const out = join(work, "out-named");
    const r = glamm(["caption", IMAGE, ...demo, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split("\n").at(-1)).toBe(`glamm: outputs in ${out}/ (1 image(s) new this run; results.jsonl lists every finished image)`);
  });
});
