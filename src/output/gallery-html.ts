/** The gallery page's markup, style and hover script; no external resources. */
import type { GlammJson } from "./json.ts";
import { cssColor, type Rgb } from "./palette.ts";
import { textRuns } from "./spans.ts";

export interface GalleryEntry {
  /** The JSON file, relative to the gallery directory. */
  file: string;
  doc: GlammJson;
  /** Thumbnail size. */
  width: number;
  height: number;
  photo: string | null;
  missingImage: string | null;
  /** One PNG data URI per segment. */
  masks: string[];
  colors: Rgb[];
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 24px; background: #f4f4f2; color: #222; }
h1 { font-size: 20px; }
.result { background: #fff; border-radius: 8px; padding: 16px; margin: 0 0 24px; box-shadow: 0 1px 3px #0002; max-width: 560px; display: inline-block; vertical-align: top; margin-right: 24px; }
.stage { position: relative; background: #bbb; }
.stage img { position: absolute; inset: 0; width: 100%; height: 100%; display: block; }
.stage .mask { pointer-events: none; opacity: 0.75; transition: opacity 0.12s; }
.stage.focus .mask { opacity: 0.06; }
.stage.focus .mask.on { opacity: 1; }
.missing { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; color: #444; }
.caption { margin: 12px 0 6px; }
.phrase, .chip { border-radius: 4px; padding: 0 3px; cursor: default; border-bottom: 3px solid var(--c); }
.phrase:hover, .chip:hover, .phrase.on, .chip.on { background: var(--c); }
.chips { display: flex; flex-wrap: wrap; gap: 6px; font-size: 13px; }
.meta { color: #666; font-size: 12px; margin-top: 8px; word-break: break-all; }
`;

// Hovering any element with data-segs highlights those masks in the same figure.
const SCRIPT = `
for (const figure of document.querySelectorAll("figure.result")) {
  const stage = figure.querySelector(".stage");
  const masks = [...figure.querySelectorAll(".mask")];
  const triggers = [...figure.querySelectorAll("[data-segs]")];
  for (const trigger of triggers) {
    const segs = trigger.dataset.segs.split(" ");
    trigger.addEventListener("mouseenter", () => {
      stage.classList.add("focus");
      for (const mask of masks) mask.classList.toggle("on", segs.includes(mask.dataset.seg));
      for (const other of triggers) other.classList.toggle("on", other.dataset.segs === trigger.dataset.segs);
    });
    trigger.addEventListener("mouseleave", () => {
      stage.classList.remove("focus");
      for (const el of [...masks, ...triggers]) el.classList.remove("on");
    });
  }
}
document.body.dataset.ready = String(document.querySelectorAll("figure.result").length);
`;

function captionHtml(entry: GalleryEntry): string {
  return textRuns(entry.doc.text, entry.doc.segments)
    .map((run) => {
      if (run.slot === null) return escapeHtml(run.text);
      const color = cssColor(entry.colors[run.segments[0]]);
      return `<span class="phrase" data-segs="${run.segments.join(" ")}" style="--c: ${color}">${escapeHtml(run.text)}</span>`;
    })
    .join("")
    .replaceAll("\n", "<br>");
}

function entryHtml(entry: GalleryEntry): string {
  const { doc } = entry;
  const layers = entry.masks.map((src, i) => `<img class="mask" data-seg="${i}" alt="" src="${src}">`).join("");
  const photo = entry.photo
    ? `<img class="photo" alt="${escapeHtml(doc.image.path)}" src="${entry.photo}">`
    : `<div class="missing">${escapeHtml(entry.missingImage ?? "")}</div>`;
  const chips = doc.segments
    .map((segment, i) => `<span class="chip" data-segs="${i}" style="--c: ${cssColor(entry.colors[i])}">${escapeHtml(segment.phrase || `[SEG] ${i + 1}`)}</span>`)
    .join("");
  const meta = [doc.task, doc.prompt, `${doc.model.id} (${doc.model.precision})`, entry.file].map(escapeHtml).join(" · ");
  return `<figure class="result" data-file="${escapeHtml(entry.file)}">
<div class="stage" style="aspect-ratio: ${entry.width} / ${entry.height}; width: ${entry.width}px; max-width: 100%">${photo}${layers}</div>
<figcaption><p class="caption">${captionHtml(entry)}</p><div class="chips">${chips}</div><p class="meta">${meta}</p></figcaption>
</figure>`;
}

export function galleryPage(entries: readonly GalleryEntry[]): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>glamm results</title>
<style>${STYLE}</style></head>
<body>
<h1>glamm results (${entries.length})</h1>
${entries.map(entryHtml).join("\n")}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
