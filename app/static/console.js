// The staff console's keyboard shortcuts and the queue's refresh: plain JavaScript, served by
// Sportello itself.
//
// An element with a shortcut names its key in its `aria-keyshortcuts` attribute (so screen
// readers announce it too): pressed outside a field, the key focuses that field, or follows
// that link. On the queue, j and k move through the rows and Enter opens the one marked.
// Escape leaves a field, so that the keys work again.
//
// The queue refreshes its rows every minute with its filter and search. Only the rows are
// replaced (a page reload would move a screen reader back to the top and lose what is being
// typed), and not while the person is in them or in a field; the row marked stays marked. The
// address asked for carries refresh=auto, so an unattended queue does not keep its session
// alive; once the session is gone, the sign-in page is shown.
//
// Without this file every page works the same, with the mouse, refreshed by hand.
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

  var results = document.getElementById("results");

  function busy() {
    var active = document.activeElement;
    if (document.hidden || !active || active === document.body) {
      return document.hidden;
    }
    return results.contains(active) || typing(active);
  }

  function refresh() {
    if (busy()) {
      return;
    }
    fetch(results.getAttribute("data-refresh"), { credentials: "same-origin" })
      .then(function (response) {
        if (new URL(response.url).pathname !== location.pathname) {
          location.assign(response.url); // signed out (timed out): the sign-in page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html || busy()) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
        if (!fresh) {
          return;
        }
        var all = rows();
        var link = marked >= 0 && marked < all.length ? all[marked].querySelector("a") : null;
        var href = link ? link.getAttribute("href") : null;
        results.replaceChildren.apply(results, Array.prototype.slice.call(fresh.childNodes));
        marked = -1;
        rows().forEach(function (row, index) {
          var first = row.querySelector("a");
          if (href && first && first.getAttribute("href") === href) {
            marked = index;
            row.classList.add("marked");
            row.setAttribute("aria-current", "true");
          }
        });
      })
      .catch(function () {}); // the network away for a moment: the next minute tries again
  }

  if (results && window.fetch) {
    setInterval(refresh, 60000);
  }
})();
