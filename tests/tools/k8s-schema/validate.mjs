// Validates Kubernetes objects against the published Kubernetes API schema (the kubernetes-models package, generated from
// the API's OpenAPI definitions). Reads JSON from stdin: one object, or a List (what `scheduler render-pod` prints).
// Prints one line per problem ("<kind>/<name>: <path> <message>") and exits 1 when there is any, 2 on unreadable input.
import { Pod, Secret } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";

// By apiVersion, then kind.
const models = { v1: { Pod, Secret }, "policy/v1": { PodDisruptionBudget } };

let input = "";
for await (const chunk of process.stdin) {
  input += chunk;
}

let document;
try {
  document = JSON.parse(input);
} catch (error) {
  console.error(`not JSON: ${error.message}`);
  process.exit(2);
}

const items = document.kind === "List" ? document.items ?? [] : [document];
let problems = 0;
for (const item of items) {
  const where = `${item?.kind ?? "(no kind)"}/${item?.metadata?.name ?? "(no name)"}`;
  const Model = models[item?.apiVersion]?.[item?.kind];
  if (Model === undefined) {
    console.log(`${where}: not a v1 Pod or Secret, nor a policy/v1 PodDisruptionBudget`);
    problems++;
    continue;
  }

  try {
    new Model(item).validate();
  } catch (error) {
    for (const detail of error.errors ?? [{ instancePath: "", message: error.message }]) {
      console.log(`${where}: ${detail.instancePath || "/"} ${detail.message}`);
      problems++;
    }
  }
}

console.log(`${items.length} object(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
