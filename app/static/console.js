// The staff console's keyboard shortcuts: plain JavaScript, served by Sportello itself.
//
// An element with a shortcut names its key in its `aria-keyshortcuts` attribute (so screen
// readers announce it too): pressed outside a field, the key focuses that field, or follows
// that link. On the queue, j and k move through the rows and Enter opens the one marked.
// Escape leaves a field, so that the keys work again. Without this file every page works the
// same, with the mouse.
(function () {
  "use strict";

  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  var marked = -1;

  function rows() {
    return document.querySelectorAll("#queue tbody tr");
  }

  function mark(step) {
    var all = rows();
    if (!all.length) {
      return;
    }
    if (marked >= 0 && marked < all.length) {
      all[marked].classList.remove("marked");
      all[marked].removeAttribute("aria-current");
    }
    marked = Math.max(0, Math.min(all.length - 1, marked + step));
    all[marked].classList.add("marked");
    all[marked].setAttribute("aria-current", "true");
    all[marked].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      mark(event.key === "j" ? 1 : -1);
      return;
    }
    if (event.key === "Enter" && marked >= 0) {
      var link = rows()[marked].querySelector("a");
      if (link) {
        event.preventDefault();
        link.click();
      }
      return;
    }
    var target = null;
    document.querySelectorAll("[aria-keyshortcuts]").forEach(function (element) {
      if (!target && element.getAttribute("aria-keyshortcuts") === event.key) {
        target = element;
      }
    });
    if (!target) {
      return;
    }
    event.preventDefault();
    if (target.tagName === "A") {
      target.click();
    } else {
      target.focus();
      target.scrollIntoView({ block: "center" });
    }
  });
})();
