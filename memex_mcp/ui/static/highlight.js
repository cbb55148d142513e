// Python syntax highlighting for the viewer's code blocks: a small tokenizer that builds DOM
// nodes (text only, never HTML), so code from a session can never inject markup.
"use strict";

const PY_KEYWORDS = new Set((
  "False None True and as assert async await break class continue def del elif else except " +
  "finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case"
).split(" "));
const PY_BUILTINS = new Set((
  "print len range list dict set tuple str int float bool sum min max sorted enumerate zip map filter " +
  "open isinstance type repr any all abs round super object Exception ValueError KeyError TypeError " +
  "sql db docs spawn_agent gather submit history help tools"
).split(" "));

const PY_TOKEN = new RegExp([
  String.raw`(?<comment>#[^\n]*)`,
  String.raw`(?<string>[rRbBfFuU]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))`,
  String.raw`(?<number>\b(?:0[xob][\da-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?j?)\b)`,
  String.raw`(?<name>[A-Za-z_][A-Za-z0-9_]*)`,
].join("|"), "g");

function highlightPython(code) {
  const out = document.createDocumentFragment();
  let last = 0;
  let previous = "";
  for (const m of code.matchAll(PY_TOKEN)) {
    if (m.index > last) out.append(code.slice(last, m.index));
    const text = m[0];
    let kind = null;
    if (m.groups.comment !== undefined) kind = "c";
    else if (m.groups.string !== undefined) kind = "s";
    else if (m.groups.number !== undefined) kind = "n";
    else if (PY_KEYWORDS.has(text)) kind = "k";
    else if (previous === "def" || previous === "class") kind = "f";
    else if (PY_BUILTINS.has(text)) kind = "b";
    if (kind) {
      const span = document.createElement("span");
      span.className = "hl-" + kind;
      span.textContent = text;
      out.append(span);
    } else {
      out.append(text);
    }
    if (m.groups.name !== undefined) previous = text;
    last = m.index + text.length;
  }
  if (last < code.length) out.append(code.slice(last));
  return out;
}
