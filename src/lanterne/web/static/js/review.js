/* Lanterne web review: keyboard-driven categorisation.
 *
 * On a [data-review] container (the review grid, or the item page's viewer) holding
 * [data-review-tile] elements:
 *
 *   arrows, j / k     move (j next, k previous; up/down by a row)
 *   Enter             open the item page
 *   r                 reveal the item (clear, audited), again to shield it
 *   0-4, u            categorise in the case's scheme (keys from data-scheme): after a
 *                     confirmation naming how many items change when the item has near
 *                     duplicates, or when hash sets say otherwise (their category is kept)
 *   s                 ask a supervisor for a second opinion
 *   z                 undo the last categorisation (the whole batch: item and propagated)
 *
 * The server decides: roles are enforced there; the page only hides what a role cannot do.
 */
"use strict";

(() => {
  const root = document.querySelector("[data-review]");
  if (!root) {
    return;
  }
  const scheme = JSON.parse(root.dataset.scheme || "{\"categories\": []}");
  const canCategorise = root.dataset.canCategorise === "1";
  const canReveal = root.dataset.canReveal === "1";
  const canFlag = root.dataset.canFlag === "1";
  const confirmDialog = document.getElementById("confirm-dialog");
  const flagDialog = document.getElementById("flag-dialog");
  const UNDO_KEY = "lanterne.review.batches";

  const tiles = () => Array.from(root.querySelectorAll("[data-review-tile]"));
  // a tile of the grid links to its item page; the item page's own tile does not
  const itemUrl = (tile) => {
    const link = tile.querySelector("a.frame[href]");
    return link ? link.href : null;
  };
  let current = 0;

  function labelOf(value) {
    const found = scheme.categories.find((c) => c.value === value);
    return found ? `${found.key === "u" ? "" : found.value + " — "}${found.label}` : value;
  }

  function shortOf(value) {
    const found = scheme.categories.find((c) => c.value === value);
    return found ? (found.key === "u" ? "u" : found.value) : value;
  }

  // ------------------------------------------------------------ focus and movement
  function focusTile(index, scroll) {
    const all = tiles();
    if (!all.length) {
      return;
    }
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((tile, i) => {
      tile.tabIndex = i === current ? 0 : -1;
      tile.classList.toggle("current", i === current);
    });
    const tile = all[current];
    tile.focus({ preventScroll: !scroll });
    if (scroll) {
      tile.scrollIntoView({ block: "nearest" });
    }
  }

  function columns() {
    const all = tiles();
    if (all.length < 2) {
      return 1;
    }
    const top = all[0].offsetTop;
    const n = all.findIndex((t) => t.offsetTop !== top);
    return n === -1 ? all.length : n;
  }

  function tileOf(sha256) {
    return tiles().filter((t) => t.dataset.sha256 === sha256);
  }

  // ------------------------------------------------------------ badges
  function showDecision(sha256, value) {
    tileOf(sha256).forEach((tile) => {
      const badge = tile.querySelector("[data-decision]");
      if (!badge) {
        return;
      }
      if (value) {
        badge.textContent = `reviewed: ${shortOf(value)}`;
        badge.title = labelOf(value);
        badge.classList.remove("hidden");
        tile.classList.add("decided");
        tile.dataset.category = value;
      } else {
        badge.textContent = "";
        badge.classList.add("hidden");
        tile.classList.remove("decided");
        delete tile.dataset.category;
      }
    });
  }

  function showFlag(sha256) {
    tileOf(sha256).forEach((tile) => {
      const badge = tile.querySelector("[data-flagged]");
      if (badge) {
        badge.classList.remove("hidden");
      }
    });
  }

  // ------------------------------------------------------------ dialogs
  function ask(dialog, fill) {
    return new Promise((resolve) => {
      fill(dialog);
      const done = () => {
        dialog.removeEventListener("close", done);
        resolve(dialog.returnValue === "confirm");
      };
      dialog.returnValue = "";
      dialog.addEventListener("close", done);
      dialog.showModal();
      const yes = dialog.querySelector("[value=confirm]");
      if (yes) {
        yes.focus();
      }
    });
  }

  function conflictText(conflicts) {
    return conflicts
      .map((c) => {
        const sets = c.hashsets.map((h) => `${h.hashset} says ${h.category}`).join(", ");
        return `${c.sha256.slice(0, 12)}…: ${sets}`;
      })
      .join("; ");
  }

  // ------------------------------------------------------------ actions
  async function categorise(tile, category) {
    const sha256 = tile.dataset.sha256;
    const request = { sha256, category: category.value, propagate: true, confirm: false };
    let preview;
    try {
      preview = (await Lanterne.post(root.dataset.categoriseUrl, request)).preview;
    } catch (error) {
      Lanterne.toast(`Could not prepare the categorisation: ${error.message}`, true);
      return;
    }
    const others = preview.changes - 1;
    if (others > 0 || preview.conflicts.length) {
      const ok = await ask(confirmDialog, (dialog) => {
        dialog.querySelector("[data-confirm-category]").textContent = labelOf(category.value);
        dialog.querySelector("[data-confirm-count]").textContent = String(preview.changes);
        dialog.querySelector("[data-confirm-others]").textContent = String(others);
        const kept = dialog.querySelector("[data-confirm-kept]");
        kept.textContent = preview.kept.length
          ? `${preview.kept.length} near duplicate(s) keep the category a reviewer gave them.`
          : "";
        kept.classList.toggle("hidden", !preview.kept.length);
        const conflicts = dialog.querySelector("[data-confirm-conflicts]");
        conflicts.textContent = preview.conflicts.length
          ? `Hash sets say otherwise for ${preview.conflicts.length} of them ` +
            `(${conflictText(preview.conflicts)}): their categories are kept, and the ` +
            "conflict is shown."
          : "";
        conflicts.classList.toggle("hidden", !preview.conflicts.length);
      });
      if (!ok) {
        Lanterne.toast("Not categorised.");
        focusTile(current, false);
        return;
      }
    }
    tile.classList.add("busy");
    try {
      const result = await Lanterne.post(root.dataset.categoriseUrl, {
        ...request, confirm: true, expected: preview.sha256s,
      });
      const decision = result.decision;
      decision.sha256s.forEach((sha) => showDecision(sha, decision.category));
      rememberBatch(decision.batch, decision.sha256s);
      const count = decision.sha256s.length;
      let text = `Categorised ${count} item${count === 1 ? "" : "s"} as ${labelOf(decision.category)}`;
      if (count > 1) {
        text += ` (${count - 1} near or exact duplicate${count === 2 ? "" : "s"})`;
      }
      if (decision.conflicts.length) {
        text += `; ${decision.conflicts.length} conflict(s) with hash sets shown`;
      }
      Lanterne.toast(`${text}. Press z to undo.`);
      root.dataset.lastBatch = decision.batch;
      focusTile(tiles().length > 1 ? current + 1 : current, true);
    } catch (error) {
      Lanterne.toast(`Not categorised: ${error.message}`, true);
      focusTile(current, false);
    } finally {
      tile.classList.remove("busy");
    }
  }

  function batches() {
    try {
      return JSON.parse(window.sessionStorage.getItem(UNDO_KEY) || "[]");
    } catch (_) {
      return [];
    }
  }

  function rememberBatch(batch, sha256s) {
    const list = batches();
    list.push({ batch, sha256s });
    window.sessionStorage.setItem(UNDO_KEY, JSON.stringify(list.slice(-50)));
  }

  async function undo() {
    const list = batches();
    const last = list.pop();
    if (!last) {
      Lanterne.toast("Nothing to undo in this window.");
      return;
    }
    try {
      const result = await Lanterne.post(root.dataset.undoUrl, { batch: last.batch });
      window.sessionStorage.setItem(UNDO_KEY, JSON.stringify(list));
      const shown = new Set(tiles().map((t) => t.dataset.sha256));
      const affected = last.sha256s.filter((sha) => shown.has(sha));
      await Promise.all(affected.map(async (sha) => {
        const found = await Lanterne.getJSON(`${root.dataset.itemApi}${sha}`);
        showDecision(sha, found.current ? found.current.category : null);
      }));
      Lanterne.toast(`Undone: ${result.undone} item(s) back to their previous category.`);
      root.dataset.lastUndone = result.batch;
    } catch (error) {
      window.sessionStorage.setItem(UNDO_KEY, JSON.stringify(list));
      Lanterne.toast(`Could not undo: ${error.message}`, true);
    }
    focusTile(current, false);
  }

  async function flag(tile) {
    const ok = await ask(flagDialog, (dialog) => {
      dialog.querySelector("[name=note]").value = "";
    });
    if (!ok) {
      return;
    }
    const note = flagDialog.querySelector("[name=note]").value;
    try {
      await Lanterne.post(root.dataset.flagUrl, { sha256: tile.dataset.sha256, note });
      showFlag(tile.dataset.sha256);
      Lanterne.toast("A supervisor will give a second opinion.");
    } catch (error) {
      Lanterne.toast(`Could not ask for a second opinion: ${error.message}`, true);
    } finally {
      focusTile(current, false);
    }
  }

  function toggleReveal(tile) {
    const img = tile.querySelector("img.shielded");
    if (!img) {
      return;
    }
    if (img.classList.contains("revealed")) {
      Lanterne.shield(img);
    } else {
      Lanterne.reveal(img);
    }
  }

  // ------------------------------------------------------------ keyboard
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return;
    }
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea, button, a")) {
      if (!target.closest("[data-review-tile]")) {
        return;
      }
    }
    const all = tiles();
    if (!all.length) {
      return;
    }
    const tile = all[current];
    const key = event.key;
    let handled = true;
    if (key === "ArrowRight" || key === "j") {
      focusTile(current + 1, true);
    } else if (key === "ArrowLeft" || key === "k") {
      focusTile(current - 1, true);
    } else if (key === "ArrowDown") {
      focusTile(current + columns(), true);
    } else if (key === "ArrowUp") {
      focusTile(current - columns(), true);
    } else if (key === "Enter" && itemUrl(tile) && all.length > 1) {
      window.location.assign(itemUrl(tile));
    } else if (key === "r" && canReveal) {
      toggleReveal(tile);
    } else if (key === "s" && canFlag) {
      flag(tile);
    } else if (key === "z" && canCategorise) {
      undo();
    } else if (canCategorise && scheme.categories.some((c) => c.key === key.toLowerCase())) {
      categorise(tile, scheme.categories.find((c) => c.key === key.toLowerCase()));
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    tiles().forEach((tile, index) => {
      tile.addEventListener("focus", () => {
        current = index;
        tiles().forEach((t, i) => t.classList.toggle("current", i === index));
      });
    });
    root.querySelectorAll("[data-category-key]").forEach((button) => {
      button.addEventListener("click", () => {
        const category = scheme.categories.find((c) => c.key === button.dataset.categoryKey);
        const tile = tiles()[current];
        if (category && tile && canCategorise) {
          categorise(tile, category);
        }
      });
    });
    root.querySelectorAll("[data-flag-button]").forEach((button) => {
      button.addEventListener("click", () => tiles()[current] && flag(tiles()[current]));
    });
    root.querySelectorAll("[data-undo-button]").forEach((button) => {
      button.addEventListener("click", () => undo());
    });
    document.addEventListener("keydown", onKey);
    if (root.dataset.autofocus === "1") {
      focusTile(0, false);
    }
  });
})();
