// Writes src/room/protocol.generated.ts: the signaling frames as TypeScript types, from
// docs/signaling.schema.json (itself generated from sfu_node/meeting_sfu/protocol.py), so the
// client's types cannot drift from what the media node sends and accepts.
//
//   npm run protocol              rewrite the file
//   node scripts/protocol-types.mjs --print   print it instead (tests/web compares the two)
//
// Two adjustments to the schema, both about what pydantic writes rather than what it means:
// - properties lose their titles (pydantic's "Audio Muted" and the like), or every field would
//   get a type alias of its own; the frames and models keep theirs, which name the types;
// - a server frame carries every field: the node sends model_dump_json() of each, defaults
//   included, while the serialization schema lists fields with defaults as optional.
import { readFileSync, writeFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

const SCHEMA = new URL("../../docs/signaling.schema.json", import.meta.url);
const OUT = new URL("../src/room/protocol.generated.ts", import.meta.url);
const BANNER = `// Generated from docs/signaling.schema.json by web/scripts/protocol-types.mjs
// (\`npm run protocol\` in web/): do not edit. protocol.ts gives the client its names for these.`;

/** A copy of ``node`` without property titles; with every property required if ``sent``. */
function prepare(node, sent, named = true) {
  if (Array.isArray(node)) return node.map((item) => prepare(item, sent, false));
  if (node === null || typeof node !== "object") return node;
  const copy = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "title" && !named) continue;
    if (key === "$defs") {
      copy.$defs = Object.fromEntries(
        Object.entries(value).map(([name, def]) => [name, prepare(def, sent, true)]),
      );
    } else if (key === "properties") {
      copy.properties = Object.fromEntries(
        Object.entries(value).map(([name, property]) => [name, prepare(property, sent, false)]),
      );
    } else {
      copy[key] = prepare(value, sent, false);
    }
  }
  if (sent && copy.type === "object" && copy.properties) {
    copy.required = Object.keys(copy.properties);
  }
  return copy;
}

/** The frame of that ``type`` (found by its constant, not by the model's name). */
function frame(side, type) {
  const found = Object.values(side.$defs).find((def) => def.properties?.type?.const === type);
  if (!found) throw new Error(`no ${type} frame in the schema`);
  return found;
}

async function render() {
  const schema = JSON.parse(readFileSync(SCHEMA, "utf8"));
  const announce = frame(schema.client_to_server, "announce").properties.text.maxLength;
  const options = { bannerComment: "", additionalProperties: false, maxItems: -1 };
  const sides = [
    ["ClientFrame", schema.client_to_server, false],
    ["ServerFrame", schema.server_to_client, true],
  ];
  const parts = [
    BANNER,
    `export const PROTOCOL_VERSION = ${JSON.stringify(schema.version)};\n\n` +
      `/** What an announcement may hold (\`announce.text\`, in characters). */\n` +
      `export const ANNOUNCEMENT_MAX_CHARS = ${JSON.stringify(announce)};`,
  ];
  for (const [name, side, sent] of sides) {
    parts.push((await compile({ ...prepare(side, sent), title: name }, name, options)).trim());
  }
  return `${parts.join("\n\n")}\n`;
}

const text = await render();
if (process.argv.includes("--print")) {
  process.stdout.write(text);
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT.pathname}`);
}
