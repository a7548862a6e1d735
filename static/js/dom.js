// DOM helpers shared by the pages' modules.

// Popups and tooltips built from data are DOM text nodes, never HTML strings: names come
// from users (organisations, communes). textLines(["a", "b"]) → <div>a<br>b</div>.
export function textLines(lines) {
  const box = document.createElement("div");
  lines.forEach((line, i) => {
    if (i) box.append(document.createElement("br"));
    box.append(document.createTextNode(line == null ? "" : String(line)));
  });
  return box;
}
