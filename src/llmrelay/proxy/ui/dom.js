// Small DOM helpers: elements, tables, forms in <dialog>, formatting. Text is always set
// as text (never parsed as HTML), so what the API returns cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else if (name === "cls") el.className = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function say(message, isError = false) {
  const box = document.getElementById("status");
  box.textContent = message;
  box.classList.toggle("error", isError);
  box.classList.add("shown");
  clearTimeout(say.timer);
  say.timer = setTimeout(() => box.classList.remove("shown"), isError ? 8000 : 4000);
}

export const fmt = {
  money(v) {
    if (v === null || v === undefined) return "";
    const n = Number(v);
    return "$" + (n !== 0 && Math.abs(n) < 0.01 ? n.toPrecision(2) : n.toFixed(2));
  },
  num(v) {
    return v === null || v === undefined ? "" : Number(v).toLocaleString("en-US");
  },
  ms(v) {
    return v === null || v === undefined ? "" : Math.round(Number(v)) + " ms";
  },
  when(v) {
    if (!v) return "";
    const d = new Date(v);
    return isNaN(d) ? String(v) : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
  },
  short(v, n = 10) {
    return v && v.length > n ? v.slice(0, n) + "…" : v || "";
  },
  list(v) {
    return Array.isArray(v) ? v.join(", ") : v || "";
  },
};

// A table: columns = [{label, value: row => text|Node, cls}], with a caption for screen
// readers, inside a scrolling box for narrow screens.
export function table(caption, columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { cls: "empty" }, empty);
  const head = h("tr", null, columns.map((c) => h("th", { scope: "col", cls: c.cls }, c.label)));
  const body = rows.map((row) =>
    h("tr", null, columns.map((c) => h("td", { cls: c.cls, "data-label": c.label }, c.value(row)))));
  return h("div", { cls: "scroll" },
    h("table", null, h("caption", { cls: "sr-only" }, caption), h("thead", null, head),
      h("tbody", null, body)));
}

// A field: {name, label, type: text|number|select|textarea|checkbox, options, help, value}
function field(f) {
  const id = "f-" + f.name + "-" + Math.random().toString(36).slice(2, 7);
  let input;
  if (f.type === "select") {
    input = h("select", { id, name: f.name },
      f.options.map(([value, label]) => h("option", { value, selected: value === (f.value ?? "") },
        label)));
  } else if (f.type === "textarea") {
    input = h("textarea", { id, name: f.name, rows: 3 });
    input.value = f.value ?? "";
  } else {
    input = h("input", { id, name: f.name, type: f.type || "text", required: f.required,
      step: f.type === "number" ? "any" : undefined, min: f.min, autocomplete: "off",
      spellcheck: "false" });
    input.value = f.value ?? "";
  }
  if (f.help) input.setAttribute("aria-describedby", id + "-help");
  return h("div", { cls: "field" }, h("label", { for: id }, f.label), input,
    f.help ? h("small", { id: id + "-help" }, f.help) : null);
}

// Read a form's fields back: numbers as numbers, lists split on commas; fields left empty
// are omitted (or sent as null when `clear` names them, to remove a limit).
export function readForm(form, fields, clear = false) {
  const out = {};
  for (const f of fields) {
    const raw = form.elements[f.name].value.trim();
    if (raw === "") {
      if (clear && f.clearable !== false) out[f.name] = f.kind === "list" ? [] : null;
      continue;
    }
    if (f.type === "number") out[f.name] = Number(raw);
    else if (f.kind === "list") out[f.name] = raw.split(",").map((s) => s.trim()).filter(Boolean);
    else out[f.name] = raw;
  }
  return out;
}

// A modal form; resolves with the submitted <form> or null when cancelled. `submit`
// runs on submit and may throw: its message is shown and the dialog stays open.
export function formDialog(title, fields, submit, button = "Save") {
  return new Promise((resolve) => {
    const error = h("p", { cls: "error", role: "alert" });
    const form = h("form", { method: "dialog", novalidate: true },
      h("h2", null, title), h("div", { cls: "grid" }, fields.map(field)), error,
      h("div", { cls: "actions" },
        h("button", { type: "submit" }, button),
        h("button", { type: "button", cls: "secondary", onclick: () => close(null) }, "Cancel")));
    const dialog = h("dialog", { "aria-label": title }, form);
    function close(value) {
      dialog.close();
      dialog.remove();
      resolve(value);
    }
    dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); close(null); });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      const buttonEl = form.querySelector("button[type=submit]");
      buttonEl.disabled = true;
      try {
        const result = await submit(form);
        close(result === undefined ? form : result);
      } catch (err) {
        error.textContent = err.message;
      } finally {
        buttonEl.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function confirmDialog(message, button = "Confirm") {
  return formDialog(message, [], async () => true, button).then((v) => v === true);
}

// A dialog showing a secret once (a new key) with a copy button.
export function secretDialog(title, secret, note) {
  return new Promise((resolve) => {
    const output = h("output", { cls: "secret", "data-secret": "" }, secret);
    const copy = h("button", { type: "button", onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        say("Copied.");
      } catch {
        say("Copy failed: select the key and copy it.", true);
      }
    } }, "Copy");
    const done = h("button", { type: "button", cls: "secondary" }, "Done");
    const dialog = h("dialog", { "aria-label": title },
      h("h2", null, title), h("p", null, note), output, h("div", { cls: "actions" }, copy, done));
    done.addEventListener("click", () => { dialog.close(); dialog.remove(); resolve(); });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Pretty JSON for a <pre>, parsing strings that hold JSON (stored request bodies).
export function pretty(value) {
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}
