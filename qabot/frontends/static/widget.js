/* qabot chat widget: include with one tag, <script src="https://bot.example.com/widget.js" defer></script>.
   Plain JavaScript, no build step. The conversation is kept in localStorage across page loads;
   every text is inserted as text, never as HTML. While a person from the support team answers
   (the conversation is handed off), it polls GET /api/v1/conversations/{id}/messages for their
   replies and the line saying the bot is back. */
(function () {
  "use strict";
  var me = document.currentScript;
  var base = me && me.src ? new URL(me.src).origin : window.location.origin;
  var KEY = "qabot-chat-v1";
  var state = load();

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEY) || "null");
      if (saved && saved.user) return saved;
    } catch (e) { /* private mode or bad data: start afresh */ }
    var id = "web-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
    return { user: id, conversation: null, messages: [], open: false, waiting: false, after: 0 };
  }
  function save() {
    try { window.localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* full */ }
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var css = ".qb-bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
    "border:0;background:#2455c3;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 2px 8px #0005;z-index:2147483000}" +
    ".qb-panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 24px);height:520px;" +
    "max-height:calc(100vh - 110px);display:none;flex-direction:column;background:#fff;color:#111;border-radius:12px;" +
    "box-shadow:0 4px 24px #0006;font:15px/1.4 system-ui,sans-serif;z-index:2147483000}" +
    ".qb-panel.qb-open{display:flex}.qb-head{padding:12px 14px;background:#2455c3;color:#fff;border-radius:12px 12px 0 0;" +
    "display:flex;justify-content:space-between;align-items:center}.qb-head button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer}" +
    ".qb-log{flex:1;overflow-y:auto;padding:10px}.qb-msg{margin:6px 0;padding:8px 10px;border-radius:10px;max-width:88%;white-space:pre-wrap}" +
    ".qb-user{background:#e7eefc;margin-left:auto}.qb-bot{background:#f3f3f3}.qb-op{background:#e8f6ec;border-left:3px solid #1f8a44}" +
    ".qb-who{font-size:12px;font-weight:bold;color:#1f6b37;margin-bottom:2px}.qb-src{margin-top:6px;font-size:13px;color:#333;border-left:3px solid #2455c3;padding-left:6px}" +
    ".qb-src mark{background:#ffe58a}.qb-src a,.qb-also a{color:#2455c3}" +
    ".qb-related{background:#fff8e6;border:1px dashed #d9a400}.qb-label{font-size:12px;font-weight:bold;text-transform:uppercase;color:#8a6500}" +
    ".qb-also,.qb-note{margin-top:6px;font-size:13px}.qb-acts button{margin:4px 4px 0 0;border:1px solid #ccc;background:#fff;border-radius:6px;cursor:pointer;font-size:14px}" +
    ".qb-acts button[aria-pressed=true]{background:#dfe8ff;border-color:#2455c3}.qb-form{display:flex;gap:6px;padding:8px;border-top:1px solid #ddd}" +
    ".qb-form input{flex:1;padding:8px;border:1px solid #bbb;border-radius:8px;font:inherit}.qb-form button,.qb-human{padding:8px 10px;border:0;border-radius:8px;background:#2455c3;color:#fff;cursor:pointer;font:inherit}" +
    ".qb-human{margin:0 8px 8px;background:#fff;color:#2455c3;border:1px solid #2455c3}" +
    "@media (max-width:480px){.qb-panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}";
  document.head.appendChild(el("style", {}, css));

  var bubble = el("button", { "class": "qb-bubble", "aria-label": "Open the support chat", "aria-expanded": "false", type: "button" }, "💬");
  var panel = el("div", { "class": "qb-panel", role: "dialog", "aria-label": "Support chat" });
  var head = el("div", { "class": "qb-head" });
  head.appendChild(el("strong", {}, "Support"));
  var close = el("button", { "aria-label": "Close the chat", type: "button" }, "×");
  head.appendChild(close);
  var log = el("div", { "class": "qb-log", role: "log", "aria-live": "polite" });
  var form = el("form", { "class": "qb-form" });
  var input = el("input", { type: "text", maxlength: "4000", "aria-label": "Your question", placeholder: "Ask a question…", autocomplete: "off" });
  form.appendChild(input);
  form.appendChild(el("button", { type: "submit" }, "Send"));
  var human = el("button", { "class": "qb-human", type: "button" }, "Talk to a person");
  [head, log, form, human].forEach(function (n) { panel.appendChild(n); });
  document.body.appendChild(bubble);
  document.body.appendChild(panel);

  function show(open) {
    state.open = open;
    save();
    panel.classList.toggle("qb-open", open);
    bubble.setAttribute("aria-expanded", String(open));
    if (open) input.focus(); else bubble.focus();
  }
  bubble.addEventListener("click", function () { show(!state.open); });
  close.addEventListener("click", function () { show(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") show(false); });

  // only an absolute http(s) URL with a host becomes a link (as links.is_web_url on the server)
  function webUrl(u) {
    if (typeof u !== "string" || !/^https?:\/\/[^\/?#@\\]+([\/?#]|$)/i.test(u) ||
        /[\s\\<>"`\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/.test(u)) return null;
    try { var p = new URL(u); } catch (e) { return null; }
    return (p.protocol === "http:" || p.protocol === "https:") && p.hostname ? u : null;
  }
  function link(text, url) {
    var u = webUrl(url);
    return u ? el("a", { href: u, rel: "noopener", target: "_blank" }, text) : el("span", {}, text);
  }

  function source(src) {
    var box = el("div", { "class": "qb-src" });
    var snippet = el("div");
    var h = src.highlight;
    if (h && h.length === 2) {
      snippet.appendChild(document.createTextNode(src.snippet.slice(0, h[0])));
      snippet.appendChild(el("mark", {}, src.snippet.slice(h[0], h[1])));
      snippet.appendChild(document.createTextNode(src.snippet.slice(h[1])));
    } else {
      snippet.textContent = src.snippet;
    }
    box.appendChild(snippet);
    var cite = el("div", { "class": "qb-cite" }, "— ");
    cite.appendChild(link(src.location || src.title, src.url));
    box.appendChild(cite);
    return box;
  }

  // a related reply: not an answer; the label, the lead, the excerpt, more articles, the offer
  function related(node, m) {
    node.appendChild(el("div", { "class": "qb-label" }, "Related"));
    node.appendChild(el("div", {}, m.text));
    (m.sources || []).slice(0, 1).forEach(function (s) { node.appendChild(source(s)); });
    var more = (m.sources || []).slice(1);
    if (more.length) {
      var also = el("div", { "class": "qb-also" }, "See also: ");
      more.forEach(function (s, i) {
        if (i) also.appendChild(document.createTextNode("; "));
        also.appendChild(link(s.title || s.location, s.url));
      });
      node.appendChild(also);
    }
    if (m.note) node.appendChild(el("div", { "class": "qb-note" }, m.note));
  }

  function render(m) {
    if (m.who === "operator") {  // a person's reply: their first name, then the text
      var op = el("div", { "class": "qb-msg qb-op" });
      op.appendChild(el("div", { "class": "qb-who" }, (m.author || "Support") + " (support team)"));
      op.appendChild(el("div", {}, m.text));
      log.appendChild(op);
      log.scrollTop = log.scrollHeight;
      return;
    }
    var bot = m.who !== "user";
    var node = el("div", { "class": "qb-msg " + (bot ? "qb-bot" : "qb-user") + (m.kind === "related" ? " qb-related" : "") },
                  m.kind === "related" ? "" : m.text);
    if (m.kind === "related") related(node, m);
    else (m.sources || []).slice(0, 1).forEach(function (s) { node.appendChild(source(s)); });
    if (m.rateable) {
      var acts = el("div", { "class": "qb-acts" });
      [["up", "👍", "Helpful", true], ["down", "👎", "Not helpful", false]].forEach(function (b) {
        var btn = el("button", { type: "button", "aria-label": b[2], "aria-pressed": String(m.vote === b[0]) }, b[1]);
        btn.addEventListener("click", function () { vote(m, b[0], b[3], acts); });
        acts.appendChild(btn);
      });
      node.appendChild(acts);
    }
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }

  function post(path, body) {
    return fetch(base + "/api/v1/" + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { if (!r.ok) throw new Error(data.error || r.status); return data; });
    });
  }

  function vote(m, which, helpful, acts) {
    post("feedback", { user: state.user, message_id: m.id, helpful: helpful }).then(function () {
      m.vote = which;
      save();
      acts.querySelectorAll("button").forEach(function (b, i) {
        b.setAttribute("aria-pressed", String((i === 0) === helpful));
      });
    }).catch(function () { /* the vote is not stored; the buttons stay as they were */ });
  }

  // while handed off: fetch what the team wrote (and the release line) every few seconds
  var POLL_MS = 2500, SLOW_MS = 10000, SLOW_AFTER_MS = 600000, polling = null, quietSince = 0;
  function waiting(on) {  // a person answers: no "Talk to a person" button meanwhile
    state.waiting = on;
    human.style.display = on ? "none" : "";
    save();
  }
  function wait(on) {
    waiting(on);
    if (on && !polling) { quietSince = Date.now(); polling = setTimeout(poll, POLL_MS); }
  }
  function poll() {
    polling = null;
    if (!state.waiting || !state.conversation) return;
    var url = base + "/api/v1/conversations/" + state.conversation + "/messages?user=" +
      encodeURIComponent(state.user) + "&after=" + (state.after || 0);
    fetch(url).then(function (r) {
      if (r.status === 404) { waiting(false); return null; }
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      data.messages.forEach(function (m) {
        state.after = Math.max(state.after || 0, m.id);
        if (m.from === "operator") { add({ who: "operator", author: m.author, text: m.text }); quietSince = Date.now(); }
        else if (m.kind === "released") add({ who: "bot", text: m.text });
      });
      waiting(data.handed_off || data.messages.length === 100);
    }).catch(function () { /* offline for a moment: the next poll catches up */ }).then(function () {
      if (state.waiting && !polling) polling = setTimeout(poll, Date.now() - quietSince > SLOW_AFTER_MS ? SLOW_MS : POLL_MS);
    });
  }

  function add(m) { state.messages.push(m); state.messages = state.messages.slice(-60); save(); render(m); }

  function ask(text) {
    add({ who: "user", text: text });
    post("chat", { user: state.user, text: text, conversation_id: state.conversation }).then(function (data) {
      state.conversation = data.conversation_id;
      var r = data.reply;
      if (r.kind === "handed_off") return wait(true);  // a person answers: poll for them
      state.after = Math.max(state.after || 0, r.message_id || 0);
      // a notice (the bot took the conversation back from a person who never replied) comes
      // first, on its own; the reply's text starts with it
      var body = r.text;
      if (r.notice) {
        add({ who: "bot", text: r.notice });
        if (body.indexOf(r.notice) === 0) body = body.slice(r.notice.length).replace(/^\s+/, "");
      }
      // an answer shows the span (or the steps); its source box quotes the sentence and the place.
      // A related reply shows its first and last paragraphs (the lead, the offer of a person)
      // around the excerpt box and the other articles, which its sources hold.
      var text = r.kind === "answer" && r.answer ? r.answer : body, note = null;
      if (r.kind === "related" && r.sources && r.sources.length) {
        var parts = body.split("\n\n");
        text = parts[0];
        note = parts.length > 1 ? parts[parts.length - 1] : null;
      }
      add({ who: "bot", kind: r.kind === "related" ? "related" : undefined, text: text,
            note: note, id: r.message_id, sources: r.sources,
            rateable: r.kind === "answer" || r.kind === "faq" || r.kind === "related" });
      if (r.kind === "handoff") wait(true);
      else if (r.notice) waiting(false);  // the bot took the conversation back
    }).catch(function () {
      add({ who: "bot", text: "Sorry, something went wrong. Please try again in a moment." });
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    ask(text);
  });
  human.addEventListener("click", function () {
    add({ who: "user", text: "Talk to a person" });
    post("handoff", { user: state.user, conversation_id: state.conversation }).then(function (data) {
      state.conversation = data.conversation_id;
      add({ who: "bot", text: data.text });
      wait(true);
    }).catch(function () {
      add({ who: "bot", text: "Sorry, something went wrong. Please try again in a moment." });
    });
  });

  state.messages.forEach(render);
  if (state.open) show(true);
  if (state.waiting) { state.waiting = false; wait(true); }  // a page load while a person answers
})();
