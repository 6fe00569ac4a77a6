// Checks what `portflow render --target T -o json` prints against the
// Kubernetes API's OpenAPI schema as kubernetes-models carries it (generated
// from Kubernetes' own OpenAPI documents, 1.33 for 4.5.1): types, formats
// such as quantities and int32, enums and required fields. Fields the schema
// does not define pass here; tests/e2e/rendered_objects_check.py refuses
// them.
//
// Usage: node tests/schema/check.mjs RENDER.json...   (prints "schema: ok N")
import { readFileSync } from "node:fs";

let count = 0;
const errors = [];
for (const file of process.argv.slice(2)) {
  const rendered = JSON.parse(readFileSync(file, "utf8"));
  for (const task of rendered.tasks) {
    for (const [i, object] of task.objects.entries()) {
      const where = `${file}: ${task.instance}.objects[${i}]`;
      const [group, version] = object.apiVersion.includes("/")
        ? object.apiVersion.split("/")
        : [null, object.apiVersion];
      const path = ["kubernetes-models", group, version, object.kind].filter(Boolean).join("/");
      let Model;
      try {
        Model = (await import(path))[object.kind];
      } catch (e) {
        errors.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
        continue;
      }
      try {
        new Model(object).validate();
        count++;
      } catch (e) {
        errors.push(`${where}: ${e.message}`);
      }
    }
  }
}
for (const e of errors) console.log(e);
if (errors.length || count === 0) process.exit(1);
console.log(`schema: ok ${count}`);
