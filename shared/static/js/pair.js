// The pairing QR opens /pair#code=XXXXXXXX: the code stays in the fragment, which is
// never sent to the server or written to its logs. Fill it in for the user.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var match = /(?:^|[#&])code=([A-Za-z0-9-]{4,16})/.exec(window.location.hash);
    var input = document.getElementById("pair-code");
    if (match && input) {
      input.value = match[1];
      history.replaceState(null, "", window.location.pathname);
    }
  });
})();
