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

  // Citation chips load the passage into the dialog, then open it.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "passage-body") {
      document.getElementById("passage-dialog").showModal();
    }
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
