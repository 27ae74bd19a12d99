// Staircase UI behaviour. The page runs under "script-src 'self'; style-src 'self'":
// no inline scripts or styles, no hx-on, no eval. Everything is event delegation on document,
// so it keeps working for content that htmx swaps in.
(function () {
  "use strict";

  // Remove an order line; the last remaining line is cleared instead, so the form always
  // keeps one row to type into.
  function removeLine(button) {
    var line = button.closest(".line");
    if (!line) return;
    var container = line.parentElement;
    var rows = container ? container.querySelectorAll(".line") : [];
    if (rows.length > 1) {
      var next = line.nextElementSibling || line.previousElementSibling;
      line.remove();
      var focusTarget = next && next.querySelector("input");
      if (focusTarget) focusTarget.focus();
      return;
    }
    line.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    line.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
    var first = line.querySelector("input");
    if (first) first.focus();
  }

  // Capture phase: runs before htmx's handlers, so a declined confirm stops both the
  // boosted (htmx) submit and the plain form submit.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;

    var confirmer = target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }

    var remover = target.closest("[data-remove-line]");
    if (remover) {
      event.preventDefault();
      removeLine(remover);
    }
  }, true);

  // After htmx swaps in a new row, focus its first input; after a validation re-render,
  // focus the first invalid field.
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.target;
    if (!(elt instanceof Element)) return;
    if (elt.id === "lines") {
      var rows = elt.querySelectorAll(".line");
      var last = rows[rows.length - 1];
      var input = last && last.querySelector("input");
      if (input) input.focus();
      return;
    }
    var invalid = elt.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  });

  // htmx snapshots the page's HTML for back/forward, which keeps the attributes the server
  // rendered, not what was typed or picked since. Write the live values into the
  // attributes first, so Back shows the filters that produced the rows it restores.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("input, textarea, select").forEach(function (field) {
      if (field.type === "hidden" || field.type === "password") return;
      if (field.tagName === "SELECT") {
        field.querySelectorAll("option").forEach(function (option) {
          if (option.selected) option.setAttribute("selected", "");
          else option.removeAttribute("selected");
        });
      } else if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked) field.setAttribute("checked", "");
        else field.removeAttribute("checked");
      } else if (field.tagName === "TEXTAREA") {
        field.textContent = field.value;
      } else {
        field.setAttribute("value", field.value);
      }
    });
  });
})();

// Rebuild of the read database (architecture page, stage switch). Its progress arrives over
// server-sent events; when a rebuild that a stage switch started has finished, its final
// fragment carries a [data-rebuild-next] link, and the page goes on to it.
(function () {
  "use strict";
  document.addEventListener("htmx:sseMessage", function (event) {
    var elt = event.target;
    if (!(elt instanceof Element)) return;
    var next = elt.querySelector("a[data-rebuild-next]");
    if (next) window.location.assign(next.href);
  });
})();

// Copy buttons: [data-copy] names the element whose text it copies (the order's ID). The
// clipboard API needs a secure context; on plain http the text is selected and copied the old
// way. The button says whether it worked.
(function () {
  "use strict";
  function say(button, text) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  function copyBySelection(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    return ok;
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var button = target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied"); },
        function () { say(button, copyBySelection(source) ? "Copied" : "Select and copy"); });
      return;
    }
    say(button, copyBySelection(source) ? "Copied" : "Select and copy");
  });
})();
