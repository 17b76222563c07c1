"use strict";
// Name, tags and note of a run, sweep, study or search (frontend/templates/_organise.html), and a run's
// star. Reads the thing at #organise's data-url; its owner or an admin edits it (PATCH the same url:
// the backend bounds every field and says which one it refused). The note arrives rendered by the
// backend (backend.core.markdown: text formatting only, no raw HTML, no images) and goes through an
// allowlist here as well before it is shown: the one place a page inserts HTML it did not build itself.
(() => {
  const box = document.getElementById("organise");
  if (!box) return;
  const url = box.dataset.url, kind = box.dataset.kind, noteField = box.dataset.noteField;
  const form = $("organise-form"), noteBox = $("organise-note");
  let thing = null;

  // the rendered note's elements and attributes, and nothing else (text is kept, elements dropped)
  const TAGS = new Set(["P", "BR", "HR", "EM", "STRONG", "S", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "H3", "H4",
    "H5", "H6", "A", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD"]);
  function clean(node) {
    for (const child of [...node.childNodes]) {
      if (child.nodeType === Node.TEXT_NODE) continue;
      if (child.nodeType !== Node.ELEMENT_NODE || !TAGS.has(child.tagName)) {
        child.replaceWith(document.createTextNode(child.nodeType === Node.ELEMENT_NODE ? child.textContent : ""));
        continue;
      }
      for (const attr of [...child.attributes]) {
        const ok = (attr.name === "href" && child.tagName === "A" && /^(https?:|mailto:)/i.test(attr.value))
          || (attr.name === "rel" && child.tagName === "A")
          || (attr.name === "class" && child.tagName === "CODE" && /^language-[\w.+-]*$/.test(attr.value))
          || (attr.name === "class" && (child.tagName === "TH" || child.tagName === "TD")
            && /^align-(left|right|center)$/.test(attr.value));
        if (!ok) child.removeAttribute(attr.name);
      }
      clean(child);
    }
  }
  // backend-rendered note HTML → nodes (parsed inert, by DOMParser: nothing runs or loads while parsing)
  cnn.noteNodes = (html) => {
    const body = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html").body;
    clean(body);
    return [...body.childNodes];
  };

  const tagsOf = (text) => text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
  const bytes = (text) => new TextEncoder().encode(text).length;

  function show(data) {
    thing = data;
    box.dataset.loaded = "1";
    const tags = data.tags || [];
    $("organise-tags").replaceChildren(...tags.map((t) => cnn.el("span", t, { class: "tag" })));
    box.dataset.tags = tags.join(",");
    const html = data[noteField + "_html"] || "";
    noteBox.replaceChildren(...cnn.noteNodes(html));
    noteBox.hidden = !html;
    $("organise-edit").hidden = !cnn.mayChange(data.owner);
    const target = box.dataset.nameTarget && $(box.dataset.nameTarget);
    if (target && data.name) target.textContent = (target.dataset.namePrefix || "") + data.name;
    const star = $("star");
    star.hidden = kind !== "run";
    if (kind === "run") {
      const on = data.starred === true;
      star.setAttribute("aria-pressed", String(on));
      star.textContent = `${on ? "★ Starred" : "☆ Star"}${data.stars ? ` · ${data.stars}` : ""}`;
      star.title = on ? "Remove your star" : "Star this run (stars are yours; everyone sees how many)";
    }
    box.dispatchEvent(new CustomEvent("organised", { detail: data }));
  }

  function openForm() {
    $("organise-name").value = thing.name;
    $("organise-tags-input").value = (thing.tags || []).join(", ");
    $("organise-note-input").value = thing[noteField] || "";
    cnn.showErrors(form, []);
    sizeNote();
    form.hidden = false;
    $("organise-edit").hidden = true;
    $("organise-name").focus();
  }
  function closeForm() { form.hidden = true; $("organise-edit").hidden = !cnn.mayChange(thing.owner); }
  function sizeNote() {
    const input = $("organise-note-input"), max = Number(input.dataset.maxBytes), n = bytes(input.value);
    $("organise-note-size").textContent = `${n.toLocaleString("en-US")} of ${max.toLocaleString("en-US")} bytes`;
  }

  $("organise-edit").addEventListener("click", openForm);
  $("organise-cancel").addEventListener("click", closeForm);
  $("organise-note-input").addEventListener("input", sizeNote);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: $("organise-name").value, tags: tagsOf($("organise-tags-input").value), note: $("organise-note-input").value };
    const r = await cnn.api("PATCH", url, body);
    if (!r.ok) { cnn.showApiErrors(form, r); return; }
    closeForm();
    show(r.data);
  });
  $("star").addEventListener("click", async () => {
    const r = await cnn.api(thing.starred ? "DELETE" : "PUT", `${url}/star`);
    if (r.ok) show(r.data); else cnn.showApiErrors(form.hidden ? box : form, r);
  });

  (async () => {
    const r = await cnn.api("GET", url);
    if (r.ok) show(r.data);
  })();
})();
