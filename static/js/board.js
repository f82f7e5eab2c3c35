/* Pipeline board: drag a card to another column to move its stage, or to Won or Lost to close it.
 *
 * No inline script anywhere (the Content Security Policy allows none): the board describes
 * itself with data- attributes and this file does the rest. The move is a normal POST to the
 * card's move URL carrying the version the card was rendered with; the server answers with the
 * refreshed board (also when the move was refused as stale, so a card that someone else moved
 * meanwhile snaps back to where it really is). Without JavaScript, or with the keyboard, each
 * card's "Move to" select and button do the same through htmx or a plain form post.
 *
 * Closing as lost needs a reason: the page's <dialog id="lost-dialog"> asks for it (no native
 * prompt), for a drop and for the keyboard's "Move to" alike; cancelling leaves the card where
 * it was. Every text shown is the server's, in the user's language: this file holds none.
 * After a move the focus goes back to the moved card's "Move to" button (or, when the card left
 * the board because it was closed, to the board's status message that says so).
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

  function cardById(id) {
    return id ? document.querySelector('[data-card][data-opp-id="' + id + '"]') : null;
  }

  // --- Focus: where the keyboard user was, after the board is replaced -------------------------

  var focusAfterSwap = null; // the id of the card whose move is on its way

  function restoreFocus() {
    var id = focusAfterSwap;
    focusAfterSwap = null;
    if (!id) return;
    var card = cardById(id);
    var target = card ? card.querySelector("form.move button") : null;
    if (!target) target = document.querySelector("#board .board-status");
    if (target) target.focus();
  }

  function boardReady() {
    var fresh = document.getElementById("board");
    if (fresh) fresh.setAttribute("data-ready", "true");
  }

  function replaceBoard(html) {
    var board = document.getElementById("board");
    if (!board) return;
    board.outerHTML = html;
    var fresh = document.getElementById("board");
    // The keyboard forms of the new board use hx-post: let htmx wire them up.
    if (fresh && window.htmx) window.htmx.process(fresh);
    boardReady();
    restoreFocus();
  }

  // --- The lost reason -------------------------------------------------------------------------

  var pendingLost = null; // {resolve, returnFocus} while the dialog is open

  function dialog() {
    return document.getElementById("lost-dialog");
  }

  function closeLost(reason) {
    var box = dialog();
    var pending = pendingLost;
    pendingLost = null;
    if (box && box.open) box.close();
    if (!pending) return;
    if (reason === null && pending.returnFocus) pending.returnFocus.focus();
    pending.resolve(reason);
  }

  /* Ask why the card's deal was lost; resolves with the reason, or null when cancelled. */
  function askLostReason(card, returnFocus) {
    var box = dialog();
    if (!box || typeof box.showModal !== "function") return Promise.resolve(null);
    if (pendingLost) closeLost(null);
    var input = box.querySelector("#lost-reason");
    var error = box.querySelector("[data-lost-error]");
    box.querySelector("[data-lost-deal]").textContent = card.getAttribute("data-name") || "";
    input.value = "";
    input.removeAttribute("aria-invalid");
    error.hidden = true;
    return new Promise(function (resolve) {
      pendingLost = { resolve: resolve, returnFocus: returnFocus || null };
      box.showModal();
      input.focus();
    });
  }

  document.addEventListener("submit", function (event) {
    var box = dialog();
    if (!box || event.target !== box.querySelector("form")) return;
    event.preventDefault();
    var input = box.querySelector("#lost-reason");
    var reason = input.value.trim();
    if (!reason) {
      box.querySelector("[data-lost-error]").hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    closeLost(reason);
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-lost-cancel]")) closeLost(null);
  });

  document.addEventListener(
    "cancel",
    function (event) {
      // Escape closes the dialog: the same as "Cancel".
      if (event.target === dialog()) {
        event.preventDefault();
        closeLost(null);
      }
    },
    true
  );

  // --- Moving by drag and drop -----------------------------------------------------------------

  function postMove(card, stage, lostReason) {
    var board = document.getElementById("board");
    if (board) board.setAttribute("aria-busy", "true");
    var body = new URLSearchParams();
    body.set("local_stage", stage);
    body.set("version", card.getAttribute("data-version"));
    if (lostReason) body.set("lost_reason", lostReason);
    focusAfterSwap = card.getAttribute("data-opp-id");
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
    if (column.getAttribute("data-outcome") === "lost") {
      // Nothing moves until the reason is given; cancelling leaves the card where it was.
      // Opened once the drag's own mouse events are over (they would reach the dialog).
      window.setTimeout(function () {
        askLostReason(card, card.querySelector("form.move button")).then(function (reason) {
          if (reason === null) return;
          column.querySelector(".cards").appendChild(card);
          postMove(card, stage, reason);
        });
      }, 50);
      return;
    }
    // Show the move at once; the server's board replaces this guess either way.
    column.querySelector(".cards").appendChild(card);
    postMove(card, stage, "");
  });

  // --- Moving with the keyboard ("Move to" select and button, through htmx) --------------------

  document.addEventListener("htmx:confirm", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("form.move")) return;
    var card = form.closest("[data-card]");
    if (card) focusAfterSwap = card.getAttribute("data-opp-id");
    var select = form.querySelector("select[name=local_stage]");
    var option = select ? select.options[select.selectedIndex] : null;
    if (!card || !option || option.getAttribute("data-outcome") !== "lost") return;
    event.preventDefault();
    askLostReason(card, form.querySelector("button")).then(function (reason) {
      if (reason === null) {
        // Cancelled: the select shows the stage the deal is really in again.
        focusAfterSwap = null;
        select.value = card.getAttribute("data-stage-id");
        return;
      }
      form.querySelector("[data-lost-reason]").value = reason;
      event.detail.issueRequest(true);
    });
  });

  document.addEventListener("htmx:afterSettle", function () {
    // The swapped-in board (outerHTML): mark it ready and put the focus back on the card.
    if (!focusAfterSwap) return;
    boardReady();
    restoreFocus();
  });

  document.addEventListener("DOMContentLoaded", boardReady);
})();
