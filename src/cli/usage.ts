/**
 * What clipanion cannot say on its own: which option or argument is wrong in a command line, value names in --help
 * instead of its `#0`, and negative numbers as option values (`--box -10,-10,50,50`).
 */

/** The parts of clipanion's command definitions this module reads. */
export interface CommandDefinition {
  path: string;
  usage: string;
  options: { nameSet: string[]; definition: string; required: boolean }[];
}

interface OptionSpec {
  names: string[];
  takesValue: boolean;
  required: boolean;
}

/** The value an option takes, as --help and messages name it. */
const VALUE_NAMES: Record<string, string> = {
  "--box": "X1,Y1,X2,Y2",
  "--model": "NAME|DIR",
  "--vision": "DIR",
  "--sam": "FILE|DIR",
  "--out": "DIR",
  "--format": "FORMAT,...",
  "--max-tokens": "N",
  "--seed": "N",
  "--top-k": "K",
  "--top-p": "P",
  "--temperature": "T",
  "--min-score": "SCORE",
  "--expression": "EXPRESSION",
};
const valueName = (names: readonly string[]): string => {
  const long = names.find((n) => n.startsWith("--")) ?? names[0];
  return VALUE_NAMES[long] ?? long.replace(/^-+/, "").replace(/-/g, "_").toUpperCase();
};

const optionSpecs = (definition: CommandDefinition): OptionSpec[] =>
  definition.options.map((o) => ({ names: o.nameSet, takesValue: o.definition.includes(" #0"), required: o.required }));

/** `-10,-10,50,50`: a value, not an option. */
const isNegativeNumber = (token: string) => /^-\.?\d/.test(token);
const isOptionLike = (token: string) => token.length > 1 && token.startsWith("-") && !isNegativeNumber(token);

/** The command an argv names (the longest matching path), and where its own arguments start. */
function findCommand(argv: readonly string[], definitions: readonly CommandDefinition[]): { definition: CommandDefinition; rest: string[] } | undefined {
  let best: { definition: CommandDefinition; rest: string[] } | undefined;
  for (const definition of definitions) {
    const path = definition.path.split(" ").slice(1);
    if (path.length === 0 || path.some((p, i) => argv[i] !== p)) continue;
    if (!best || path.length > best.definition.path.split(" ").length - 1) best = { definition, rest: argv.slice(path.length) };
  }
  return best;
}

/** Binds a negative number to the option before it (`--box -10,...` -> `--box=-10,...`), which clipanion would take for an option. */
export function bindNegativeValues(argv: readonly string[], definitions: readonly CommandDefinition[]): string[] {
  const found = findCommand(argv, definitions);
  if (!found) return [...argv];
  const specs = optionSpecs(found.definition);
  const out = argv.slice(0, argv.length - found.rest.length);
  for (let i = 0; i < found.rest.length; i++) {
    const token = found.rest[i];
    const spec = specs.find((s) => s.names.includes(token));
    const next = found.rest[i + 1];
    if (spec?.takesValue && token.startsWith("--") && next !== undefined && isNegativeNumber(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else out.push(token);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}

/** The closest of `candidates` to `word`, when close enough to be a typo. */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(word.length / 3)) ? best.name : undefined;
}

/** Positional arguments a command's usage line requires, e.g. `<image> ...` -> ["IMAGE"]. */
const requiredPositionals = (usage: string): string[] => [...usage.matchAll(/<([a-z][\w-]*)>/g)].map((m) => m[1].toUpperCase());

/** One line saying what is wrong with a command line clipanion refused, or undefined when it cannot tell. */
export function diagnoseUsage(argv: readonly string[], definitions: readonly CommandDefinition[]): string | undefined {
  const found = findCommand(argv, definitions);
  if (!found) {
    const word = argv.find((a) => !a.startsWith("-"));
    if (word === undefined) return undefined;
    const commands = [...new Set(definitions.map((d) => d.path.split(" ")[1]).filter(Boolean))];
    const guess = nearest(word, commands);
    return `unknown command "${word}"${guess ? `; did you mean \`glamm ${guess}\`?` : " (glamm --help lists the commands)"}`;
  }
  const { definition, rest } = found;
  const specs = optionSpecs(definition);
  const given = new Set<OptionSpec>();
  let positionals = 0;
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i];
    if (token === "--") {
      positionals += rest.length - i - 1;
      break;
    }
    if (!isOptionLike(token)) {
      positionals++;
      continue;
    }
    const [name, bound] = token.split(/=(.*)/s);
    if (name === "-h" || name === "--help") return undefined;
    const spec = specs.find((s) => s.names.includes(name));
    if (!spec) {
      const guess = nearest(name, specs.flatMap((s) => s.names));
      return `${definition.path} has no option ${name}${guess ? `; did you mean ${guess}?` : ` (${definition.path} --help lists its options)`}`;
    }
    given.add(spec);
    if (spec.takesValue && bound === undefined) {
      if (rest[i + 1] === undefined || isOptionLike(rest[i + 1])) return `${name} needs a value: ${name} ${valueName(spec.names)}`;
      i++;
    }
  }
  const missing = specs.find((s) => s.required && !given.has(s));
  if (missing) return `${definition.path} needs ${missing.names[missing.names.length - 1]} ${valueName(missing.names)}`;
  const needed = requiredPositionals(definition.usage);
  if (positionals < needed.length) return `${definition.path} needs ${needed.slice(positionals).join(" and ")} (usage: ${helpText(definition.usage)})`;
  return undefined;
}

/**
 * --help text with value names instead of clipanion's `#0`, and each command's required options on its usage line.
 */
export function helpText(text: string, definitions: readonly CommandDefinition[] = []): string {
  let result = text;
  for (const definition of definitions) {
    const required = optionSpecs(definition).filter((s) => s.required);
    if (!required.length) continue;
    const inline = required.map((s) => `${s.names[s.names.length - 1]} ${valueName(s.names)}`).join(" ");
    result = result.replaceAll(`${definition.path} <`, `${definition.path} ${inline} <`);
  }
  return result.replace(/((?:-{1,2}[\w-]+,)*-{1,2}[\w-]+) #0/g, (_, names: string) => `${names} ${valueName(names.split(","))}`);
}
