// photocull serve: keyboard and buttons for deciding, maps on demand. The pages work without it
// as a read-only view; every change goes through the JSON API with the page's token.
"use strict";
const token = document.querySelector('meta[name="photocull-token"]').content;
const message = document.getElementById("message");
const frames = [...document.querySelectorAll(".frame")];
const main = document.querySelector("main");
const history = []; // each entry: [[frame, decision before], ...]
let focused = 0;

function say(text, error) {
  message.textContent = text;
  message.className = error ? "error" : "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-Photocull-Token": token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    say(data.error || response.statusText, true);
    throw new Error(data.error);
  }
  return data;
}

function show(frame) {
  const decision = frame.dataset.decision;
  const verdict = decision || frame.dataset.suggestion;
  frame.classList.remove("keep", "discard", "review", "decided");
  if (verdict) frame.classList.add(verdict);
  if (decision) frame.classList.add("decided");
  frame.querySelector(".state").textContent = decision
    ? "your decision: " + decision
    : frame.dataset.suggestion ? "suggested: " + frame.dataset.suggestion : "no suggestion";
}

function focus(k) {
  if (!frames.length) return;
  focused = (k + frames.length) % frames.length;
  frames.forEach((f, i) => f.classList.toggle("focused", i === focused));
  frames[focused].focus({ preventScroll: false });
}

async function decide(changes) {
  // changes: [[frame, decision or ""], ...]; one undo step
  const before = changes.map(([f]) => [f, f.dataset.decision]);
  if (changes.length === 1) {
    const [f, d] = changes[0];
    await api("PUT", `/api/photos/${f.dataset.id}/decision`, { decision: d || null });
  } else {
    const decisions = {};
    changes.forEach(([f, d]) => { decisions[f.dataset.id] = d || null; });
    await api("PUT", `/api/groups/${main.dataset.group}/decisions`, { decisions });
  }
  changes.forEach(([f, d]) => { f.dataset.decision = d; show(f); });
  history.push(before);
  say("saved");
}

async function undo() {
  const last = history.pop();
  if (!last) { say("nothing to undo"); return; }
  for (const [f, d] of last) {
    await api("PUT", `/api/photos/${f.dataset.id}/decision`, { decision: d || null });
    f.dataset.decision = d;
    show(f);
  }
  say("undone");
}

function accept() {
  decide(frames.map((f) => [f, f.dataset.suggestion === "discard" ? "discard" : "keep"]));
}

frames.forEach((f, i) => {
  f.addEventListener("click", () => focus(i));
  f.querySelectorAll("button[data-decide]").forEach((b) =>
    b.addEventListener("click", (e) => { e.stopPropagation(); focus(i); decide([[f, b.dataset.decide]]); }));
});

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.toLowerCase();
  const frame = frames[focused];
  if (key === "arrowright") focus(focused + 1);
  else if (key === "arrowleft") focus(focused - 1);
  else if (key === "k" && frame) decide([[frame, "keep"]]);
  else if (key === "d" && frame) decide([[frame, "discard"]]);
  else if (key === "a" && main.dataset.group) accept();
  else if (key === "z") undo();
  else if (key === "enter" && main.dataset.next) window.location = main.dataset.next;
  else if (key === "enter" && main.dataset.group) window.location = "/";
  else return;
  e.preventDefault();
});

const explain = document.getElementById("explain");
if (explain) {
  explain.addEventListener("submit", (e) => {
    e.preventDefault();
    const frame = frames[focused];
    if (!frame) return;
    const params = new URLSearchParams({ model: explain.model.value });
    if (explain.class.value) params.set("class", explain.class.value);
    const img = frame.querySelector("img");
    img.dataset.thumbnail = img.dataset.thumbnail || img.src;
    say("computing the map… (the first one loads TensorFlow: a few seconds)");
    img.onload = () => say("map of " + explain.model.value);
    img.onerror = () => say("no map: the model has no such class, or the photo has no face for it", true);
    img.src = `/api/photos/${frame.dataset.id}/explain?${params}`;
  });
  document.getElementById("hide-map").addEventListener("click", () => {
    frames.forEach((f) => { const img = f.querySelector("img"); if (img.dataset.thumbnail) img.src = img.dataset.thumbnail; });
  });
}

const full = document.getElementById("full");
if (full) full.addEventListener("click", () => full.parentElement.classList.toggle("fit"));
focus(Math.max(0, frames.findIndex((f) => !f.dataset.decision)));
