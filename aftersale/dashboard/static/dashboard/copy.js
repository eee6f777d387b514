// Copy buttons (dashboard/connect/platforms.html): a button with data-copy="ID" copies the
// value of the field ID to the clipboard and says so in its status; where the clipboard is
// not allowed (plain http), the field's text is selected for Ctrl+C / ⌘C instead.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (!button) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-copy") + "-copied");
  if (!field) {
    return;
  }
  function said(text) {
    if (status) {
      status.textContent = text;
    }
  }
  function selectIt() {
    field.focus();
    field.select();
    said("Selected: press Ctrl+C or ⌘C to copy.");
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(function () {
      said("Copied.");
    }, selectIt);
  } else {
    selectIt();
  }
});
