/* Pipeline board: drag a card to another column to move its stage.
 *
 * No inline script anywhere (a Content Security Policy without 'unsafe-inline' is planned):
 * the board describes itself with data- attributes and this file does the rest. The move is a
 * normal POST to the card's move URL carrying the version the card was rendered with; the server
 * answers with the refreshed board (also when the move was refused as stale, so a card that
 * someone else moved meanwhile snaps back to where it really is). Without JavaScript, or with
 * the keyboard, each card's "Move to" select and button do the same through htmx or a plain
 * form post.
 */
(function () {
  "use strict";

  function csrfToken() {
    // base.html puts the token in the body's hx-headers for htmx; reuse it. The CSRF cookie is
    // HTTP-only (CSRF_COOKIE_HTTPONLY), so no script can read it.
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      return headers["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function columnOf(node) {
    return node && node.closest ? node.closest("[data-column]") : null;
  }

  function replaceBoard(html) {
    var board = document.getElementById("board");
    if (!board) return;
    board.outerHTML = html;
    var fresh = document.getElementById("board");
    // The keyboard forms of the new board use hx-post: let htmx wire them up.
    if (fresh && window.htmx) window.htmx.process(fresh);
    if (fresh) fresh.setAttribute("data-ready", "true");
  }

  var dragged = null;

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest("[data-card]") : null;
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-move-url"));
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    document.querySelectorAll(".drop-target").forEach(function (el) {
      el.classList.remove("drop-target");
    });
  });

  document.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    column.classList.add("drop-target");
  });

  document.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    var card = dragged;
    if (!column || !card) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    var stage = column.getAttribute("data-stage-id");
    if (stage === card.getAttribute("data-stage-id")) return;
    // Show the move at once; the server's board replaces this guess either way.
    column.querySelector(".cards").appendChild(card);
    var board = document.getElementById("board");
    if (board) board.setAttribute("aria-busy", "true");
    var body = new URLSearchParams();
    body.set("local_stage", stage);
    body.set("version", card.getAttribute("data-version"));
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": csrfToken(),
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body.toString()
    })
      .then(function (response) { return response.text(); })
      .then(replaceBoard)
      .catch(function () { window.location.reload(); });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.getElementById("board");
    if (board) board.setAttribute("data-ready", "true");
  });
})();
