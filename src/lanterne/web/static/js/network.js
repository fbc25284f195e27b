/* Lanterne web review: an interactive network (Cytoscape.js) around one node.
 *
 * <div class="network" data-network-url="/api/network" data-center="suspect:3"></div>
 * The elements come as JSON from the server (lanterne.network.graph.cytoscape_elements):
 * nodes carry kind and label, edges kind. Tapping a node re-centres the graph on it.
 */
"use strict";

(() => {
  const COLOURS = {
    suspect: "#b22222", person: "#23527c", group: "#6b4fa0",
    identifier: "#888888", item: "#2e7d32", content: "#c77700",
  };

  function style() {
    const nodeColour = (node) => COLOURS[node.data("kind")] || "#5d6673";
    return [
      {
        selector: "node",
        style: {
          "background-color": nodeColour,
          "label": "data(label)",
          "font-size": 9,
          "text-wrap": "ellipsis",
          "text-max-width": 110,
          "width": 18,
          "height": 18,
        },
      },
      { selector: "node[depth = 0]", style: { "width": 30, "height": 30, "border-width": 3, "border-color": "#f0a020" } },
      { selector: "edge", style: { "width": 1.2, "line-color": "#b8c0cc", "curve-style": "haystack" } },
      { selector: "edge[kind = \"same-content\"], edge[kind = \"same-group\"], edge[kind = \"contact\"]", style: { "line-color": "#b22222", "width": 2.5 } },
      { selector: ":selected", style: { "border-width": 3, "border-color": "#f0a020" } },
    ];
  }

  async function load(box, node) {
    const status = box.parentElement.querySelector("[data-network-status]");
    const url = new URL(box.dataset.networkUrl, window.location.href);
    if (node) {
      url.searchParams.set("center", node);
    }
    let elements;
    try {
      elements = await Lanterne.getJSON(url.toString());
    } catch (error) {
      if (status) {
        status.textContent = `The network is not available: ${error.message}`;
      }
      return;
    }
    if (!Array.isArray(elements)) {
      elements = elements.elements || [];
    }
    if (status) {
      const nodes = elements.filter((e) => e.group === "nodes").length;
      status.textContent = `${nodes} nodes, ${elements.length - nodes} links. Tap a node to centre on it.`;
    }
    if (box.cy) {
      box.cy.destroy();
    }
    const cy = cytoscape({
      container: box,
      elements,
      style: style(),
      layout: { name: "cose", animate: false, randomize: false, nodeRepulsion: 8000 },
    });
    cy.on("tap", "node", (event) => load(box, event.target.id()));
    box.cy = cy;
    box.dataset.loaded = String(elements.length);
  }

  // Cytoscape.js adds a <style> element to the page unless one with this id exists; the CSP
  // refuses inline styles, so a placeholder takes its place and lanterne.css holds its rule.
  function stylesheetPlaceholder() {
    const id = "__________cytoscape_stylesheet";
    if (!document.getElementById(id)) {
      const placeholder = document.createElement("meta");
      placeholder.id = id;
      document.head.appendChild(placeholder);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    stylesheetPlaceholder();
    document.querySelectorAll("[data-network-url]").forEach((box) => {
      if (typeof cytoscape === "undefined") {
        box.textContent = "The network view is not available (Cytoscape.js did not load).";
        return;
      }
      load(box, box.dataset.center || "");
    });
  });
})();
