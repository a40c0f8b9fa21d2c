// Behaviour every page shares. The Content-Security-Policy runs no inline script, so what
// would be an onsubmit/onclick attribute is a data attribute handled here.

// <form data-confirm="Question?">: asks before submitting (plain posts and htmx alike).
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation(); // capture phase: htmx never sees it
    }
  },
  true,
);

// <button data-copy="input-id">: copies that input's value, and says so.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.value).then(() => {
    button.textContent = "Copied";
  });
});

// <input data-select-on-focus>: selects its text when focused (a share link).
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("input[data-select-on-focus]")) event.target.select();
});
