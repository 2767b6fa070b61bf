// certvault portal: small enhancements of pages that work without JavaScript.
// Copy button, countdown, status polling (moves to the result page when done), form hints.
(function () {
  "use strict";

  function setupCopy() {
    var button = document.getElementById("copy-code");
    var code = document.getElementById("user-code");
    if (!button || !code) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy") || code.textContent.trim();
      var done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy code"; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectCode(code); });
      } else {
        selectCode(code);
      }
    });
  }

  function selectCode(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function setupCountdown() {
    var element = document.getElementById("countdown");
    if (!element) { return; }
    var expires = Date.parse(element.getAttribute("data-expires-at"));
    if (isNaN(expires)) { return; }
    var original = element.textContent;
    var tick = function () {
      var left = Math.max(0, Math.floor((expires - Date.now()) / 1000));
      if (left === 0) {
        element.textContent = "now (the code has expired)";
        return;
      }
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      element.textContent = original + " (" + minutes + ":" + (seconds < 10 ? "0" : "") + seconds + " left)";
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  function setupPolling() {
    var section = document.getElementById("sign-in");
    var status = document.getElementById("status");
    if (!section || !status || !window.fetch) { return; }
    var url = section.getAttribute("data-status-url");
    var doneURL = section.getAttribute("data-done-url");
    var seconds = parseInt(section.getAttribute("data-poll-seconds"), 10) || 3;
    var finalStates = { "onboarded": true, "expired": true, "failed": true };
    var poll = function () {
      fetch(url, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (response.status === 404) { window.location.assign(doneURL); return null; }
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (body && body.state) {
            status.setAttribute("data-state", body.state);
            status.textContent = body.message || body.state;
            if (finalStates[body.state]) {
              window.setTimeout(function () { window.location.assign(doneURL); }, body.state === "onboarded" ? 1500 : 0);
              return;
            }
          }
          window.setTimeout(poll, seconds * 1000);
        }, function () { window.setTimeout(poll, seconds * 1000); });
    };
    window.setTimeout(poll, seconds * 1000);
  }

  function setupForm() {
    var summary = document.getElementById("form-errors");
    if (summary) { summary.focus(); }
    var byId = function (id) { return document.getElementById(id); };
    var exchange = byId("service_exchange"), sharepoint = byId("service_sharepoint");
    var teams = byId("service_teams"), chats = byId("service_teams_chats");
    if (!exchange || !sharepoint || !teams || !chats) { return; }
    // Teams needs Exchange and SharePoint; chats need Teams: keep the choice one VB365 accepts.
    teams.addEventListener("change", function () {
      if (teams.checked) { exchange.checked = true; sharepoint.checked = true; } else { chats.checked = false; }
    });
    chats.addEventListener("change", function () {
      if (chats.checked) { teams.checked = true; exchange.checked = true; sharepoint.checked = true; }
    });
    var uncheckTeams = function () { if (!exchange.checked || !sharepoint.checked) { teams.checked = false; chats.checked = false; } };
    exchange.addEventListener("change", uncheckTeams);
    sharepoint.addEventListener("change", uncheckTeams);
    var organization = byId("organization");
    if (organization) {
      organization.addEventListener("blur", function () {
        // A pasted URL becomes the name alone.
        organization.value = organization.value.trim().replace(/^https?:\/\//i, "").replace(/\/.*$/, "");
      });
    }
  }

  function start() {
    setupCopy();
    setupCountdown();
    setupPolling();
    setupForm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
