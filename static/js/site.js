// Behaviour shared by every page (no inline script: the Content-Security-Policy forbids it).
// <select data-autosubmit>: submit its form on change (language selector).

document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
// <form data-no-submit>: a form of controls only, never sent (map controls).
document.querySelectorAll("form[data-no-submit]").forEach(function (form) {
  form.addEventListener("submit", function (event) { event.preventDefault(); });
});
// <button data-confirm="…">: asks before what it does (a form sent, or a page's own action);
// cancelled, nothing happens.
document.querySelectorAll("[data-confirm]").forEach(function (button) {
  button.addEventListener("click", function (event) {
    if (!window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
});
