"use strict";
// The review page: polls api/pending, keeps one card per held email, and posts decisions
// to api/decide. Email content is untrusted: it is only ever set as textContent.
(() => {
  // Relative to this page, so the page works wherever it is mounted, with or without the
  // trailing slash in the address bar.
  const here = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const refreshMs = Number(document.body.dataset.refreshMs) || 1500;
  // The server's per-page token: only a page served by the review app can read it.
  const token = document.body.dataset.reviewToken || "";
  const queue = document.getElementById("queue");
  const empty = document.getElementById("empty");
  const status = document.getElementById("status");
  const decided = document.getElementById("decided");
  const log = document.getElementById("log");
  const template = document.getElementById("card");
  const cards = new Map();
  let latest = 0;
  let timer = 0;

  function setStatus(text, failed) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(failed));
  }

  function field(card, name, text) {
    card.querySelector("." + name).textContent = text;
  }

  function build(email) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = email.id;
    field(card, "subject", email.subject || "(no subject)");
    field(card, "to", email.to.join(", ") || "-");
    field(card, "cc", email.cc.join(", "));
    for (const name of [".cc", ".cc-label"]) {
      card.querySelector(name).hidden = email.cc.length === 0;
    }
    field(card, "from", email.from || "-");
    field(card, "mailbox", email.mailbox_id || "-");
    field(card, "id", email.id);
    field(card, "preview", email.preview.join("\n") || "(empty)");
    field(card, "body", email.body || "(no body)");
    showOriginal(card, email.original);
    card.querySelector(".reason").addEventListener("input", () => problem(card, ""));
    card.querySelector(".approve").addEventListener("click", () => decide(card, email, "approve"));
    card.querySelector(".reject").addEventListener("click", () => decide(card, email, "reject"));
    return card;
  }

  // The email a reply answers, beside it: an outside sender wrote every word of it, so it
  // is framed as untrusted and, like the rest, only ever set as text.
  function showOriginal(card, original) {
    const aside = card.querySelector(".original");
    aside.hidden = !original;
    card.classList.toggle("with-original", Boolean(original));
    if (!original) return;
    field(card, "original-from", original.from || "-");
    field(card, "original-subject", original.subject || "(no subject)");
    field(card, "original-received", original.received_at || "-");
    field(card, "original-preview", original.preview.join("\n") || "(empty)");
  }

  // "14:03:12 UTC": the zone is named, so a reviewer never guesses whose clock it is.
  function clockTime(date) {
    return date.toLocaleTimeString([], {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
      timeZoneName: "short",
    });
  }

  function render(emails) {
    const ids = new Set(emails.map((email) => email.id));
    for (const [id, card] of cards) {
      if (!ids.has(id)) {
        card.remove();
        cards.delete(id);
      }
    }
    emails.forEach((email, index) => {
      let card = cards.get(email.id);
      if (!card) {
        card = build(email);
        cards.set(email.id, card);
      }
      const age = card.querySelector(".age");
      age.textContent = email.age;
      age.title = email.created_at ? "waiting since " + email.created_at : "";
      // Move a card only when the order changed: moving it would blur a reason being typed.
      if (queue.children[index] !== card) {
        queue.insertBefore(card, queue.children[index] || null);
      }
    });
    empty.hidden = emails.length > 0;
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++latest;
    try {
      const answer = await fetch(here + "api/pending", {
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      const data = await answer.json();
      if (mine !== latest) return; // a newer refresh has started: its answer wins
      if (!answer.ok) throw new Error(data.error || "HTTP " + answer.status);
      render(data.emails);
      const count = data.emails.length;
      const noun = count === 1 ? "email waits" : "emails wait";
      setStatus(count + " " + noun + " for a decision · checked " + clockTime(new Date()),
        false);
    } catch (error) {
      if (mine === latest) setStatus("Could not load the queue: " + error.message, true);
    } finally {
      if (mine === latest) timer = setTimeout(refresh, refreshMs);
    }
  }

  function problem(card, text) {
    const line = card.querySelector(".problem");
    line.textContent = text;
    line.hidden = !text;
  }

  function record(email, action, answer) {
    const item = document.createElement("li");
    item.className = action === "approve" ? "approved" : "rejected";
    const verb = action === "approve" ? "Approved" : "Rejected";
    item.textContent = verb + " “" + (email.subject || "(no subject)") + "” (" + email.id +
      ")" + (answer.status ? ": " + answer.status : "");
    log.prepend(item);
    decided.hidden = false;
  }

  async function decide(card, email, action) {
    const input = card.querySelector(".reason");
    const reason = input.value.trim();
    if (action === "reject" && !reason) {
      problem(card, "A reason is needed to reject: say what should change.");
      input.focus();
      return;
    }
    problem(card, "");
    const buttons = card.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    try {
      const answer = await fetch(here + "api/decide", {
        method: "POST",
        // The custom headers are what a cross-site form cannot send (see the server).
        headers: {
          "Content-Type": "application/json",
          "X-Review-Request": "1",
          "X-Review-Token": token,
        },
        credentials: "same-origin",
        body: JSON.stringify({ email_id: email.id, action: action, reason: reason || null }),
      });
      const data = await answer.json();
      if (!answer.ok) throw new Error(data.error || "HTTP " + answer.status);
      record(email, action, data);
      card.remove();
      cards.delete(email.id);
    } catch (error) {
      problem(card, "Not decided: " + error.message);
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
      refresh();
    }
  }

  refresh();
})();
