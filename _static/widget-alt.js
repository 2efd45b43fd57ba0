// Give each ipywidgets Image frame a text alternative. The html-manager renders <img> without alt,
// so copy the widget's tooltip (its title attribute, which companion.widgets sets to the frame's
// control values) into alt as frames appear or change.
(function () {
  function label() {
    document.querySelectorAll("img.widget-image").forEach(function (img) {
      var text = img.getAttribute("title") || "interactive figure frame";
      if (img.getAttribute("alt") !== text) img.setAttribute("alt", text);
    });
  }
  new MutationObserver(label).observe(document.documentElement,
    { childList: true, subtree: true, attributes: true, attributeFilter: ["title"] });
})();
