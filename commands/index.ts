import type { CommandClass } from "clipanion";

/** Every subcommand of glamm; one file per command in this folder. */
export const commands: CommandClass[] = [];
