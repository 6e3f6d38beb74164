"use strict";
const $ = (id) => document.getElementById(id);
const device = document.body.dataset.device;
const status = $("status");
const stream = new EventSource("/devices/" + encodeURIComponent(device) + "/live");
stream.onopen = () => { status.textContent = "live"; };
stream.onerror = () => { status.textContent = "reconnecting…"; };
let again = null;
let last = 0;
// The values and charts as the server renders them now.
async function update() {
  again = null;
  last = Date.now();
  try {
    const r = await fetch(location.href, {cache: "no-store"});
    if (!r.ok) return;
    const page = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const part of ["values", "charts"]) {
      const fresh = page.getElementById(part);
      if (fresh) $(part).replaceWith(fresh);
    }
  } catch (e) { /* the next record tries again */ }
}
stream.onmessage = (e) => {
  const li = document.createElement("li");
  const now = new Date();
  const time = document.createElement("time");
  time.dateTime = now.toISOString();
  time.textContent = now.toTimeString().slice(0, 8);
  li.append(time, e.data);
  const list = $("records");
  list.prepend(li);
  while (list.children.length > 500) list.lastChild.remove();
  const none = $("none");
  if (none) none.remove();
  if (!again) again = setTimeout(update, Math.max(0, 1000 - (Date.now() - last)));
};
