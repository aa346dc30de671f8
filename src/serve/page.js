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

  // Text with the sentence that matched marked inside it (when it is there).
  function withMark(text, passage) {
    const at = passage ? text.indexOf(passage) : -1;
    if (at < 0) return [text];
    return [text.slice(0, at), el("mark", "", passage), text.slice(at + passage.length)];
  }

  // The full answer as its author wrote it: paragraphs (blank lines) with
  // their line breaks, fenced code blocks (```) as preformatted text; the
  // sentence that matched marked where it lies.
  function answerWithPassage(answer, passage) {
    const box = el("div", "answer");
    const blocks = [];
    let code = null;
    let para = [];
    const endPara = function () {
      if (para.length) blocks.push({ code: false, text: para.join("\n") });
      para = [];
    };
    answer.split("\n").forEach(function (line) {
      if (/^\s*(```|~~~)/.test(line)) {
        if (code === null) { endPara(); code = []; } else { blocks.push({ code: true, text: code.join("\n") }); code = null; }
      } else if (code !== null) {
        code.push(line);
      } else if (line.trim() === "") {
        endPara();
      } else {
        para.push(line);
      }
    });
    if (code !== null) blocks.push({ code: true, text: code.join("\n") });
    endPara();
    let marked = false;
    blocks.forEach(function (b) {
      const e = b.code ? el("pre") : el("p");
      const target = b.code ? e.appendChild(el("code")) : e;
      const parts = marked ? [b.text] : withMark(b.text, passage);
      marked = marked || parts.length > 1;
      target.append.apply(target, parts);
      box.append(e);
    });
    return box;
  }

  function render(reply) {
    list.replaceChildren();
    reply.results.forEach(function (r, i) {
      const guess = !r.confident;
      // Where the confident answers end and the rest begin, say so.
      if (guess && reply.answered && (i === 0 || reply.results[i - 1].confident)) {
        list.append(el("li", "divider", "Below the threshold, for reference:"));
      }
      const li = el("li", guess ? "guess" : "");
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
      render(reply);
    } else {
      const c = reply.results.filter(function (r) { return r.confident; }).length;
      state.textContent = c + (c === 1 ? " answer" : " answers") + took + ".";
      render(reply);
    }
  }

  // The question in the address: a search is a history entry of its own
  // (Back returns to the previous question and its answers).
  function show(q) {
    input.value = q;
    if (q) ask(q);
    else { list.replaceChildren(); state.textContent = ""; }
  }
  window.addEventListener("popstate", function () {
    show((new URL(location.href).searchParams.get("q") || "").trim());
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const url = new URL(location.href);
    const same = url.searchParams.get("q") === q;
    url.searchParams.set("q", q);
    if (same) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
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
    const items = Array.prototype.slice.call(list.querySelectorAll("li[tabindex]"));
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
    corpus.textContent = plural(h.documents, "document") + " · " + plural(h.pairs, "Q&A pair") + " · model " + h.model_name +
      " · generation " + h.generation;
    corpus.title = h.model;
  }).catch(function () {});

  const initial = new URL(location.href).searchParams.get("q");
  if (initial) show(initial.trim());
})();
