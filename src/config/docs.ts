/**
 * Renders docs/configuration.md from the configuration schema, so the reference can never drift
 * from what the server accepts. `npm run docs:config` writes it; a test fails when the committed
 * file differs from what this renders.
 */

import { isMainModule } from '../util/main-module.js';
import { formatDuration } from './duration.js';
import { type Fate, HYDRA_KEYS, type KeyFate } from './hydra-keys.js';
import { ConfigError, loadConfig } from './load.js';
import { envName, type Leaf, leaves } from './schema.js';
import { DEV_SECRET_FILE } from './secrets.js';

const code = (text: string) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

/** The type of a key as a reader would write its value. */
function typeOf(leaf: Leaf): string {
  switch (leaf.kind) {
    case 'string':
      return leaf.minLength === undefined ? 'string' : `string (at least ${leaf.minLength} characters)`;
    case 'url':
      return 'URL (absolute, `http` or `https`)';
    case 'address':
      return 'address (`host:port`; an IPv6 address in brackets)';
    case 'integer':
      return `integer (${leaf.min} to ${leaf.max})`;
    case 'number':
      return `number (${leaf.min} to ${leaf.max})`;
    case 'boolean':
      return 'boolean (`true` or `false`)';
    case 'duration':
      return `duration (such as \`1h30m\`, \`10m\`, \`30s\`, \`500ms\`${leaf.positive ? '; never 0' : ''}${leaf.allowNegative ? '; `-1` for never' : ''})`;
    case 'list': {
      const rules = [
        ...(leaf.itemsOneOf ? [`each one of ${leaf.itemsOneOf.map(code).join(', ')}`] : []),
        ...(leaf.minItemLength !== undefined ? [`each at least ${leaf.minItemLength} characters`] : []),
      ];
      return `list of strings${rules.length > 0 ? ` (${rules.join('; ')})` : ''}`;
    }
    case 'enum':
      return 'enum (one of the allowed values below)';
    case 'headers':
      return 'object of HTTP header names and values (a JSON object in the environment)';
  }
}

/** The default as it would be written in a file or the environment; secrets never show a value. */
function defaultOf(leaf: Leaf): string {
  if (leaf.secret) return '(none)';
  switch (leaf.kind) {
    case 'duration':
      return code(formatDuration(leaf.default));
    case 'list':
      return leaf.default.length === 0 ? '(empty list)' : code(leaf.default.join(','));
    case 'integer':
    case 'number':
    case 'boolean':
      return code(String(leaf.default));
    case 'headers':
      return Object.keys(leaf.default).length === 0 ? '(none)' : code(JSON.stringify(leaf.default));
    default:
      return leaf.default === '' ? '(empty)' : code(leaf.default);
  }
}

function renderKey(key: string, leaf: Leaf): string {
  const lines = [
    `#### ${code(key)}`,
    '',
    `- Environment variable: ${code(envName(key))}`,
    `- Type: ${typeOf(leaf)}`,
    ...(leaf.kind === 'enum' ? [`- Allowed values: ${leaf.values.map(code).join(', ')}`] : []),
    ...(leaf.kind === 'enum' && leaf.aliases
      ? [
          `- Also accepted: ${Object.entries(leaf.aliases)
            .map(([alias, value]) => `${code(alias)} (read as ${code(value)})`)
            .join(', ')}`,
        ]
      : []),
    `- Default: ${defaultOf(leaf)}`,
    '',
    leaf.description,
    '',
  ];
  return lines.join('\n');
}

/** The one-line message start-up prints for a bad value, taken from the loader itself. */
function exampleError(): string {
  try {
    loadConfig({ env: { SERVE_PUBLIC_PORT: 'abc' } });
  } catch (error) {
    if (error instanceof ConfigError) return `invalid configuration: ${error.message}`;
    throw error;
  }
  throw new Error('SERVE_PUBLIC_PORT=abc was accepted; the example in the docs needs a value the loader refuses');
}

function intro(): string {
  return `# Configuration

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`. Do not edit by hand: a test compares this file with the schema. -->

Portcullis reads its configuration the way Ory Hydra does. Every key below can be set in a file, in the environment, or (for some) on the command line.

## Sources and precedence

Each key takes the value of the strongest source that sets it, from weakest to strongest:

1. **Defaults**, listed below.
2. **A configuration file** given with \`-c\` / \`--config\` (\`portcullis serve all -c portcullis.yaml\`). It may be YAML or JSON; keys nest by their dotted path, so \`serve.public.port\` is written as:

   \`\`\`yaml
   serve:
     public:
       port: 4444
   \`\`\`

   A key the schema does not know is an error, not ignored. Ory Hydra's keys are all known: those Portcullis does not implement are accepted with a warning or refused, as [Hydra's configuration keys](#hydras-configuration-keys) lists.
3. **Environment variables**, named by the upper-cased key path with \`.\` replaced by \`_\`: \`serve.public.port\` is \`SERVE_PUBLIC_PORT\`, \`dsn\` is \`DSN\`. Lists are comma-separated (\`SECRETS_SYSTEM=new-secret-0123456789,old-secret-0123456789\`) or, as Hydra also reads them, a JSON array (\`SECRETS_SYSTEM='["new-secret-0123456789","old-secret-0123456789"]'\`); booleans may be spelt as Go spells them (\`TRUE\`, \`t\`, \`1\`, \`False\`, …). Empty variables are ignored. A variable that names no key but looks like one (upper case, starting with the first segment of a key, such as \`SERVE_\` or \`OAUTH2_\`) is logged as a warning at start-up.
4. **Command-line flags**, such as \`--dev\` (which sets \`dev\`).

## Invalid values

Every value is checked against the type and limits listed below before anything starts. A bad value stops start-up with exit code 1 and a single line naming the key, where the value came from and what is wrong, for example:

\`\`\`
${exampleError()}
\`\`\`

Values of secret keys are never repeated in such messages, and their defaults are never shown here.

## Development mode (\`--dev\`)

\`portcullis serve all --dev\` (or \`dev: true\`, or \`DEV=true\`) relaxes what production requires, for running on a laptop:

- The default issuer is \`http://localhost:<public port>/\` instead of https, and plain-http issuers are allowed. Outside development mode an http issuer is refused unless it is a loopback address.
- Cookies are not marked \`Secure\` (\`serve.cookies.secure\` is forced off) and flow cookies use \`SameSite=Lax\`.
- When \`secrets.system\` is not set, a random secret is generated and kept in \`${DEV_SECRET_FILE}\` (relative to the working directory) so restarts can still decrypt what was stored, and a loud warning is logged. Outside development mode a missing \`secrets.system\` stops start-up.
- SQLite databases are migrated automatically at start-up. Outside development mode run \`portcullis migrate sql up\` first; until then \`/health/ready\` answers 503. (\`memory\` is always migrated, since it starts empty.)

${hydraKeys()}

## Reference

Every key, grouped by top-level section, in the order of the schema:
`;
}

const FATE_TEXT: Record<Fate, string> = {
  implemented: 'implemented',
  ignored: 'accepted, no effect (a warning at start-up)',
  pending: 'not implemented yet, ignored (a warning at start-up)',
  refused: 'refused (start-up stops)',
};

function fateOf(fate: KeyFate): string {
  const harmless = fate.harmless ? `. Accepted with a warning when ${fate.harmless.when}: ${fate.harmless.why}` : '';
  return `${FATE_TEXT[fate.fate]}${fate.why ? `: ${fate.why}` : ''}${harmless}`;
}

/** The table of Hydra's keys and what Portcullis does with each, from hydra-keys.ts. */
function hydraKeys(): string {
  const rows = Object.entries(HYDRA_KEYS).map(
    ([key, fate]) => `| ${code(key)} | ${code(envName(key))} | ${fateOf(fate).replaceAll('|', '\\|')} |`,
  );
  return `## Hydra's configuration keys

Every key of Ory Hydra's configuration, from a file or the environment alike, has one of these fates:

- **implemented**: a key of Portcullis, described under [Reference](#reference);
- **accepted, no effect**: it means nothing here; start-up logs one warning naming it;
- **not implemented yet, ignored**: ignoring it changes neither security nor what clients see; start-up logs one warning naming it;
- **refused**: ignoring it would be unsafe or would change what clients see, so start-up stops with an error naming it. Some are harmless at one value (Hydra's "off" state), which is only warned about.

A key neither Portcullis nor Hydra knows stops start-up.

| Hydra key | environment variable | in Portcullis |
| --- | --- | --- |
${rows.join('\n')}`;
}

/** docs/configuration.md, rendered from the schema. */
export function renderConfigDocs(): string {
  const sections = new Map<string, Array<[string, Leaf]>>();
  for (const [key, leaf] of leaves()) {
    const section = key.split('.')[0] as string;
    sections.set(section, [...(sections.get(section) ?? []), [key, leaf]]);
  }
  const parts = [intro()];
  parts.push([...sections.keys()].map((section) => `- [\`${section}\`](#${section.replace(/[^a-z0-9_-]/g, '')})`).join('\n'), '');
  for (const [section, keys] of sections) {
    parts.push(`### ${section}`, '', ...keys.map(([key, leaf]) => renderKey(key, leaf)));
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

if (isMainModule(import.meta.url)) process.stdout.write(renderConfigDocs());
