import { Command, Option } from "clipanion";
import { formatBytes } from "../src/hub/progress.ts";
import { resolve } from "node:path";
import { listModels, readInstallRecord } from "../src/hub/store.ts";

export default class ModelsCommand extends Command {
  static paths = [["models"]];
  static usage = Command.Usage({
    description: "list known models and which are installed",
    details:
      "Known models come from glamm's manifests; models pulled by Hub repo id are listed after them. CONVERTED lists the ONNX graphs built from each model (precision and size on disk).",
    examples: [["List models", "glamm models"], ["Machine-readable list", "glamm models --json"]],
  });

  json = Option.Boolean("--json", false, { description: "print the list as JSON" });

  async execute(): Promise<number> {
    const { convertedEntries } = await import("../src/convert/cache.ts");
    const entries = convertedEntries();
    const models = listModels().map((m) => {
      const dir = m.installed ? readInstallRecord(m.name)?.dir : undefined;
      const mine = dir ? entries.filter((e) => e.sources[0] === resolve(dir)) : [];
      return { ...m, converted: mine.map((e) => ({ variant: e.variant, bytes: e.bytes })) };
    });
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
      return 0;
    }
    const converted = (list: { variant: string; bytes: number }[]) => list.map((c) => `${c.variant} ${formatBytes(c.bytes)}`).join(", ") || "-";
    const rows = models.map((m) => [m.name, m.repo, m.installed ? formatBytes(m.size ?? 0) : "-", converted(m.converted), m.tasks.join(",") || "-"]);
    const header = ["NAME", "HUB REPO", "INSTALLED", "CONVERTED", "TASKS"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const format = (cells: string[]) => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ")}\n`;
    this.context.stdout.write([header, ...rows].map(format).join(""));
    return 0;
  }
}
