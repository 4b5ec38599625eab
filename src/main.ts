#!/usr/bin/env bun
import { runCli } from "./cli/run.ts";

// A reader that went away (`glamm ... | head`) is not an error: commands that stream results stop on their own.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});
process.exitCode = await runCli(process.argv.slice(2));
