// Small glue around htmx: error notices, the passage dialog, upload progress.
(function () {
  // Let htmx swap the 409 conflict panel (the writer's text comes back in it); other errors
  // are shown as a notice instead of replacing the page.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "409", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  function notice(text) {
    var toast = document.getElementById("toast");
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { toast.hidden = true; }, 8000);
  }
  window.kbNotice = notice;

  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    notice(xhr.responseText && xhr.responseText.length < 500 ? xhr.responseText
      : "เกิดข้อผิดพลาด (" + xhr.status + ")");
  });
  document.addEventListener("htmx:sendError", function () {
    notice("ติดต่อเซิร์ฟเวอร์ไม่ได้ กรุณาลองใหม่");
  });

  // Accepting or rejecting evidence replaces the whole card (outerHTML), and the focused button
  // goes with it: the browser would drop keyboard focus to the top of the page. Focus goes to the
  // new card instead, so the next Tab continues from the card just decided. Only when focus was
  // on that card (or nowhere): a user who moved on meanwhile is not pulled back.
  var refocusCard = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target, active = document.activeElement;
    refocusCard = target && target.classList && target.classList.contains("evidence-card")
      && (!active || active === document.body || target.contains(active)) ? target.id : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var card = refocusCard && document.getElementById(refocusCard);
    refocusCard = null;
    if (card) card.focus({ preventScroll: true });
  });

  // Citation chips and evidence cards load the source preview into the dialog, then open it
  // (showModal moves focus into the dialog and Esc closes it, returning focus to the opener).
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "passage-body") {
      var dialog = document.getElementById("passage-dialog");
      if (!dialog.open) dialog.showModal();
      dialog.scrollTop = 0;
    }
  });
  // A click on an evidence card's passage opens it in its file, as its button does (the button is
  // the keyboard's way in; selecting text in the passage is left alone).
  document.addEventListener("click", function (e) {
    var passage = e.target.closest && e.target.closest(".evidence-card .passage");
    if (!passage || (window.getSelection && String(window.getSelection()))) return;
    var button = passage.parentElement.querySelector("button.open-source");
    if (button) button.click();
  });

  // Upload check, before anything is sent: files the server would refuse (over the count, the
  // size, of a type it does not read, empty) are listed by name and left out of the request,
  // so they cost no bandwidth and cannot push the request over its size cap. The server
  // checks every file again.
  function sizeText(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1).replace(/\.0$/, "") + " MB" : Math.max(1, Math.round(n / 1024)) + " KB";
  }
  function uploadCheck(form) {
    var input = form.querySelector("input[type=file]");
    var maxFiles = +form.dataset.maxFiles, maxBytes = +form.dataset.maxBytes;
    var types = (input.accept || "").split(",");
    var keep = [], refused = [];
    Array.prototype.forEach.call(input.files, function (f, i) {
      var dot = f.name.lastIndexOf("."), ext = dot > 0 ? f.name.slice(dot).toLowerCase() : "";
      var why = i >= maxFiles ? "อัปโหลดได้ครั้งละไม่เกิน " + maxFiles + " ไฟล์ (ไฟล์นี้เป็นลำดับที่ " + (i + 1) + ") กรุณาอัปโหลดในรอบถัดไป"
        : types.indexOf(ext) < 0 ? "ไม่รองรับชนิดไฟล์ " + (ext || "ที่ไม่มีนามสกุล")
        : f.size === 0 ? "เป็นไฟล์ว่าง (0 ไบต์)"
        : f.size > maxBytes ? "มีขนาด " + sizeText(f.size) + " เกินขีดจำกัด " + sizeText(maxBytes) + " ต่อไฟล์"
        : null;
      if (why) { refused.push("ไฟล์ " + f.name + ": " + why + " จะไม่ถูกส่ง"); } else { keep.push(f); }
    });
    return { keep: keep, refused: refused };
  }
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest("#upload-form");
    var list = document.getElementById("upload-check");
    if (!form || !list) return;
    var check = uploadCheck(form);
    list.replaceChildren.apply(list, check.refused.map(function (text) {
      var li = document.createElement("li");
      li.className = "err";
      li.textContent = text;
      return li;
    }));
    list.hidden = check.refused.length === 0;
  });
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.elt.id !== "upload-form") return;
    var check = uploadCheck(e.detail.elt);
    if (!check.keep.length) {
      e.preventDefault();
      notice("ไม่มีไฟล์ที่อัปโหลดได้ในที่เลือกไว้ (ดูเหตุผลใต้ช่องเลือกไฟล์)");
      return;
    }
    e.detail.formData.delete("files");
    check.keep.forEach(function (f) { e.detail.formData.append("files", f); });
  });

  // Upload progress: htmx reports the XHR's upload events.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var bar = e.target.querySelector && e.target.querySelector("progress.upload-progress");
    if (bar && e.detail.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round(e.detail.loaded / e.detail.total * 100);
    }
  });
})();
