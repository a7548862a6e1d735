// Behaviour shared by every page (no inline script: the Content-Security-Policy forbids it).
(function () {
  "use strict";
  // Popups and tooltips built from data are DOM text nodes, never HTML strings: names come
  // from users (organisations, communes). textLines(["a", "b"]) → <div>a<br>b</div>.
  window.ocsge = window.ocsge || {};
  window.ocsge.textLines = function (lines) {
    const box = document.createElement("div");
    lines.forEach(function (line, i) {
      if (i) box.append(document.createElement("br"));
      box.append(document.createTextNode(line == null ? "" : String(line)));
    });
    return box;
  };
  // <select data-autosubmit>: submit its form on change (language selector).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // <form data-no-submit>: a form of controls only, never sent (map controls).
  document.querySelectorAll("form[data-no-submit]").forEach(function (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  });
})();
