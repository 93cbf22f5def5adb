/** A model draft as YAML text, written and read as the API reads it (PyYAML: YAML 1.1). */
import { type DocumentOptions, parseDocument, type ParseOptions, type SchemaOptions, stringify, type Tags } from "yaml";

const BOOL = "tag:yaml.org,2002:bool";
const FLOAT = "tag:yaml.org,2002:float";
// PyYAML's booleans: the yaml package's YAML 1.1 also takes y, Y, n and N, which PyYAML reads as text.
const TRUE = /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/;
const FALSE = /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;
// PyYAML's floats with an exponent have a dot and a signed exponent (1e5 is text there).
const EXPONENT = /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)[eE][-+][0-9]+$/;

/** The yaml package's YAML 1.1 tags, narrowed to what PyYAML resolves. */
function pyyamlTags(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag === "string" || !("test" in tag) || !tag.test) return tag;
    if (tag.tag === BOOL) return { ...tag, test: tag.identify?.(true) ? TRUE : FALSE };
    if (tag.tag === FLOAT && tag.format === "EXP") return { ...tag, test: EXPONENT };
    return tag;
  });
}

/** `NO`, `on`, `yes` and `1:30` are quoted when written and read as the server reads them. */
export const YAML_1_1: DocumentOptions & SchemaOptions & ParseOptions = { version: "1.1", customTags: pyyamlTags };

/** The model document (without its version) as the editor's YAML text. */
export function draftText(document: Record<string, unknown>): string {
  return stringify(document, YAML_1_1);
}

/** The text's YAML document (its nodes, their ranges, `toJS()`), read as the server reads it. */
export const draftDocument = (text: string) => parseDocument(text, YAML_1_1);
