import type { DownloadProgress } from "./download.ts";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream;
  /** Live redrawn line when true, periodic plain lines when false (default stream.isTTY). */
  live?: boolean;
  /** Minimum time between redraws: ~10/s on a TTY, one line per 10 s otherwise. */
  intervalMs?: number;
  /** Prefix of every line, e.g. the model name. */
  label?: string;
  now?: () => number;
}

export interface FileProgress {
  /** Feed downloadFile's onProgress here. */
  update(progress: DownloadProgress): void;
  /** Marks the file finished (successfully or not); its bytes stay as last reported. */
  done(): void;
}

interface FileState {
  name: string;
  received: number;
  total: number | undefined;
  rate: number;
  finished: boolean;
}

/** Aggregates per-file download progress into one status line with bytes, rate and ETA. */
export class ProgressReporter {
  private readonly files: FileState[] = [];
  private readonly stream: ProgressStream;
  private readonly live: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drewLive = false;

  constructor(private readonly options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.live = options.live ?? this.stream.isTTY === true;
    this.intervalMs = options.intervalMs ?? (this.live ? 100 : 10_000);
    this.now = options.now ?? (() => performance.now());
    // A log gets its first line after one interval, so quick operations leave only the final line.
    if (!this.live) this.lastDraw = this.now();
  }

  addFile(name: string, total?: number): FileProgress {
    const state: FileState = { name, received: 0, total, rate: 0, finished: false };
    this.files.push(state);
    return {
      update: (p) => {
        state.received = p.received;
        state.total = p.total ?? state.total;
        state.rate = p.rate;
        this.maybeDraw();
      },
      done: () => {
        state.finished = true;
        state.total ??= state.received;
        state.rate = 0;
        this.maybeDraw();
      },
    };
  }

  /** The current summary line, without terminal control codes. */
  line(): string {
    const received = sum(this.files.map((f) => f.received));
    const totals = this.files.map((f) => f.total);
    const total = totals.every((t) => t !== undefined) ? sum(totals as number[]) : undefined;
    const rate = sum(this.files.filter((f) => !f.finished).map((f) => f.rate));
    const active = this.files.filter((f) => !f.finished && f.received > 0);
    const finished = this.files.filter((f) => f.finished).length;
    const parts = [
      this.options.label,
      total === undefined ? formatBytes(received) : `${formatBytes(received)} / ${formatBytes(total)} (${percent(received, total)})`,
      `${formatBytes(rate)}/s`,
      total !== undefined && rate > 0 ? `ETA ${formatDuration((total - received) / rate)}` : undefined,
      `${finished}/${this.files.length} files`,
      active.length === 1 ? active[0].name : undefined,
    ];
    return parts.filter((p) => p !== undefined && p !== "").join("  ");
  }

  /** Draws the final state and ends the live line. */
  finish(): void {
    this.draw();
    if (this.live && this.drewLive) this.stream.write("\n");
  }

  private maybeDraw(): void {
    if (this.now() - this.lastDraw >= this.intervalMs) this.draw();
  }

  private draw(): void {
    this.lastDraw = this.now();
    if (this.live) {
      this.stream.write(`\r\x1b[K${this.line()}`);
      this.drewLive = true;
    } else {
      this.stream.write(`${this.line()}\n`);
    }
  }
}

/** Progress of one download under a label: pass `update` as downloadFile's onProgress and call `done` at the end. */
export function progressReporter(label: string, options: Omit<ProgressOptions, "label"> = {}): FileProgress {
  const reporter = new ProgressReporter({ ...options, label });
  const file = reporter.addFile(label);
  return {
    update: file.update,
    done: () => {
      file.done();
      reporter.finish();
    },
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const percent = (part: number, whole: number) => (whole === 0 ? "100%" : `${Math.floor((100 * part) / whole)}%`);

const units = ["B", "kB", "MB", "GB", "TB"];

/** Decimal units, as the Hub shows file sizes: 1536000 → "1.5 MB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** 75 → "1m15s", 3725 → "1h02m"; unbounded values → "?". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
