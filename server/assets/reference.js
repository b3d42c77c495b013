// A small reference for /v1/openapi.json: operations by tag, with their
// parameters, request body and responses. Plain DOM, textContent only.
"use strict";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function schemaName(content) {
  const json = content && (content["application/json"] || Object.values(content)[0]);
  const schema = json && json.schema;
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  return schema.type || "object";
}

document.addEventListener("DOMContentLoaded", async () => {
  const main = document.getElementById("reference");
  try {
    const doc = await (await fetch("/v1/openapi.json")).json();
    main.replaceChildren(el("p", "", `${doc.info.title} ${doc.info.version}: ${doc.info.description || ""}`));
    for (const tag of doc.tags || []) {
      const section = el("section");
      section.append(el("h2", "", `${tag.name}: ${tag.description || ""}`));
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          if (!op || !op.tags || !op.tags.includes(tag.name)) continue;
          const box = el("div", "passage operation");
          box.id = op.operationId || "";
          box.append(el("div", "meta", `${method.toUpperCase()} ${path}`));
          box.append(el("div", "text", op.summary || op.description || ""));
          const params = (op.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`);
          if (params.length) box.append(el("div", "", "Parameters: " + params.join(", ")));
          if (op.requestBody) box.append(el("div", "", "Body: " + schemaName(op.requestBody.content)));
          const responses = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${schemaName(r.content)}`.trim());
          box.append(el("div", "", "Responses: " + responses.join(" · ")));
          section.append(box);
        }
      }
      main.append(section);
    }
  } catch (e) {
    main.replaceChildren(el("p", "error", "Cannot load /v1/openapi.json: " + e.message));
  }
});
