// The operator dashboard's script: small conveniences only; every page works without it.
// - buttons with data-copy="ID" copy the text of element ID to the clipboard (they are hidden
//   until this script shows them);
// - forms with data-confirm ask before they are sent.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    var status = document.getElementById(button.getAttribute("data-status") || "");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
        if (status) { status.textContent = "The link is on the clipboard."; }
      }, function () {
        if (status) { status.textContent = "Copying failed: select the link and copy it yourself."; }
      });
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
