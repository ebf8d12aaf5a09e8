// Django admin, destination form: show the settings of the chosen kind only (each section of the
// form is classed with the kinds that use it, e.g. "kind-slack kind-webhook").
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var kind = document.getElementById("id_kind");
  if (!kind) return;
  function show() {
    document.querySelectorAll("fieldset[class*='kind-']").forEach(function (section) {
      section.style.display = section.classList.contains("kind-" + kind.value) ? "" : "none";
    });
  }
  kind.addEventListener("change", show);
  show();
});
