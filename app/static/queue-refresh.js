// The console's queue refreshes itself every minute with its filter and search: plain
// JavaScript, served by Sportello itself. Only the rows are replaced (no page reload, which
// would move a screen reader back to the top and lose what is being typed), and not while the
// person is in them or in a field. The address asked for carries refresh=auto, so an unattended
// queue does not keep its session alive; once the session is gone, the sign-in page is shown.
// Without this file the queue works the same, refreshed by hand.
(function () {
  "use strict";

  var results = document.getElementById("results");
  if (!results || !window.fetch) {
    return;
  }

  function busy() {
    var active = document.activeElement;
    if (document.hidden || !active || active === document.body) {
      return document.hidden;
    }
    return results.contains(active) || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
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
        if (fresh) {
          results.replaceChildren.apply(results, Array.prototype.slice.call(fresh.childNodes));
        }
      })
      .catch(function () {}); // the network away for a moment: the next minute tries again
  }

  setInterval(refresh, 60000);
})();
