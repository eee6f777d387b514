// The flow builder: show only the fields that apply to what is chosen (a split's
// condition, the custom coupon). Without this script every field shows, and the server
// ignores those that do not apply; nothing here changes what the form posts.
(function () {
  "use strict";

  function refresh() {
    document.querySelectorAll("[data-shown-by]").forEach(function (element) {
      var source = document.getElementById(element.dataset.shownBy);
      if (!source) {
        return;
      }
      var value = source.type === "radio" || source.type === "checkbox"
        ? (source.checked ? source.value : "")
        : source.value;
      element.hidden = element.dataset.shownFor.split(" ").indexOf(value) === -1;
    });
  }

  document.addEventListener("change", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
