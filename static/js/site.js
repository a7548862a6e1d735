// Behaviour shared by every page (no inline script: the Content-Security-Policy forbids it).
// <select data-autosubmit>: submit its form on change (language selector).

document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
// <form data-no-submit>: a form of controls only, never sent (map controls).
document.querySelectorAll("form[data-no-submit]").forEach(function (form) {
  form.addEventListener("submit", function (event) { event.preventDefault(); });
});
