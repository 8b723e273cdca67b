// When the session has ended (expired, user disabled, wall token revoked) the server answers Dash's
// callbacks with 401: reload the page, which the server then sends to the sign-in page (or, for a
// wall opened with its token in the kiosk URL, signs in again if the token is still valid).
(function () {
  var realFetch = window.fetch;
  var reloading = false;
  window.fetch = function () {
    return realFetch.apply(this, arguments).then(function (resp) {
      if (resp.status === 401 && !reloading && String(resp.url).indexOf("/_dash-") !== -1) {
        reloading = true;
        window.location.reload();
      }
      return resp;
    });
  };
})();
