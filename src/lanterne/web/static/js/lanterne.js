/* Lanterne web review: what every page shares.
 *
 * - Lanterne.post(url, body): a JSON POST carrying the session's CSRF token.
 * - Reveal one item at a time: an <img class="shielded"> (its src blurred by the server) with
 *   data-reveal-url (clear, audited by the server) is revealed on demand and shielded again
 *   as soon as the pointer or the focus leaves its [data-reveal-scope], or the page is hidden.
 * - Videos are loaded only on demand, muted, with controls, never auto-played.
 * - A break reminder after the user's break_minutes of continuous review.
 *
 * No inline script anywhere: the Content-Security-Policy is script-src 'self'.
 */
"use strict";

const Lanterne = (() => {
  const body = document.body;

  function csrf() {
    return body.dataset.csrf || "";
  }

  async function post(url, payload) {
    return send("POST", url, payload);
  }

  async function send(method, url, payload) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrf(),
      },
      body: JSON.stringify(payload || {}),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      throw new Error(problem(data, response.status));
    }
    return data;
  }

  function problem(data, status) {
    const detail = data && data.detail;
    if (typeof detail === "string") {
      return detail;
    }
    if (detail && typeof detail.message === "string") {
      return detail.message;
    }
    if (Array.isArray(detail)) {
      return detail.map((d) => d.msg).join("; ");
    }
    return `request failed (${status})`;
  }

  async function getJSON(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    });
    if (!response.ok) {
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      throw new Error(problem(data, response.status));
    }
    return response.json();
  }

  let toastTimer = null;
  function toast(text, isError) {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      body.appendChild(box);
    }
    box.textContent = text;
    box.className = isError ? "toast error" : "toast";
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => box.classList.add("hidden"), isError ? 8000 : 4000);
  }

  // ------------------------------------------------------------ reveal, one at a time
  function frameOf(img) {
    return img.closest(".frame");
  }

  function shield(img) {
    if (!img || !img.classList.contains("revealed")) {
      return;
    }
    img.classList.remove("revealed");
    img.src = img.dataset.thumbUrl;
    img.alt = img.alt.replace(/^Revealed /, "Shielded ");
    const frame = frameOf(img);
    if (frame) {
      frame.classList.remove("is-revealed");
    }
    stopVideos(img.closest("[data-reveal-scope]"));
  }

  function shieldAll() {
    document.querySelectorAll("img.shielded.revealed").forEach(shield);
    stopVideos(document);
  }

  function reveal(img) {
    if (!img || !img.dataset.revealUrl) {
      return false;
    }
    document.querySelectorAll("img.shielded.revealed").forEach((other) => {
      if (other !== img) {
        shield(other);
      }
    });
    if (!img.dataset.thumbUrl) {
      img.dataset.thumbUrl = img.getAttribute("src");
    }
    img.classList.add("revealed");
    img.alt = img.alt.replace(/^Shielded /, "Revealed ");
    img.src = img.dataset.revealUrl;
    const frame = frameOf(img);
    if (frame) {
      frame.classList.add("is-revealed");
    }
    return true;
  }

  function stopVideos(scope) {
    if (!scope) {
      return;
    }
    scope.querySelectorAll("video[data-on-demand]").forEach((video) => {
      video.pause();
      video.removeAttribute("src");
      video.load();
      video.remove();
    });
    scope.querySelectorAll(".frame.has-video").forEach((f) => f.classList.remove("has-video"));
  }

  function playVideo(button) {
    const scope = button.closest("[data-reveal-scope]");
    const frame = scope && scope.querySelector(".frame");
    if (!frame || !button.dataset.videoUrl) {
      return;
    }
    shieldAll();
    const video = document.createElement("video");
    video.dataset.onDemand = "1";
    video.controls = true;
    video.muted = true;           // muted always: the user may unmute in the controls
    video.defaultMuted = true;
    video.autoplay = false;       // never auto-play: the user presses play
    video.preload = "metadata";
    video.setAttribute("playsinline", "");
    video.src = button.dataset.videoUrl;
    frame.classList.add("has-video");
    frame.appendChild(video);
    video.focus();
  }

  function bindRevealScopes() {
    document.querySelectorAll("[data-reveal-scope]").forEach((scope) => {
      const leave = () => {
        scope.querySelectorAll("img.shielded.revealed").forEach(shield);
        stopVideos(scope);
      };
      scope.addEventListener("mouseleave", leave);
      scope.addEventListener("focusout", (event) => {
        if (!scope.contains(event.relatedTarget)) {
          leave();
        }
      });
    });
    document.querySelectorAll("[data-reveal-button]").forEach((button) => {
      button.addEventListener("click", () => {
        const scope = button.closest("[data-reveal-scope]");
        const img = scope && scope.querySelector("img.shielded");
        if (img && img.classList.contains("revealed")) {
          shield(img);
        } else if (img) {
          reveal(img);
        }
      });
    });
    document.querySelectorAll("[data-video-button]").forEach((button) => {
      button.addEventListener("click", () => playVideo(button));
    });
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) {
        shieldAll();
      }
    });
    window.addEventListener("pagehide", shieldAll);
    window.addEventListener("blur", shieldAll);
  }

  // ------------------------------------------------------------ break reminder
  const IDLE_MS = 5 * 60 * 1000;       // a pause this long counts as a break
  const SNOOZE_MS = 10 * 60 * 1000;
  const KEY = "lanterne.review.";

  function stored(name) {
    const value = Number(window.sessionStorage.getItem(KEY + name));
    return Number.isFinite(value) ? value : 0;
  }

  function store(name, value) {
    window.sessionStorage.setItem(KEY + name, String(value));
  }

  function breakReminder() {
    const minutes = Number(body.dataset.breakMinutes || "0");
    const dialog = document.getElementById("break-dialog");
    if (!dialog || !(minutes > 0) || body.dataset.exposure !== "1") {
      return;
    }
    const limit = minutes * 60 * 1000;

    function touch() {
      const now = Date.now();
      if (!stored("since") || now - stored("last") > IDLE_MS) {
        store("since", now);
      }
      store("last", now);
    }

    function check() {
      const now = Date.now();
      if (dialog.open || now - stored("last") > IDLE_MS || now < stored("snooze")) {
        return;
      }
      if (now - stored("since") >= limit) {
        const out = dialog.querySelector("[data-break-minutes-out]");
        if (out) {
          out.textContent = String(Math.round((now - stored("since")) / 60000));
        }
        shieldAll();
        dialog.showModal();
      }
    }

    dialog.querySelector("[data-break-take]").addEventListener("click", () => {
      store("since", 0);
      store("last", 0);
      store("snooze", 0);
      dialog.close();
    });
    dialog.querySelector("[data-break-snooze]").addEventListener("click", () => {
      store("snooze", Date.now() + SNOOZE_MS);
      dialog.close();
    });
    ["keydown", "pointerdown", "wheel"].forEach((name) =>
      document.addEventListener(name, touch, { passive: true }));
    touch();
    window.setInterval(check, 15 * 1000);
    check();
  }

  // ------------------------------------------------------------ forms sent to the API
  const FLASH = "lanterne.flash";

  function formPayload(form) {
    const payload = {};
    Array.from(form.elements).forEach((el) => {
      if (!el.name || el.name === "csrf" || el.disabled || el.type === "submit" ||
          el.type === "button") {
        return;
      }
      if (el.type === "checkbox") {
        payload[el.name] = el.checked;
      } else if (el.type === "number") {
        payload[el.name] = el.value === "" ? null : Number(el.value);
      } else {
        payload[el.name] = el.value;
      }
    });
    return payload;
  }

  function bindApiForms() {
    document.querySelectorAll("form[data-api]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
          return;
        }
        const button = form.querySelector("[type=submit]");
        if (button) {
          button.disabled = true;
        }
        try {
          await send(form.dataset.method || "POST", form.dataset.api, formPayload(form));
          window.sessionStorage.setItem(FLASH, form.dataset.done || "Saved.");
          window.location.reload();
        } catch (error) {
          toast(error.message, true);
          if (button) {
            button.disabled = false;
          }
        }
      });
    });
    const flash = window.sessionStorage.getItem(FLASH);
    if (flash) {
      window.sessionStorage.removeItem(FLASH);
      toast(flash);
    }
  }

  // ------------------------------------------------------------ small conveniences
  function bindAutoSubmit() {
    document.querySelectorAll("[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form && select.form.submit());
    });
    document.querySelectorAll("form[data-confirm]:not([data-api])").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    bindRevealScopes();
    bindAutoSubmit();
    bindApiForms();
    breakReminder();
  });

  return { csrf, post, send, getJSON, toast, reveal, shield, shieldAll };
})();
