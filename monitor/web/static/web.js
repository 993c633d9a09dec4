// Progressive enhancement only: every form works without it.
document.addEventListener("DOMContentLoaded", function () {
  // Filter selects and checkboxes submit their form on change (the button still works).
  document.querySelectorAll(".autosubmit").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  // Playground: a pause in typing tries the draft (the same POST as the Try button) and
  // swaps in the results; saving stays a plain form submit. (getAttribute: the buttons named
  // "action" shadow form.action.)
  var form = document.querySelector("form.playground");
  var results = document.getElementById("results");
  if (!form || !results || !window.fetch) { return; }
  // One try at a time: typing during a try asks for one more after it, with the latest text.
  var timer = null;
  var busy = false;
  var again = false;
  function tryDraft() {
    if (busy) { again = true; return; }
    busy = true;
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "try");
    fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
        if (fresh && !again) { results.replaceWith(fresh); results = fresh; }
      })
      .finally(function () {
        busy = false;
        if (again) { again = false; tryDraft(); }
      });
  }
  form.querySelector("textarea").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(tryDraft, 600);
  });
});
