// The opportunity form's product lines: add and remove rows in place (the formset's management
// form kept right), each line's price in the deal's currency (price book, list price, or the
// list price converted at the dated rate, said so), the customer's agreement discount on new
// lines, and a running total in the user's number format. Without this script the form still
// works with its empty rows; the server prices, validates and totals again when saving.
(function () {
  "use strict";

  function init() {
    var box = document.getElementById("lines");
    if (!box || !box.dataset.quote) return;
    var quote = JSON.parse(box.dataset.quote);
    var form = box.closest("form");
    var rows = document.getElementById("line-rows");
    var template = document.getElementById("line-template");
    var total = document.getElementById("lines-total");
    var addButton = document.getElementById("add-line");
    var totalForms = form.querySelector("input[name='lines-TOTAL_FORMS']");
    var initialForms = form.querySelector("input[name='lines-INITIAL_FORMS']");
    var currencyInput = form.querySelector("input[name='currency']");
    var lang = document.documentElement.lang || "en";
    var agreementDiscount = null;

    function fmt(value, digits) {
      return new Intl.NumberFormat(lang, {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      }).format(value);
    }

    function fill(text, values) {
      return text.replace(/%\((\w+)\)s/g, function (_m, key) {
        return values[key];
      });
    }

    // As the server reads a localized decimal: the locale's decimal separator, or a dot.
    function parse(raw) {
      var value = (raw || "").trim();
      if (!value) return null;
      if (quote.decimal !== ".") value = value.split(quote.decimal).join(".");
      if (!/^-?\d*\.?\d+$/.test(value)) return NaN;
      return Number(value);
    }

    // Money is counted as the server counts it: integers of cents (BigInt), each rounding
    // half-even, so the total shown is the total saved to the cent.
    function scaled(text, places) {
      var parts = String(text).split(".");
      var decimals = (parts[1] || "").padEnd(places, "0").slice(0, places);
      var sign = parts[0].charAt(0) === "-" ? -1n : 1n;
      return sign * BigInt(parts[0].replace("-", "") + decimals);
    }

    function divide(n, d) {
      var q = n / d;
      var r = n % d;
      if (2n * r > d || (2n * r === d && q % 2n === 1n)) q += 1n;
      return q;
    }

    function cents(value) {
      return Number(value) / 100;
    }

    function asText(number) {
      return number.toFixed(2);
    }
    function currency() {
      return (currencyInput ? currencyInput.value : "").trim().toUpperCase();
    }

    function field(row, name) {
      return row.querySelector("[name$='-" + name + "']");
    }

    // The product's unit price in the deal's currency: {price, note} or {price: null, note}.
    function priceOf(productId, cur) {
      var product = quote.products[productId];
      if (!product) return { price: null, note: "" };
      if (product.book[cur] !== undefined) {
        return { price: Number(product.book[cur]), note: quote.text.book };
      }
      if (product.currency === cur) return { price: Number(product.price), note: quote.text.list };
      var from = quote.rates[product.currency];
      var to = quote.rates[cur];
      if (from === undefined || to === undefined) {
        var missing = from === undefined ? product.currency : cur;
        return { price: null, note: fill(quote.text.no_rate, { currency: missing }) };
      }
      // The server's rule: the cross rate to 8 places, the price to the cent, half-even.
      var rate = divide(scaled(from, 8) * 100000000n, scaled(to, 8));
      var price = divide(scaled(product.price, 2) * rate, 100000000n);
      return {
        price: cents(price),
        note: fill(quote.text.converted, {
          currency: product.currency,
          price: fmt(Number(product.price), 2),
          rate: fmt(Number(rate) / 1e8, 4),
          date: quote.date,
        }),
      };
    }

    function recompute() {
      var cur = currency();
      var sum = 0n;
      var complete = true;
      rows.querySelectorAll("tr.line-row").forEach(function (row) {
        var product = field(row, "product").value;
        var note = row.querySelector(".line-note");
        var lineTotal = row.querySelector(".line-total");
        var unit = field(row, "unit_price");
        if (!product) {
          lineTotal.textContent = "";
          if (note.dataset.live) note.textContent = "";
          unit.placeholder = "";
          return;
        }
        var typed = parse(unit.value);
        var price = typed;
        if (typed === null) {
          var found = priceOf(product, cur);
          price = found.price;
          note.textContent = found.note || quote.text.unknown;
          note.dataset.live = "1";
          unit.placeholder = found.price === null ? "" : fmt(found.price, 2);
        } else if (note.dataset.live) {
          note.textContent = "";
        }
        var quantity = parse(field(row, "quantity").value);
        var discount = parse(field(row, "discount_percent").value) || 0;
        if (price === null || isNaN(price) || quantity === null || isNaN(quantity) ||
            isNaN(discount)) {
          lineTotal.textContent = "";
          complete = false;
          return;
        }
        // quantity x price x (100 - discount) / 100, to the cent: the saved line's total.
        var value = divide(
          scaled(asText(quantity), 2) * scaled(asText(price), 2) *
            (10000n - scaled(asText(discount), 2)),
          1000000n
        );
        lineTotal.textContent = fmt(cents(value), 2);
        sum += value;
      });
      total.textContent = complete ? fmt(cents(sum), 2) + " " + cur : "—";
    }

    function renumber() {
      var list = rows.querySelectorAll("tr.line-row");
      list.forEach(function (row, index) {
        row.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
          ["name", "id", "for"].forEach(function (attr) {
            var value = el.getAttribute(attr);
            if (value) el.setAttribute(attr, value.replace(/lines-(\d+|__prefix__)-/, "lines-" + index + "-"));
          });
        });
        row.querySelectorAll(".line-no").forEach(function (span) {
          span.textContent = String(index + 1);
        });
      });
      totalForms.value = String(list.length);
      // Rows removed from the saved ones: the formset must not expect more saved rows than sent.
      if (Number(initialForms.value) > list.length) initialForms.value = String(list.length);
      addButton.disabled = list.length >= quote.max;
      list.forEach(function (row) {
        row.querySelector(".remove-line").hidden = false;
      });
    }

    function prefillDiscount(row) {
      var discount = field(row, "discount_percent");
      if (agreementDiscount === null || !field(row, "product").value) return;
      if (discount.value.trim() === "" || discount.dataset.prefilled === "1") {
        discount.value = fmt(agreementDiscount, 2);
        discount.dataset.prefilled = "1";
      }
    }

    addButton.hidden = false;
    document.getElementById("lines-nojs").hidden = true;

    addButton.addEventListener("click", function () {
      var index = rows.querySelectorAll("tr.line-row").length;
      if (index >= quote.max) return;
      var html = template.innerHTML
        .replace(/__prefix__/g, String(index))
        .replace(/__number__/g, String(index + 1));
      rows.insertAdjacentHTML("beforeend", html);
      renumber();
      var added = rows.querySelectorAll("tr.line-row")[index];
      field(added, "product").focus();
      recompute();
    });

    rows.addEventListener("click", function (event) {
      var button = event.target.closest(".remove-line");
      if (!button) return;
      var row = button.closest("tr.line-row");
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      recompute();
      // Keep the keyboard where it was: on the neighbouring row, or on "Add line".
      (next ? field(next, "product") : addButton).focus();
      // The conflict preview reads the products too.
      form.dispatchEvent(new Event("change", { bubbles: true }));
    });

    rows.addEventListener("input", function (event) {
      if (event.target.matches("[name$='-discount_percent']")) {
        event.target.dataset.prefilled = "";
      }
      recompute();
    });

    rows.addEventListener("change", function (event) {
      if (event.target.matches("[name$='-product']")) {
        var row = event.target.closest("tr.line-row");
        var quantity = field(row, "quantity");
        // One of it unless told otherwise: a line is complete as soon as its product is chosen.
        if (event.target.value && quantity.value.trim() === "") quantity.value = "1";
        prefillDiscount(row);
      }
      recompute();
    });

    if (currencyInput) currencyInput.addEventListener("input", recompute);

    // The preview tells which agreement applies to the chosen account, and its current tier.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (!event.target || event.target.id !== "preview") return;
      var agreement = event.target.querySelector("[data-agreement-discount]");
      var value = agreement ? Number(agreement.dataset.agreementDiscount) : null;
      if (value === agreementDiscount) return;
      agreementDiscount = value;
      rows.querySelectorAll("tr.line-row").forEach(function (row) {
        var discount = field(row, "discount_percent");
        if (agreementDiscount === null) {
          if (discount.dataset.prefilled === "1") {
            discount.value = "";
            discount.dataset.prefilled = "";
          }
        } else {
          prefillDiscount(row);
        }
      });
      recompute();
    });

    renumber();
    recompute();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
