"use strict";
(function () {
  const form = document.getElementById("ask");
  const input = document.getElementById("q");
  const state = document.getElementById("state");
  const list = document.getElementById("results");
  const corpus = document.getElementById("corpus");
  let asked = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The full answer, with the sentence that matched marked inside it.
  function answerWithPassage(answer, passage) {
    const p = el("p", "answer");
    const at = passage ? answer.indexOf(passage) : -1;
    if (at < 0) {
      p.textContent = answer;
      return p;
    }
    p.append(answer.slice(0, at), el("mark", "", passage), answer.slice(at + passage.length));
    return p;
  }

  function render(reply, guesses) {
    list.replaceChildren();
    reply.results.forEach(function (r) {
      const li = el("li", guesses ? "guess" : "");
      li.tabIndex = 0;
      const title = r.kind === "passage" ? el("p", "question passage", "From the document's passage") : el("p", "question", r.question);
      li.append(title, answerWithPassage(r.answer, r.passage));
      const fields = Object.keys(r.meta || {}).map(function (name) {
        const v = r.meta[name];
        return name + ": " + (Array.isArray(v) ? v.join(", ") : v);
      });
      if (fields.length) li.append(el("p", "fields", fields.join(" · ")));
      li.append(el("p", "meta", r.doc + ":" + r.line + " · score " + r.score.toFixed(3)));
      list.append(li);
    });
  }

  async function ask(question) {
    const n = ++asked;
    state.className = "";
    state.textContent = "Searching…";
    const t0 = performance.now();
    let res, reply;
    try {
      res = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: question, k: 5, where: new URL(location.href).searchParams.getAll("where") }),
      });
      reply = await res.json();
    } catch (e) {
      if (n === asked) state.textContent = "The server did not answer (" + e.message + ").";
      return;
    }
    if (n !== asked) return; // a newer question is on its way
    const ms = performance.now() - t0;
    if (!res.ok) {
      list.replaceChildren();
      state.textContent = "Error: " + ((reply.error && reply.error.message) || res.status);
      return;
    }
    const timing = res.headers.get("Server-Timing") || "";
    const m = /dur=([0-9.]+)/.exec(timing);
    const took = " (" + ms.toFixed(0) + " ms" + (m ? ", engine " + Number(m[1]).toFixed(1) + " ms" : "") + ")";
    if (reply.results.length === 0) {
      list.replaceChildren();
      state.textContent = "No answer found" + took + ".";
    } else if (!reply.answered) {
      state.className = "abstain";
      state.textContent = "No confident answer" + took + ": the closest pairs are below the threshold (best " +
        reply.best.toFixed(3) + " < " + reply.min_score.toFixed(3) + "). Closest, for reference:";
      render(reply, true);
    } else {
      const c = reply.results.length;
      state.textContent = c + (c === 1 ? " answer" : " answers") + took + ".";
      render(reply, false);
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const url = new URL(location.href);
    url.searchParams.set("q", q);
    history.replaceState(null, "", url);
    ask(q);
  });

  // Keyboard: "/" back to the box; arrows move between answers.
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== input) {
      e.preventDefault();
      input.focus();
      input.select();
      return;
    }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const items = Array.prototype.slice.call(list.children);
    if (items.length === 0) return;
    const at = items.indexOf(document.activeElement);
    let next = e.key === "ArrowDown" ? at + 1 : at - 1;
    if (at < 0 && e.key === "ArrowUp") return;
    if (next < 0) { input.focus(); e.preventDefault(); return; }
    next = Math.min(next, items.length - 1);
    items[next].focus();
    e.preventDefault();
  });

  fetch("/api/health").then(function (r) { return r.json(); }).then(function (h) {
    const plural = function (n, word) { return n + " " + word + (n === 1 ? "" : "s"); };
    corpus.textContent = plural(h.documents, "document") + " · " + plural(h.pairs, "Q&A pair") + " · model " + h.model +
      " · generation " + h.generation;
  }).catch(function () {});

  const initial = new URL(location.href).searchParams.get("q");
  if (initial) {
    input.value = initial;
    ask(initial.trim());
  }
})();
