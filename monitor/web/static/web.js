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
  var timer = null;
  var sent = 0;
  form.querySelector("textarea").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var body = new URLSearchParams(new FormData(form));
      body.set("action", "try");
      var mine = ++sent;
      fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          if (mine !== sent) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
          if (fresh) { results.replaceWith(fresh); results = fresh; }
        });
    }, 600);
  });
});
