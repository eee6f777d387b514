// The template editor (dashboard/templates/edit.html): Enter in the customer search or
// the test address must not submit the editor's form (that would save the template).
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && event.target.matches && event.target.matches("[data-no-submit]")) {
    event.preventDefault();
  }
});
