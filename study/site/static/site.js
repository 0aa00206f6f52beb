// The index's search box: hide the concepts whose key, title and chapter do not contain every word typed.
(function () {
  "use strict";
  var box = document.getElementById("search");
  if (!box) { return; }
  var items = Array.prototype.slice.call(document.querySelectorAll("li.concept"));
  var count = document.getElementById("count");
  var none = document.getElementById("nomatch");
  function filter() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (li) {
      var text = li.getAttribute("data-search");
      var keep = words.every(function (w) { return text.indexOf(w) !== -1; });
      li.hidden = !keep;
      if (keep) { shown += 1; }
    });
    document.querySelectorAll("section.chapter").forEach(function (sec) {
      sec.hidden = sec.querySelector("li.concept:not([hidden])") === null;
    });
    count.textContent = shown + " of " + items.length + " concepts";
    none.hidden = shown !== 0;
  }
  box.addEventListener("input", filter);
  filter();
}());
