import { Command, Option } from "clipanion";
import { color } from "../src/cli/ui.ts";
import type { DoctorReport } from "../src/runtime/doctor.ts";
import { ExitCode } from "../src/cli/errors.ts";

function render(r: DoctorReport): string {
  const ok = (v: boolean) => (v ? color.green("ok") : color.red("FAIL"));
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const cuda = r.providers.cuda.available
    ? color.green(`available (${r.providers.cuda.gpus.length} GPU)`)
    : `${color.yellow("unavailable")}: ${r.providers.cuda.missing.join("; ")}`;
  return [
    `glamm ${r.versions.glamm} (bun ${r.versions.bun}, onnxruntime ${r.versions.onnxruntime}, sharp ${r.versions.sharp}, libvips ${r.versions.libvips})`,
    `executable   ${r.executable.path}${r.executable.compiled ? " (compiled binary)" : " (from source)"}`,
    `home         ${r.paths.home}`,
    `native libs  ${r.paths.onnxruntimeLibraries}`,
    `providers    cpu: ${color.green("available")}`,
    `             cuda: ${cuda}`,
    `models       ${r.models.length ? r.models.join(", ") : "none installed (glamm pull NAME)"}`,
    `free disk    ${gib(r.disk.freeBytes)} at ${r.disk.path}`,
    ...r.checks.map((c) => `check        ${c.name}: ${ok(c.ok)} ${c.detail}`),
    ...r.share.map((c) => `share        ${c.model} (${c.precision}): ${c.ok ? color.green("ready") : color.yellow("not ready")} ${c.detail}`),
    `shared home  ${r.share.length === 0 ? "no GLaMM model installed" : r.share.every((c) => c.ok) ? "ready to be mounted read-only by many tasks" : "not ready (see share lines)"}`,
  ].join("\n");
}

export default class DoctorCommand extends Command {
  static paths = [["doctor"]];
  static usage = Command.Usage({
    description: "check the installation: versions, paths, execution providers, models, disk",
    details: "Runs a small ONNX graph and a PNG decode to prove the native pieces load. Exits 4 when a check fails.",
    examples: [["Check everything", "glamm doctor"], ["Machine-readable report", "glamm doctor --json"]],
  });

  json = Option.Boolean("--json", false, { description: "print the report as JSON" });

  async execute(): Promise<number> {
    // Loaded here, not at start-up: it pulls in onnxruntime and libvips, which `glamm --help` never needs.
    const { doctor, doctorHealthy } = await import("../src/runtime/doctor.ts");
    const report = await doctor();
    this.context.stdout.write(this.json ? `${JSON.stringify(report, null, 2)}\n` : `${render(report)}\n`);
    return doctorHealthy(report) ? ExitCode.ok : ExitCode.runtime;
  }
}
