// Give each ipywidgets Image frame a text alternative. The html-manager renders <img> without alt
// (and an Image tooltip breaks its view), so name each frame after its explorer's title, the bold
// HTML line at the top of every companion.widgets explorer, as frames appear.
(function () {
  function label() {
    document.querySelectorAll("img.widget-image:not([alt])").forEach(function (img) {
      var box = img.closest(".widget-vbox"), title = box && box.querySelector(".widget-html");
      var name = title ? title.textContent.trim() : "interactive figure";
      img.setAttribute("alt", name + ": one frame of the interactive explorer");
    });
  }
  new MutationObserver(label).observe(document.documentElement, { childList: true, subtree: true });
})();
