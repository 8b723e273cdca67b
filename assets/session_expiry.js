// When the session has ended (expired, user disabled, wall token revoked) the server answers Dash's
// callbacks with 401: reload the page, which the server then sends to the sign-in page (or, for a
// wall opened with its token in the kiosk URL, signs in again if the token is still valid).
// A callback refused (403: an area or event outside the user's jurisdiction, or an id not held) shows
// the server's fixed refusal text in a note with a way back to the page's own area, not a blank page:
// the text says no more than the 403 does (dashboard/auth.py out_of_scope).
(function () {
  var realFetch = window.fetch;
  var reloading = false;
  function showRefusal(text) {
    var note = document.getElementById("refusal-note");
    if (!note) {
      note = document.createElement("a");
      note.id = "refusal-note";
      note.className = "refusal-note";
      note.setAttribute("role", "alert");
      document.body.appendChild(note);
      document.body.classList.add("refused");
    }
    note.textContent = text + " ↩";
    note.href = window.location.pathname;  // the same page without ?event=/?region=: the user's own area
  }
  window.fetch = function () {
    return realFetch.apply(this, arguments).then(function (resp) {
      var dash = String(resp.url).indexOf("/_dash-") !== -1;
      if (resp.status === 401 && !reloading && dash) {
        reloading = true;
        window.location.reload();
      } else if (resp.status === 403 && dash) {
        resp.clone().json().then(function (body) {
          if (body && body.error === "out of scope" && typeof body.detail === "string") showRefusal(body.detail);
        }, function () {});
      }
      return resp;
    });
  };
})();
