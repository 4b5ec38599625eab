import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { GlammError } from "../src/cli/errors.ts";
import { writeGallery } from "../src/output/gallery.ts";
import { writeGlammJson } from "../src/output/json.ts";
import { sampleResult, tempDirWithImage } from "./output-fixtures.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping gallery browser checks: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const { dir, imagePath } = await tempDirWithImage();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeGlammJson(join(dir, "photo.glamm.json"), sampleResult(imagePath));
mkdirSync(join(dir, "nested"));
writeGlammJson(
  join(dir, "nested", "refer.glamm.json"),
  sampleResult(imagePath, {
    task: "segment",
    rawText: "Sure, it is [SEG].",
    text: "Sure, it is.",
    segments: [{ ...sampleResult(imagePath).segments[1], phrase: "", start: 11, end: 11 }],
  }),
);
writeGlammJson(join(dir, "nested", "lost.glamm.json"), sampleResult(join(dir, "gone.png"), { text: "<b>escaped</b>", segments: [] }));
const { path: pagePath, count } = await writeGallery(dir);
const html = readFileSync(pagePath, "utf8");

describe("gallery page", () => {
  test("one figure per result found recursively, self-contained", () => {
    expect(count).toBe(3);
    expect(html.match(/<figure class="result"/g)).toHaveLength(3);
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html.match(/src="data:image\/jpeg;base64,/g)).toHaveLength(2);
    expect(html).toContain("image not found: ../gone.png");
    expect(html).toContain("&lt;b&gt;escaped&lt;/b&gt;");
  });

  test("an empty directory is an input error", async () => {
    const empty = mkdtempSync(join(tmpdir(), "glamm-empty-"));
    await expect(writeGallery(empty)).rejects.toThrow(GlammError);
    rmSync(empty, { recursive: true });
  });
});

function chromiumArgs(profile: string): string[] {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    `--user-data-dir=${profile}`,
  ];
}

/** Talks to one page over the DevTools protocol (Bun's WebSocket). */
async function withDevTools<T>(url: string, use: (send: (method: string, params?: object) => Promise<any>) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), "glamm-chromium-"));
  const proc = Bun.spawn([CHROMIUM, ...chromiumArgs(profile), "--remote-debugging-port=0", "--window-size=1000,800", url], { stdout: "ignore", stderr: "pipe" });
  try {
    const reader = proc.stderr.getReader();
    let log = "";
    let port: string | undefined;
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited before DevTools started: ${log}`);
      log += new TextDecoder().decode(value);
      port = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(log)?.[1];
    }
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const socket = new WebSocket(targets.find((t) => t.type === "page")!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => ((socket.onopen = resolve), (socket.onerror = reject)));
    const pending = new Map<number, (value: any) => void>();
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      pending.get(message.id)?.(message.result);
    };
    let nextId = 0;
    const send = (method: string, params: object = {}) =>
      new Promise<any>((resolve) => {
        pending.set(++nextId, resolve);
        socket.send(JSON.stringify({ id: nextId, method, params }));
      });
    const answer = await use(send);
    socket.close();
    return answer;
  } finally {
    proc.kill();
    await proc.exited;
    rmSync(profile, { recursive: true, force: true });
  }
}

async function runChromium(extra: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), "glamm-chromium-"));
  try {
    const proc = Bun.spawn([CHROMIUM, ...chromiumArgs(profile), ...extra], { stdout: "pipe", stderr: "pipe" });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

describe.skipIf(!haveChromium)("gallery in headless Chromium", () => {
  test(
    "scripts run: captions, phrases and mask layers are in the DOM",
    async () => {
      const dom = await runChromium(["--dump-dom", `file://${pagePath}`]);
      expect(dom).toMatch(/<body data-ready="3">/);
      expect(dom.match(/class="mask"/g)).toHaveLength(3);
      expect(dom).toMatch(/<span class="phrase" data-segs="0"[^>]*>red square<\/span>/);
      expect(dom).toMatch(/<span class="phrase" data-segs="1"[^>]*>blue circle<\/span>/);
      expect(dom).toContain("Sure, it is.");
    },
    30_000,
  );

  test(
    "the screenshot is not blank",
    async () => {
      const shot = join(dir, "shot.png");
      await runChromium([`--screenshot=${shot}`, "--window-size=1200,800", "--hide-scrollbars", `file://${pagePath}`]);
      const { data, info } = await sharp(readFileSync(shot)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect(info.width).toBe(1200);
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 3 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      expect(colours.size).toBeGreaterThan(200);
    },
    30_000,
  );

  test(
    "hovering a phrase brings its mask forward and fades the others",
    async () => {
      const state = await withDevTools(`file://${pagePath}`, async (send) => {
        const evaluate = async (expression: string) => (await send("Runtime.evaluate", { expression, returnByValue: true })).result.value;
        while ((await evaluate("document.body && document.body.dataset.ready")) !== "3") await Bun.sleep(50);
        const figure = `document.querySelector('figure[data-file="photo.glamm.json"]')`;
        const [x, y] = await evaluate(
          `(() => { const p = ${figure}.querySelector(".phrase[data-segs='1']"); p.scrollIntoView({ block: "center" }); const r = p.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`,
        );
        await send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
        await Bun.sleep(400);
        return evaluate(`[...${figure}.querySelectorAll(".mask")].map((m) => [m.classList.contains("on"), getComputedStyle(m).opacity])`);
      });
      expect(state).toEqual([
        [false, "0.06"],
        [true, "1"],
      ]);
    },
    30_000,
  );
});
