// A strict enough check that an SVG file is well-formed XML: one root, every tag closed
// in order, attributes quoted, and no bare "<" or "&" in text. (No DOM parser in Node.)

const NAME = "[A-Za-z_][\\w.:-]*";
const ATTRIBUTE = `\\s+${NAME}\\s*=\\s*"[^"<]*"`;
const OPEN = new RegExp(`^<(${NAME})((?:${ATTRIBUTE})*)\\s*(/?)>$`);
const CLOSE = new RegExp(`^</(${NAME})\\s*>$`);
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

/** The problems of an XML text ([] when it is well-formed), and its root element's name. */
export function xmlProblems(text) {
  const problems = [];
  const stack = [];
  let root;
  let closedRoot = false;
  const body = text.replace(/^\uFEFF?(<\?xml[^>]*\?>)?\s*/, "");
  const tokens = body.split(/(<[^>]*>)/);
  for (const token of tokens) {
    if (token === "") continue;
    if (!token.startsWith("<")) {
      if (token.includes("<") || token.replace(ENTITY, "").includes("&")) problems.push(`bad text: ${token.slice(0, 40)}`);
      if (stack.length === 0 && token.trim() !== "") problems.push(`text outside the root: ${token.slice(0, 40)}`);
      continue;
    }
    if (token.startsWith("<!--")) continue;
    const close = CLOSE.exec(token);
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) problems.push(`</${close[1]}> closes <${open ?? "nothing"}>`);
      if (stack.length === 0) closedRoot = true;
      continue;
    }
    const open = OPEN.exec(token);
    if (!open) {
      problems.push(`malformed tag: ${token.slice(0, 60)}`);
      continue;
    }
    if (closedRoot || (stack.length === 0 && root !== undefined)) problems.push(`a second root element <${open[1]}>`);
    root ??= open[1];
    if (open[3] !== "/") stack.push(open[1]);
    else if (stack.length === 0) closedRoot = true;
  }
  if (stack.length > 0) problems.push(`unclosed <${stack.join("> <")}>`);
  if (root === undefined) problems.push("no root element");
  return { problems, root };
}
