// Keyboard shortcuts for the annotate page: 1/a = A, 2/b = B, 3/t = tie, 4/s = skip.
// Keys are ignored while typing in a text field; Esc leaves it. A submit is sent once only.
(function () {
  var form = document.getElementById("answer-form");
  if (!form) return;
  var choice = document.getElementById("choice");
  var sent = false;
  function send(value) {
    if (sent) return;
    sent = true;
    choice.value = value;
    form.submit();
  }
  form.querySelectorAll("button[data-choice]").forEach(function (b) {
    b.addEventListener("click", function (e) { e.preventDefault(); send(b.dataset.choice); });
  });
  var keys = { "1": "A", "a": "A", "2": "B", "b": "B", "3": "tie", "t": "tie", "4": "skip", "s": "skip" };
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox"))) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var v = keys[e.key.toLowerCase()];
    if (v) { e.preventDefault(); send(v); }
  });
})();
