/* A table wider than the screen scrolls inside its box (page.css): say so. The box
   gets "nq21-wide" (a line above the table: swipe sideways; its right edge fades)
   and, once scrolled to its end, "nq21-end" (no fade). No network, no library. */
(function () {
  function mark(box) {
    var wide = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("nq21-wide", wide);
    box.classList.toggle("nq21-end", !wide || box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
  }
  function markAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".nq21-scroll"), mark);
  }
  document.addEventListener("scroll", function (event) {
    var box = event.target;
    if (box.classList && box.classList.contains("nq21-scroll")) mark(box);
  }, true);
  window.addEventListener("resize", markAll);
  window.addEventListener("load", markAll);
  if (document.readyState !== "loading") markAll();
  else document.addEventListener("DOMContentLoaded", markAll);
})();
